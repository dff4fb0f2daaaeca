// z3fold-harden: the native sync backend: real threads, std::atomic, spinning
// locks and a std::thread per work queue. Selected unless Z3FH_SYNC_CONTROLLED.
#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "report.h"
#include "sync/annotations.h"
#include "sync/event.h"
#include "sync/work_item.h"

namespace z3fh::sync {

// A small integer naming the calling OS thread, for lock-owner checks.
int self_token();
void cpu_pause();

// Lock validation with real threads, for tests: off by default, so the
// native locks cost one relaxed load more in production and benchmarks. On,
// every SpinLock and RwLock acquisition is checked against one process-wide
// lock-order graph (sync/lock_order.h: the rule the controlled runtime
// checks per run) and kept in the thread's held set, which might_sleep()
// checks.
void set_lock_validation(bool on);
namespace detail {
extern std::atomic<bool> g_lock_validation;
}
inline bool lock_validation_on() { return detail::g_lock_validation.load(std::memory_order_relaxed); }
void validate_acquire(const void* lock, ObjectId id, SrcLoc loc, bool trylock);
void validate_release(const void* lock);

class Z3FH_CAPABILITY("spinlock") SpinLock {
public:
    void init(ObjectId id) {
        id_ = id;
        state_.store(0, std::memory_order_relaxed);
        owner_.store(-1, std::memory_order_relaxed);
    }
    void lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE() {
        for (int spins = 0;; ++spins) {
            if (state_.load(std::memory_order_relaxed) == 0 &&
                state_.exchange(1, std::memory_order_acquire) == 0)
                break;
            if (spins > 64) std::this_thread::yield(); else cpu_pause();
        }
        owner_.store(self_token(), std::memory_order_relaxed);
        if (lock_validation_on()) validate_acquire(this, id_, loc, false);
    }
    bool try_lock(SrcLoc loc = SrcLoc::here()) Z3FH_TRY_ACQUIRE(true) {
        if (state_.load(std::memory_order_relaxed) != 0 ||
            state_.exchange(1, std::memory_order_acquire) != 0)
            return false;
        owner_.store(self_token(), std::memory_order_relaxed);
        if (lock_validation_on()) validate_acquire(this, id_, loc, true);
        return true;
    }
    void unlock(SrcLoc loc = SrcLoc::here()) Z3FH_RELEASE() {
        if (owner_.load(std::memory_order_relaxed) != self_token())
            report_fatal(ErrorKind::lock_not_held, loc,
                         std::string("unlock of a ") + obj_class_name(id_.cls) + " not held by this thread");
        if (lock_validation_on()) validate_release(this);
        owner_.store(-1, std::memory_order_relaxed);
        state_.store(0, std::memory_order_release);
    }
    bool held_by_me() const { return owner_.load(std::memory_order_relaxed) == self_token(); }
    bool is_locked() const { return state_.load(std::memory_order_relaxed) != 0; }
    void assert_held(SrcLoc loc = SrcLoc::here()) const Z3FH_ASSERT_CAPABILITY(this) {
        if (!held_by_me())
            report_fatal(ErrorKind::lock_not_held, loc,
                         std::string(obj_class_name(id_.cls)) + " must be held here");
    }
    ObjectId id() const { return id_; }

private:
    std::atomic<int> state_{0};
    std::atomic<int> owner_{-1};
    ObjectId id_{};
};

class Z3FH_CAPABILITY("rwlock") RwLock {
public:
    void init(ObjectId id) {
        id_ = id;
        state_.store(0, std::memory_order_relaxed);
    }
    void read_lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE_SHARED() {
        for (int spins = 0;; ++spins) {
            int s = state_.load(std::memory_order_relaxed);
            if (!(s & kWriter) && state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) break;
            if (spins > 64) std::this_thread::yield(); else cpu_pause();
        }
        if (lock_validation_on()) validate_acquire(this, id_, loc, false);
    }
    void read_unlock(SrcLoc = SrcLoc::here()) Z3FH_RELEASE_SHARED() {
        if (lock_validation_on()) validate_release(this);
        state_.fetch_sub(1, std::memory_order_release);
    }
    void write_lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE() {
        for (int spins = 0;; ++spins) {
            int expected = 0;
            if (state_.compare_exchange_weak(expected, kWriter, std::memory_order_acquire)) break;
            if (spins > 64) std::this_thread::yield(); else cpu_pause();
        }
        if (lock_validation_on()) validate_acquire(this, id_, loc, false);
    }
    void write_unlock(SrcLoc = SrcLoc::here()) Z3FH_RELEASE() {
        if (lock_validation_on()) validate_release(this);
        state_.store(0, std::memory_order_release);
    }
    ObjectId id() const { return id_; }

private:
    static constexpr int kWriter = 1 << 30;
    std::atomic<int> state_{0};
    ObjectId id_{};
};

template <typename T>
class Atomic {
public:
    void init(T v, ObjectId id) {
        v_.store(v, std::memory_order_relaxed);
        id_ = id;
    }
    T load(SrcLoc = SrcLoc::here()) const { return v_.load(); }
    void store(T v, SrcLoc = SrcLoc::here()) { v_.store(v); }
    T fetch_add(T d, SrcLoc = SrcLoc::here()) { return v_.fetch_add(d); }
    T fetch_sub(T d, SrcLoc = SrcLoc::here()) { return v_.fetch_sub(d); }
    bool compare_exchange(T& expected, T desired, SrcLoc = SrcLoc::here()) {
        return v_.compare_exchange_strong(expected, desired);
    }
    ObjectId id() const { return id_; }
    // Introspection read: never a scheduling point.
    T peek() const { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<T> v_{};
    ObjectId id_{};
};

// Bit operations on a flag word (page->private): each is one atomic RMW.
class FlagWord {
public:
    void init(unsigned long v, ObjectId id) {
        w_.store(v, std::memory_order_relaxed);
        id_ = id;
    }
    bool test(int bit, SrcLoc = SrcLoc::here()) const { return (w_.load() >> bit) & 1UL; }
    void set(int bit, SrcLoc = SrcLoc::here()) { w_.fetch_or(1UL << bit); }
    void clear(int bit, SrcLoc = SrcLoc::here()) { w_.fetch_and(~(1UL << bit)); }
    bool test_and_set(int bit, SrcLoc = SrcLoc::here()) { return (w_.fetch_or(1UL << bit) >> bit) & 1UL; }
    bool test_and_clear(int bit, SrcLoc = SrcLoc::here()) { return (w_.fetch_and(~(1UL << bit)) >> bit) & 1UL; }
    unsigned long load_all(SrcLoc = SrcLoc::here()) const { return w_.load(); }
    void store_all(unsigned long v, SrcLoc = SrcLoc::here()) { w_.store(v); }
    ObjectId id() const { return id_; }
    unsigned long peek() const { return w_.load(std::memory_order_relaxed); }

private:
    std::atomic<unsigned long> w_{0};
    ObjectId id_{};
};

// Hides bookkeeping from TSan in the controlled backend; nothing here.
struct TsanHidden {
    TsanHidden() {}  // user-provided: a guard object, never "unused"
};

// A lock for the allocator's own bookkeeping (page and slot registries) that
// is never a scheduling point: it guards no z3fold state.
class Z3FH_CAPABILITY("rawlock") RawLock {
public:
    void lock() Z3FH_ACQUIRE() { m_.lock(); }
    void unlock() Z3FH_RELEASE() { m_.unlock(); }

private:
    std::mutex m_;
};

// A single-threaded work queue (create_singlethread_workqueue) with its own worker.
class WorkQueue {
public:
    explicit WorkQueue(ObjectId id);
    ~WorkQueue();
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    // queue_work_on: false if the item was already pending.
    bool queue(WorkItem* w, int vcpu, SrcLoc loc = SrcLoc::here());
    // cancel_work_sync: dequeue if pending, wait if running; true if it was pending.
    bool cancel_sync(WorkItem* w, SrcLoc loc = SrcLoc::here());
    bool is_pending(const WorkItem* w) const;
    // Wait until the queue is empty and the worker idle (drain_workqueue).
    void flush();

private:
    void worker_main();

    mutable std::mutex m_;
    std::condition_variable cv_;
    std::condition_variable done_cv_;
    WorkList items_;
    WorkItem* running_ = nullptr;
    bool stopping_ = false;
    ObjectId id_;
    std::thread worker_;
};

int current_vcpu();
void set_current_vcpu(int vcpu);
inline void cpu_relax(SrcLoc = SrcLoc::here()) { std::this_thread::yield(); }
// With lock validation on: a call that may block with a spinning lock held
// (the thread's held set) is a finding, as in the controlled build.
void might_sleep(const char* what, SrcLoc loc = SrcLoc::here());
inline void cond_resched(SrcLoc = SrcLoc::here()) { std::this_thread::yield(); }
inline void op_boundary(Event, ObjectId, SrcLoc = SrcLoc::here()) {}
inline void shared_write(const void*) {}

}  // namespace z3fh::sync
