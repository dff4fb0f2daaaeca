// z3fold-harden tests: a pool with a test page source and helpers to fill,
// check and resolve objects.
#pragma once
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "introspect.h"
#include "pool.h"

namespace z3fh::test {

// Heap frames in every build: fault injection and the live registry are the same.
class TestPageSource final : public PageSource {
protected:
    void* alloc_frame() override { return std::aligned_alloc(2 * PAGE_SIZE, 2 * PAGE_SIZE); }
    void free_frame(void* f) override { std::free(f); }
};

// Pools a test corrupted on purpose cannot be torn down; they are kept
// reachable here until exit, so LeakSanitizer does not call them leaks.
template <typename T>
void keep_until_exit(std::unique_ptr<T> p) {
    static auto* graveyard = new std::vector<std::shared_ptr<void>>();
    graveyard->push_back(std::shared_ptr<void>(p.release(), [](void*) {}));
}

struct TestPool {
    explicit TestPool(int vcpus = 2, EvictFn evict = nullptr, void* ctx = nullptr)
        : src(std::make_unique<TestPageSource>()),
          pool(std::make_unique<Pool>(PoolConfig{vcpus, src.get(), evict, ctx})) {}
    ~TestPool() { pool.reset(); }
    // After deliberate corruption: never destroy, never report as a leak.
    void abandon() {
        keep_until_exit(std::move(pool));
        keep_until_exit(std::move(src));
    }
    std::unique_ptr<TestPageSource> src;
    std::unique_ptr<Pool> pool;

    Pool* operator->() { return pool.get(); }
    Pool& operator*() { return *pool; }

    Handle alloc_ok(size_t size) {
        AllocResult r = pool->alloc(size);
        EXPECT_EQ(r.err, Errno::ok) << "alloc(" << size << ")";
        return r.handle;
    }
    // Fill an object with a pattern derived from `seed`.
    void fill(Handle h, size_t size, uint8_t seed) {
        auto* p = static_cast<uint8_t*>(pool->map(h));
        for (size_t i = 0; i < size; i++) p[i] = static_cast<uint8_t>(seed + i * 7);
        pool->unmap(h);
    }
    bool verify(Handle h, size_t size, uint8_t seed) {
        auto* p = static_cast<uint8_t*>(pool->map(h));
        bool ok = true;
        for (size_t i = 0; i < size && ok; i++) ok = p[i] == static_cast<uint8_t>(seed + i * 7);
        pool->unmap(h);
        return ok;
    }
    uint32_t page_of(Handle h) {
        uint32_t serial = 0;
        Buddy b;
        size_t off;
        EXPECT_TRUE(PoolInspector::resolve(*pool, h, &serial, &b, &off));
        return serial;
    }
    Buddy buddy_of(Handle h) {
        uint32_t serial = 0;
        Buddy b = Buddy::HEADLESS;
        size_t off;
        EXPECT_TRUE(PoolInspector::resolve(*pool, h, &serial, &b, &off));
        return b;
    }
    PoolSnapshot snap() {
        pool->drain();
        return PoolInspector::snapshot(*pool);
    }
    void expect_valid() {
        auto v = PoolInspector::validate(*pool);
        for (auto& x : v) ADD_FAILURE() << x.id << ": " << x.message;
    }
};

}  // namespace z3fh::test
