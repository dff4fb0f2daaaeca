// z3fold-harden: the controlled sync backend. Every acquire, release, atomic
// and bit operation is a scheduling point handed to the ControlledRuntime
// (fuzz/sched); all scheduled threads run on one OS thread, so the state here
// needs no hardware atomics. Outside a scheduled thread (pool setup and
// teardown by the harness) operations are plain and a contended lock is fatal.
#pragma once
#include <string>

#include "report.h"
#include "sync/annotations.h"
#include "sync/event.h"
#include "sync/runtime.h"
#include "sync/work_item.h"

// UBSan's vptr check guards member calls on polymorphic objects against type
// confusion. Here every lock, unlock and atomic calls the installed runtime
// (ControlledRuntime) a few times, each call a hash lookup under the fuzzing
// presets, on a pointer only the harness sets: no check for the backend.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((no_sanitize("vptr"))), apply_to = function)
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define Z3FH_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define Z3FH_TSAN 1
#endif

#if defined(Z3FH_TSAN)
// Fibers switch with __tsan_switch_to_fiber_no_sync, so TSan sees no
// happens-before edge at a switch; these add the edges the real primitive has.
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
extern "C" void __tsan_ignore_thread_begin();
extern "C" void __tsan_ignore_thread_end();
#define Z3FH_HB_ACQUIRE(p) __tsan_acquire(const_cast<void*>(static_cast<const volatile void*>(p)))
#define Z3FH_HB_RELEASE(p) __tsan_release(const_cast<void*>(static_cast<const volatile void*>(p)))
#else
#define Z3FH_HB_ACQUIRE(p) ((void)0)
#define Z3FH_HB_RELEASE(p) ((void)0)
#endif

namespace z3fh::sync {
// The sync layer's own state (lock owners, atomic values) and the
// scheduler's and harness's bookkeeping are serialised by the scheduler, not
// by anything TSan can see. Their accesses are hidden from TSan, which then
// sees only the allocator's own accesses and the happens-before edges the
// primitives really give (Z3FH_HB_*): the races it reports are the
// allocator's.
//
// All fibers share one OS thread, so one depth counter serves them all; the
// fiber switch saves and clears it (ending TSan's ignores in the fiber that
// parks) and restores it on resume, so a parked fiber never holds ignores
// and can be destroyed cleanly (fuzz/sched/fiber.cpp).
#if defined(Z3FH_TSAN)
#define Z3FH_NO_TSAN __attribute__((no_sanitize("thread")))
#define Z3FH_HIDING_FN Z3FH_NO_TSAN inline
#else
#define Z3FH_NO_TSAN
#define Z3FH_HIDING_FN Z3FH_SYNC_INLINE  // empty without TSan: inlined away
#endif
// The counter itself is bookkeeping: its accesses are not instrumented.
Z3FH_HIDING_FN int& tsan_hidden_depth() {
    static int depth = 0;
    return depth;
}
Z3FH_HIDING_FN void tsan_hide() {
#if defined(Z3FH_TSAN)
    __tsan_ignore_thread_begin();
    ++tsan_hidden_depth();
#endif
}
Z3FH_HIDING_FN void tsan_unhide() {
#if defined(Z3FH_TSAN)
    --tsan_hidden_depth();
    __tsan_ignore_thread_end();
#endif
}
struct TsanHidden {
#if defined(Z3FH_TSAN)
    TsanHidden() { tsan_hide(); }
    ~TsanHidden() { tsan_unhide(); }
#else
    __attribute__((always_inline)) TsanHidden() {}  // user-provided: a guard object, never "unused"
#endif
    TsanHidden(const TsanHidden&) = delete;
    TsanHidden& operator=(const TsanHidden&) = delete;
};
}  // namespace z3fh::sync

namespace z3fh::sync {

// The runtime when a scheduled thread is running, else nullptr.
Z3FH_SYNC_INLINE ControlledRuntime* active_runtime() {
    ControlledRuntime* rt = runtime();
    return (rt && rt->in_thread()) ? rt : nullptr;
}

Z3FH_SYNC_INLINE int current_token() {
    ControlledRuntime* rt = active_runtime();
    return rt ? rt->current_thread() : kMainContext;
}

Z3FH_SYNC_INLINE void point(Event ev, ObjectId id, SrcLoc loc) {
    if (ControlledRuntime* rt = active_runtime()) rt->point(ev, id, loc);
}

// See ControlledRuntime::note_shared_write.
Z3FH_SYNC_INLINE void shared_write(const void* addr) {
    if (ControlledRuntime* rt = active_runtime()) {
        TsanHidden hidden;  // scheduler bookkeeping, serialised by the scheduler
        rt->note_shared_write(addr);
    }
}

[[noreturn]] void fatal_lock(ErrorKind kind, ObjectId id, SrcLoc loc, const char* what);

// A user's own hand-off of an object to another thread (a queue, a lock of
// its own): what the harness does through its slot table. Real users order
// such hand-offs; without the edge TSan would blame the allocator for it.
inline void hb_publish([[maybe_unused]] const void* p) { Z3FH_HB_RELEASE(p); }
inline void hb_consume([[maybe_unused]] const void* p) { Z3FH_HB_ACQUIRE(p); }

class Z3FH_CAPABILITY("spinlock") SpinLock {
public:
    void init(ObjectId id) {
        id_ = id;
        owner_ = kNoThread;
    }
    void lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE() {
        TsanHidden hidden;
        if (ControlledRuntime* rt = active_runtime()) {
            rt->point(Event::lock, id_, loc);
            if (owner_ == rt->current_thread()) fatal_lock(ErrorKind::check, id_, loc, "recursive acquire of");
            while (owner_ != kNoThread) rt->block(this, id_, owner_, loc);
            owner_ = rt->current_thread();
            rt->on_acquire(this, id_, loc);
        } else {
            if (owner_ != kNoThread) fatal_lock(ErrorKind::check, id_, loc, "contended (no scheduler) acquire of");
            owner_ = kMainContext;
        }
        Z3FH_HB_ACQUIRE(this);
    }
    bool try_lock(SrcLoc loc = SrcLoc::here()) Z3FH_TRY_ACQUIRE(true) {
        TsanHidden hidden;
        ControlledRuntime* rt = active_runtime();
        if (rt) rt->point(Event::trylock, id_, loc);
        if (owner_ != kNoThread) return false;
        owner_ = rt ? rt->current_thread() : kMainContext;
        if (rt) rt->on_acquire(this, id_, loc);
        Z3FH_HB_ACQUIRE(this);
        return true;
    }
    void unlock(SrcLoc loc = SrcLoc::here()) Z3FH_RELEASE() {
        TsanHidden hidden;
        ControlledRuntime* rt = active_runtime();
        if (rt) rt->point(Event::unlock, id_, loc);
        if (owner_ != current_token()) fatal_lock(ErrorKind::lock_not_held, id_, loc, "unlock of a lock not held:");
        Z3FH_HB_RELEASE(this);
        owner_ = kNoThread;
        if (rt) {
            rt->on_release(this, id_, loc);
            rt->wake(this);
        }
    }
    bool held_by_me() const {
        TsanHidden hidden; return owner_ != kNoThread && owner_ == current_token(); }
    bool is_locked() const {
        TsanHidden hidden; return owner_ != kNoThread; }
    int owner() const {
        TsanHidden hidden; return owner_; }
    void assert_held(SrcLoc loc = SrcLoc::here()) const Z3FH_ASSERT_CAPABILITY(this) {
        if (!held_by_me()) fatal_lock(ErrorKind::lock_not_held, id_, loc, "must be held here:");
    }
    ObjectId id() const { return id_; }

private:
    int owner_ = kNoThread;
    ObjectId id_{};
};

class Z3FH_CAPABILITY("rwlock") RwLock {
public:
    void init(ObjectId id) {
        id_ = id;
        writer_ = kNoThread;
        readers_ = 0;
        waiting_ = writers_waiting_ = 0;
    }
    // The kernel's qrwlock: a reader waits while a writer holds the lock or
    // waits for it (so a writer is not starved, and a recursive read_lock
    // with a writer waiting deadlocks, as in the kernel).
    void read_lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE_SHARED() {
        TsanHidden hidden;
        if (ControlledRuntime* rt = active_runtime()) {
            rt->point(Event::read_lock, id_, loc);
            while (writer_ != kNoThread || writers_waiting_ > 0) {
                ++waiting_;
                rt->block(this, id_, writer_, loc);
                --waiting_;
            }
            rt->on_acquire(this, id_, loc);
        } else if (writer_ != kNoThread) {
            fatal_lock(ErrorKind::check, id_, loc, "contended (no scheduler) read_lock of");
        }
        ++readers_;
        Z3FH_HB_ACQUIRE(this);
    }
    void read_unlock(SrcLoc loc = SrcLoc::here()) Z3FH_RELEASE_SHARED() {
        TsanHidden hidden;
        ControlledRuntime* rt = active_runtime();
        if (rt) rt->point(Event::read_unlock, id_, loc);
        if (readers_ <= 0) fatal_lock(ErrorKind::lock_not_held, id_, loc, "read_unlock of a lock not read-held:");
        Z3FH_HB_RELEASE(this);
        --readers_;
        if (rt) {
            rt->on_release(this, id_, loc);
            if (readers_ == 0) rt->wake(this);
        }
    }
    void write_lock(SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE() {
        TsanHidden hidden;
        if (ControlledRuntime* rt = active_runtime()) {
            rt->point(Event::write_lock, id_, loc);
            while (writer_ != kNoThread || readers_ > 0) {
                ++waiting_;
                ++writers_waiting_;
                rt->block(this, id_, writer_, loc);
                --writers_waiting_;
                --waiting_;
            }
            writer_ = rt->current_thread();
            rt->on_acquire(this, id_, loc);
        } else {
            if (writer_ != kNoThread || readers_ > 0)
                fatal_lock(ErrorKind::check, id_, loc, "contended (no scheduler) write_lock of");
            writer_ = kMainContext;
        }
        Z3FH_HB_ACQUIRE(this);
    }
    void write_unlock(SrcLoc loc = SrcLoc::here()) Z3FH_RELEASE() {
        TsanHidden hidden;
        ControlledRuntime* rt = active_runtime();
        if (rt) rt->point(Event::write_unlock, id_, loc);
        if (writer_ != current_token()) fatal_lock(ErrorKind::lock_not_held, id_, loc, "write_unlock of a lock not held:");
        Z3FH_HB_RELEASE(this);
        writer_ = kNoThread;
        if (rt) {
            rt->on_release(this, id_, loc);
            rt->wake(this);
        }
    }
    ObjectId id() const { return id_; }
    // qrwlock's rwlock_is_contended: someone waits for it (holds its wait lock).
    bool contended() const { return waiting_ > 0; }

private:
    // Kept to 16 bytes with the id: the port's slots object holds one (64).
    int writer_ = kNoThread;
    int16_t readers_ = 0;
    uint8_t waiting_ = 0;          // readers and writers blocked on it
    uint8_t writers_waiting_ = 0;  // of which writers
    ObjectId id_{};
};

template <typename T>
class Atomic {
public:
    void init(T v, ObjectId id) {
        v_ = v;
        id_ = id;
    }
    T load(SrcLoc loc = SrcLoc::here()) const {
        TsanHidden hidden;
        point(Event::atomic_load, id_, loc);
        Z3FH_HB_ACQUIRE(&v_);
        return v_;
    }
    void store(T v, SrcLoc loc = SrcLoc::here()) {
        TsanHidden hidden;
        point(Event::atomic_store, id_, loc);
        Z3FH_HB_ACQUIRE(&v_);
        v_ = v;
        Z3FH_HB_RELEASE(&v_);
    }
    T fetch_add(T d, SrcLoc loc = SrcLoc::here()) { return rmw(loc, [&](T& x) { x = static_cast<T>(x + d); }); }
    T fetch_sub(T d, SrcLoc loc = SrcLoc::here()) { return rmw(loc, [&](T& x) { x = static_cast<T>(x - d); }); }
    bool compare_exchange(T& expected, T desired, SrcLoc loc = SrcLoc::here()) {
        TsanHidden hidden;
        point(Event::atomic_rmw, id_, loc);
        Z3FH_HB_ACQUIRE(&v_);
        bool ok = v_ == expected;
        if (ok) v_ = desired; else expected = v_;
        Z3FH_HB_RELEASE(&v_);
        return ok;
    }
    ObjectId id() const { return id_; }
    // Introspection read: never a scheduling point.
    T peek() const {
        TsanHidden hidden; return v_; }

private:
    template <typename F>
    T rmw(SrcLoc loc, F f) {
        TsanHidden hidden;
        point(Event::atomic_rmw, id_, loc);
        Z3FH_HB_ACQUIRE(&v_);
        T old = v_;
        f(v_);
        Z3FH_HB_RELEASE(&v_);
        return old;
    }
    T v_{};
    ObjectId id_{};
};

class FlagWord {
public:
    void init(unsigned long v, ObjectId id) {
        w_ = v;
        id_ = id;
    }
    bool test(int bit, SrcLoc loc = SrcLoc::here()) const {
        TsanHidden hidden;
        point(Event::bit_test, id_, loc);
        Z3FH_HB_ACQUIRE(&w_);
        return (w_ >> bit) & 1UL;
    }
    void set(int bit, SrcLoc loc = SrcLoc::here()) {
        update(Event::bit_set, loc, [bit](unsigned long w) { return w | (1UL << bit); });
    }
    void clear(int bit, SrcLoc loc = SrcLoc::here()) {
        update(Event::bit_clear, loc, [bit](unsigned long w) { return w & ~(1UL << bit); });
    }
    bool test_and_set(int bit, SrcLoc loc = SrcLoc::here()) {
        return (update(Event::bit_test_and_set, loc, [bit](unsigned long w) { return w | (1UL << bit); }) >> bit) & 1UL;
    }
    bool test_and_clear(int bit, SrcLoc loc = SrcLoc::here()) {
        return (update(Event::bit_test_and_clear, loc, [bit](unsigned long w) { return w & ~(1UL << bit); }) >> bit) &
               1UL;
    }
    unsigned long load_all(SrcLoc loc = SrcLoc::here()) const {
        TsanHidden hidden;
        point(Event::atomic_load, id_, loc);
        Z3FH_HB_ACQUIRE(&w_);
        return w_;
    }
    void store_all(unsigned long v, SrcLoc loc = SrcLoc::here()) {
        update(Event::atomic_store, loc, [v](unsigned long) { return v; });
    }
    ObjectId id() const { return id_; }
    unsigned long peek() const {
        TsanHidden hidden; return w_; }

private:
    // One scheduling point, then the whole read-modify-write: atomic by construction.
    template <typename F>
    unsigned long update(Event ev, SrcLoc loc, F f) {
        TsanHidden hidden;
        point(ev, id_, loc);
        Z3FH_HB_ACQUIRE(&w_);
        unsigned long old = w_;
        w_ = f(old);
        Z3FH_HB_RELEASE(&w_);
        return old;
    }
    unsigned long w_ = 0;
    ObjectId id_{};
};

// Fibers never switch inside a RawLock region (it holds no scheduling
// point), so it needs no lock; under TSan its bookkeeping is hidden.
class Z3FH_CAPABILITY("rawlock") RawLock {
public:
    Z3FH_SYNC_INLINE void lock() Z3FH_ACQUIRE() { tsan_hide(); }
    Z3FH_SYNC_INLINE void unlock() Z3FH_RELEASE() { tsan_unhide(); }
};

class WorkQueue {
public:
    explicit WorkQueue(ObjectId id);
    ~WorkQueue();
    WorkQueue(const WorkQueue&) = delete;
    WorkQueue& operator=(const WorkQueue&) = delete;

    bool queue(WorkItem* w, int vcpu, SrcLoc loc = SrcLoc::here());
    bool cancel_sync(WorkItem* w, SrcLoc loc = SrcLoc::here());
    bool is_pending(const WorkItem* w) const { return w->pending; }
    // From the main context: run what is queued, inline, until empty.
    void flush();
    bool idle() const { return items_.empty() && running_ == nullptr; }

private:
    static void worker_entry(void* self);
    void run_one(WorkItem* w);

    WorkList items_;
    WorkItem* running_ = nullptr;
    int worker_ = kNoThread;
    ObjectId id_;
};

int current_vcpu();
void set_current_vcpu(int vcpu);
inline void cpu_relax(SrcLoc loc = SrcLoc::here()) { point(Event::yield, ObjectId{}, loc); }
// might_sleep(): `what` may block; every lock of the port spins (spinlock_t,
// rwlock_t), so holding any is the kernel's atomic context and a finding.
// The port's callers say it (the kernel shim checks its own, knowing which
// of its locks spin).
void might_sleep(const char* what, SrcLoc loc = SrcLoc::here());
// The sync layer's own rule checks, on by default; off only to measure what
// each costs (the fuzz target's Z3FH_CHECKS_OFF).
struct LockRuleChecks {
    bool might_sleep = true;
    bool held_at_return = true;  // a work item returns with no lock held
};
void set_lock_rule_checks(LockRuleChecks checks);
const LockRuleChecks& lock_rule_checks();
inline void cond_resched(SrcLoc loc = SrcLoc::here()) {
    might_sleep("cond_resched", loc);
    point(Event::yield, ObjectId{}, loc);
}
inline void op_boundary(Event ev, ObjectId id, SrcLoc loc = SrcLoc::here()) { point(ev, id, loc); }

}  // namespace z3fh::sync

#if defined(__clang__)
#pragma clang attribute pop
#endif
