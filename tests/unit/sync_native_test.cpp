// The native sync backend: mutual exclusion, rwlock sharing, work queue
// cancel and flush, lock-held checks.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "sync/sync.h"

namespace z3fh::sync {
namespace {

// Deliberate misuse and try-lock patterns the static analysis cannot follow.
void unlock_unheld(SpinLock& l) Z3FH_TSA_ESCAPE("test: deliberate misuse") { l.unlock(); }
bool try_then_unlock(SpinLock& l) Z3FH_TSA_ESCAPE("test: conditional acquire") {
    if (!l.try_lock()) return false;
    l.unlock();
    return true;
}
void two_readers(RwLock& rw) Z3FH_TSA_ESCAPE("test: shared acquire twice") {
    rw.read_lock();
    rw.read_lock();
    rw.read_unlock();
    rw.read_unlock();
}

TEST(NativeSync, SpinLockExcludes) {
    SpinLock l;
    l.init({ObjClass::pool_lock, 0});
    long counter = 0;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([&] {
            for (int i = 0; i < 20000; i++) {
                l.lock();
                counter++;
                l.unlock();
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(counter, 80000);
}

TEST(NativeSync, TryLockFailsWhileHeld) {
    SpinLock l;
    l.init({ObjClass::page_lock, 1});
    l.lock();
    EXPECT_TRUE(l.held_by_me());
    std::thread([&] { EXPECT_FALSE(try_then_unlock(l)); }).join();
    l.unlock();
    EXPECT_TRUE(try_then_unlock(l));
}

TEST(NativeSyncDeathTest, UnlockOfALockNotHeldIsReported) {
    SpinLock l;
    l.init({ObjClass::pool_lock, 0});
    EXPECT_DEATH(unlock_unheld(l), "lock-not-held");
}

TEST(NativeSyncDeathTest, AssertHeldFires) {
    SpinLock l;
    l.init({ObjClass::pool_lock, 0});
    EXPECT_DEATH(l.assert_held(), "pool lock must be held");
}

TEST(NativeSync, RwLockReadersShareWritersExclude) {
    RwLock rw;
    rw.init({ObjClass::slots_lock, 1});
    two_readers(rw);
    long v = 0;
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; t++)
        ts.emplace_back([&] {
            for (int i = 0; i < 10000; i++) {
                rw.write_lock();
                v++;
                rw.write_unlock();
            }
        });
    for (auto& t : ts) t.join();
    EXPECT_EQ(v, 40000);
}

struct Counted {
    WorkItem w;
    std::atomic<int>* n;
};

TEST(NativeSync, WorkQueueRunsFlushesAndCancels) {
    std::atomic<int> n{0};
    WorkQueue q({ObjClass::work_queue, 0});
    Counted a{{}, &n};
    a.w.init([](WorkItem* w) { reinterpret_cast<Counted*>(w)->n->fetch_add(1); });
    EXPECT_TRUE(q.queue(&a.w, 0));
    q.flush();
    EXPECT_EQ(n.load(), 1);
    EXPECT_TRUE(q.queue(&a.w, 0));
    q.cancel_sync(&a.w);
    q.flush();
    EXPECT_LE(n.load(), 2);
    EXPECT_FALSE(q.is_pending(&a.w));
}

TEST(NativeSync, QueueingAPendingItemIsANoOp) {
    std::atomic<int> n{0};
    WorkQueue q({ObjClass::work_queue, 0});
    SpinLock gate;
    gate.init({ObjClass::none, 0});
    Counted a{{}, &n};
    a.w.init([](WorkItem* w) { reinterpret_cast<Counted*>(w)->n->fetch_add(1); });
    int queued = 0;
    for (int i = 0; i < 100; i++) queued += q.queue(&a.w, 0);
    q.flush();
    EXPECT_EQ(n.load(), queued);
    EXPECT_LT(queued, 100 + 1);
}

TEST(NativeSync, VcpuIsPerThread) {
    set_current_vcpu(1);
    int other = -1;
    std::thread([&] { other = current_vcpu(); }).join();
    EXPECT_EQ(current_vcpu(), 1);
    EXPECT_EQ(other, 0);
    set_current_vcpu(0);
}

// Lock validation with real threads: one thread takes pool lock then page
// lock, another the opposite order later; no deadlock happens, the order
// graph (kept across threads, as lockdep's) reports the cycle.
void take_nested(SpinLock& outer, SpinLock& inner) Z3FH_TSA_ESCAPE("test: nested acquire") {
    outer.lock();
    inner.lock();
    inner.unlock();
    outer.unlock();
}

TEST(NativeLockValidationDeathTest, OppositeOrdersOnTwoThreadsAreReported) {
    SpinLock pool, page;
    pool.init({ObjClass::pool_lock, 0});
    page.init({ObjClass::page_lock, 2});
    EXPECT_DEATH(
        {
            set_lock_validation(true);
            std::thread([&] { take_nested(pool, page); }).join();
            take_nested(page, pool);
        },
        "lock-order: possible circular locking dependency: T[0-9]+ takes pool lock 0 .* while holding page lock 2");
}

// The same order on two threads is silent (this process lives on), and it
// was recorded: the opposite order afterwards is the finding.
TEST(NativeLockValidationDeathTest, OneOrderOnTwoThreadsIsSilentButRecorded) {
    SpinLock pool, page;
    pool.init({ObjClass::pool_lock, 0});
    page.init({ObjClass::page_lock, 2});
    set_lock_validation(true);
    std::thread([&] { take_nested(pool, page); }).join();
    take_nested(pool, page);
    EXPECT_DEATH(take_nested(page, pool),
                 "lock-order: possible circular locking dependency: T[0-9]+ takes pool lock 0 .* while holding page lock 2");
    set_lock_validation(false);
}

void resched_holding(SpinLock& l) Z3FH_TSA_ESCAPE("test: deliberate misuse") {
    l.lock();
    might_sleep("cond_resched");
    l.unlock();
}

TEST(NativeLockValidationDeathTest, MightSleepUnderASpinlockIsReported) {
    SpinLock l;
    l.init({ObjClass::stale_lock, 0});
    EXPECT_DEATH(
        {
            set_lock_validation(true);
            resched_holding(l);
        },
        "might-sleep: BUG: sleeping function called from invalid context: cond_resched with 1 spinning lock\\(s\\) "
        "held, innermost stale lock 0");
}

}  // namespace
}  // namespace z3fh::sync
