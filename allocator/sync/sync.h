// z3fold-harden: the one sync layer. Locks, rwlocks, atomics, bit operations,
// work queues, the current virtual CPU and yield points. The backend is chosen
// at build time: native (real threads) or controlled (a scheduler owns every
// interleaving). No other allocator file may include a threading header.
#pragma once

#if defined(Z3FH_SYNC_CONTROLLED) && Z3FH_SYNC_CONTROLLED
#include "sync/controlled.h"
#else
#include "sync/native.h"
#endif

#include <concepts>

namespace z3fh::sync {

// The contract both backends satisfy, checked by the compiler.
template <typename L>
concept Lockable = requires(L l, const L cl, ObjectId id, SrcLoc loc) {
    l.init(id);
    l.lock(loc);
    { l.try_lock(loc) } -> std::same_as<bool>;
    l.unlock(loc);
    { cl.held_by_me() } -> std::same_as<bool>;
    cl.assert_held(loc);
};
static_assert(Lockable<SpinLock>);

template <typename Q>
concept WorkQueueLike = requires(Q q, WorkItem* w, int cpu, SrcLoc loc) {
    { q.queue(w, cpu, loc) } -> std::same_as<bool>;
    { q.cancel_sync(w, loc) } -> std::same_as<bool>;
    q.flush();
};
static_assert(WorkQueueLike<WorkQueue>);

// RAII guard for the pool-level locks (the page lock follows the kernel's
// explicit lock/unlock, because z3fold hands it across functions).
class Z3FH_TSA(scoped_lockable) SpinGuard {
public:
    explicit SpinGuard(SpinLock& l, SrcLoc loc = SrcLoc::here()) Z3FH_ACQUIRE(l) : l_(l), loc_(loc) { l_.lock(loc); }
    ~SpinGuard() Z3FH_RELEASE() { l_.unlock(loc_); }
    SpinGuard(const SpinGuard&) = delete;
    SpinGuard& operator=(const SpinGuard&) = delete;

private:
    SpinLock& l_;
    SrcLoc loc_;
};

}  // namespace z3fh::sync
