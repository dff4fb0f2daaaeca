// Native threads doing random operations with contents verified: clean under
// ASan and TSan. Deterministic per thread (seeded), not in interleaving.
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "sync/sync.h"
#include "test_pool.h"

namespace z3fh::test {
namespace {

struct Obj {
    Handle h = 0;
    size_t size = 0;
    uint8_t seed = 0;
};

int evict_never(Pool&, Handle, void*) { return -1; }

void random_operations_on_four_threads() {
    TestPool p(2, evict_never, nullptr);
    constexpr int kThreads = 4;
    constexpr int kOps = 3000;
    std::atomic<int> failures{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; t++) {
        ts.emplace_back([&, t] {
            sync::set_current_vcpu(t % 2);
            std::mt19937 rng(1234 + t);
            std::vector<Obj> mine;
            for (int i = 0; i < kOps; i++) {
                unsigned r = rng() % 100;
                if (r < 45 || mine.empty()) {
                    size_t size = (rng() % 8 == 0) ? PAGE_SIZE - (rng() % 64) : 1 + rng() % 2000;
                    AllocResult a = p->alloc(size);
                    if (a.err != Errno::ok) continue;
                    Obj o{a.handle, size, static_cast<uint8_t>(rng())};
                    p.fill(o.h, o.size, o.seed);
                    mine.push_back(o);
                } else if (r < 80) {
                    size_t k = rng() % mine.size();
                    if (!p.verify(mine[k].h, mine[k].size, mine[k].seed)) {
                        failures++;
                        fprintf(stderr, "FAIL size %zu headless %d op %d\n", mine[k].size, (int)handle_is_headless(mine[k].h), i);
                    }
                    p->free(mine[k].h);
                    mine[k] = mine.back();
                    mine.pop_back();
                } else if (r < 90) {
                    size_t k = rng() % mine.size();
                    if (!p.verify(mine[k].h, mine[k].size, mine[k].seed)) failures++;
                } else if (r < 95) {
                    p->compact_handle_page(mine[rng() % mine.size()].h);
                } else {
                    (void)p->migrate_handle_page(mine[rng() % mine.size()].h);
                }
            }
            for (Obj& o : mine) {
                if (!p.verify(o.h, o.size, o.seed)) failures++;
                p->free(o.h);
            }
        });
    }
    for (auto& th : ts) th.join();
    EXPECT_EQ(failures.load(), 0);
    p->drain();
    p.expect_valid();
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.snap().pages.size(), 0u);
    EXPECT_EQ(p->slots_cache().live(), 0u);
}

TEST(Stress, RandomOperationsOnFourThreads) { random_operations_on_four_threads(); }

// The same with the native backend's lock validation on: the correct
// allocator takes its lock classes in one order and never blocks under a
// spinlock on real threads too (a finding would abort the test).
TEST(Stress, RandomOperationsOnFourThreadsWithLockValidation) {
    sync::set_lock_validation(true);
    random_operations_on_four_threads();
    sync::set_lock_validation(false);
}

}  // namespace
}  // namespace z3fh::test
