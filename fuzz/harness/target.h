// z3fold-harden: the allocator under test, as the harness and the shadow
// model see it. Two implementations: the C++ port (port_target.cpp, the
// default) and the kernel's own mm/z3fold.c behind the kernel shim
// (kernel/adapter/kernel_target.cpp, in builds made with a kernel source).
// A binary links exactly one make_target(); every tool works on either.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "introspect.h"
#include "pool.h"

namespace z3fh::fuzz {

// What a handle names, read without locks while no thread runs.
struct ResolvedHandle {
    uint32_t page = 0;          // page serial
    Buddy bud = Buddy::HEADLESS;
    size_t offset = 0;          // object offset in the page
    const uint8_t* object = nullptr;
    int refcount = 0;           // the page's kref (0 for headless pages)
    uint32_t slots_serial = 0;  // the slots object the handle lives in (0: headless)
};

struct TargetCounts {
    int64_t pages_nr = 0;     // the pool's own page count
    size_t live_pages = 0;    // pages the page source has not seen freed
    size_t live_slots = 0;    // live slots objects
};

// What one scheduling step can have changed (harness: step_scope): the
// safety checks after it look at these pages only, unless `all`.
struct StepScope {
    bool all = false;
    const void* const* addresses = nullptr;  // noted stores: list nodes, pages
    size_t n_addresses = 0;
    uint32_t page_serial = 0;  // the page whose lock, kref or flags the step's operation wrote (0: none)
    // What a handle resolves to and the object it names can have changed:
    // a slots object's or a page's lock was released (slots, first_num,
    // start_middle and compaction's moves happen under them) or a kref moved.
    bool handles = false;
};

class TargetPool;
// The zpool evict callback: write back and free `handle`; 0 once freed.
using TargetEvictFn = int (*)(TargetPool& pool, Handle handle, void* ctx);

class TargetPool {
public:
    virtual ~TargetPool() = default;
    virtual const char* name() const = 0;  // "port" | "kernel"
    virtual std::string version() const { return ""; }

    // gfp.can_sleep false: the caller's gfp has no __GFP_DIRECT_RECLAIM
    // (zswap's never has), so the allocator may not block on its behalf.
    virtual AllocResult alloc(size_t size, Gfp gfp) = 0;
    virtual void free(Handle handle) = 0;
    virtual void* map(Handle handle) = 0;
    virtual void unmap(Handle handle) = 0;
    virtual Errno reclaim_page(unsigned retries) = 0;
    virtual void compact_handle_page(Handle handle) = 0;
    virtual Errno migrate_handle_page(Handle handle) = 0;
    // The mm core's own compaction round (pages found by scanning, as
    // compaction finds them, not through a handle), where the target models
    // it: false if it does not (the port). arg: bits 0-2 where the scan
    // starts, bit 3 async (never block on a page lock), bits 4-5 how many
    // pages it isolates (1, 2, 4 or 32).
    virtual bool mm_compact(uint8_t arg) {
        (void)arg;
        return false;
    }
    // zpool_get_total_size: the pool's size in bytes, as its user asks for
    // it (zswap after every free).
    virtual uint64_t total_size() = 0;
    virtual int vcpus() const = 0;
    // Main context: run queued background work to completion.
    virtual void drain() = 0;
    // Fault injection (fail_nth): the n-th page (or slots-object) allocation
    // from now fails, n >= 1.
    virtual void fail_nth(bool slots, int n) = 0;
    // Destroy the pool now, from the running (scheduled) thread, waiting for
    // its background work as the kernel's destroy does; what it left behind.
    // After this only counts() and the destructor may be called.
    virtual TargetCounts destroy_now() = 0;

    // Introspection, quiescent only.
    virtual PoolSnapshot snapshot() = 0;
    virtual void validate(std::vector<Violation>& out) = 0;
    // validate(), restricted to the pages `scope` names; false when that
    // cannot decide (a link looks wrong, or the target cannot restrict):
    // then the caller validates everything.
    virtual bool validate_scope(const StepScope&, std::vector<Violation>&) { return false; }
    virtual bool resolve(Handle handle, ResolvedHandle* out) = 0;
    virtual TargetCounts counts() = 0;
    // Every live slots object's serial, in allocation order.
    virtual std::vector<uint32_t> live_slots_objects() = 0;
};

// The port, over a pool someone else owns (tests) ...
class PortTarget final : public TargetPool {
public:
    explicit PortTarget(Pool& pool) : pool_(pool) {}
    const char* name() const override { return "port"; }
    AllocResult alloc(size_t size, Gfp gfp) override { return pool_.alloc(size, gfp); }
    void free(Handle h) override { pool_.free(h); }
    void* map(Handle h) override { return pool_.map(h); }
    void unmap(Handle h) override { pool_.unmap(h); }
    Errno reclaim_page(unsigned retries) override { return pool_.reclaim_page(retries); }
    void compact_handle_page(Handle h) override { pool_.compact_handle_page(h); }
    Errno migrate_handle_page(Handle h) override { return pool_.migrate_handle_page(h); }
    int vcpus() const override { return pool_.vcpus(); }
    uint64_t total_size() override { return pool_.total_size(); }
    void drain() override { pool_.drain(); }
    void fail_nth(bool slots, int n) override {
        sync::TsanHidden hidden;  // fault-injection bookkeeping, serialised by the scheduler
        if (slots) pool_.slots_cache().fail_nth(n);
        else pool_.page_source().fail_nth(n);
    }
    // A view cannot end the life of a pool someone else owns: it drains the
    // work and counts (the owner frees the pool).
    TargetCounts destroy_now() override {
        pool_.drain();
        return counts();
    }
    PoolSnapshot snapshot() override;
    void validate(std::vector<Violation>& out) override;
    bool validate_scope(const StepScope& scope, std::vector<Violation>& out) override;
    bool resolve(Handle h, ResolvedHandle* out) override;
    TargetCounts counts() override;
    std::vector<uint32_t> live_slots_objects() override;
    Pool& pool() { return pool_; }

private:
    Pool& pool_;
};

// ... and the build's target, owning its pool: the port, or the kernel's
// z3fold.c in a kernel build. `evict` gets this TargetPool.
std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn evict, void* ctx);
// "port" or "kernel": what make_target builds in this binary.
const char* target_name();

}  // namespace z3fh::fuzz
