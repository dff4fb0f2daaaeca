// z3fold-harden: the scheduler interface the controlled sync backend calls.
// fuzz/sched implements it; the allocator never sees threads or fibers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "sync/event.h"

namespace z3fh::sync {

// Thread ids are small integers handed out by the runtime in creation order.
inline constexpr int kNoThread = -1;
inline constexpr int kMainContext = -2;  // code running outside any scheduled thread

class ControlledRuntime {
public:
    virtual ~ControlledRuntime() = default;

    // True while a scheduled thread runs; false in the main context (pool
    // creation and teardown by the harness), where sync operations are plain.
    // A field, not a virtual call: every sync operation asks.
    Z3FH_SYNC_INLINE bool in_thread() const { return in_thread_; }
    virtual int current_thread() const = 0;

    // A scheduling point before `ev` on `obj`: the runtime may switch to any
    // runnable thread here and resume this one later.
    virtual void point(Event ev, ObjectId obj, SrcLoc loc) = 0;

    // Park the current thread until wake(key). `holder` is the thread that
    // holds what we wait for (kNoThread if unknown), for deadlock reports.
    virtual void block(const void* key, ObjectId obj, int holder, SrcLoc loc) = 0;
    virtual void wake(const void* key) = 0;

    // Background workers (work queues) are scheduled threads too. An idle
    // worker parks with idle_wait; a run ends when every program thread has
    // finished and every worker is idle.
    virtual int spawn_worker(void (*entry)(void*), void* arg, ObjectId obj) = 0;
    virtual void idle_wait(const void* key, ObjectId obj) = 0;
    virtual void retire_worker(int thread) = 0;

    // The current thread's virtual CPU (per-CPU unbuddied lists).
    virtual int& vcpu() = 0;
    // Whether a program thread may move to another virtual CPU when it is
    // preempted (the kernel target's context rules: no spinning lock,
    // preempt_disable or migrate_disable; `held` is how many of the sync
    // layer's locks it holds). Unset, threads change CPU only by the
    // program's set_vcpu (the port: vCPUs change between operations).
    using PreemptibleFn = bool (*)(int thread, int held);
    void set_preemptible(PreemptibleFn f) { preemptible_ = f; }
    // Whether a thread owns its virtual CPU now (preemption off there: a
    // spinning lock held or spun for, preempt_disable, kmap_atomic,
    // local_lock): no other thread runs on that CPU meanwhile. `waiting`:
    // it found a lock taken and waits in its acquire (blocked, or woken
    // and not yet resumed). Unset, any thread may run at any point.
    enum class CpuClaim : uint8_t {
        none,
        spin_wait,    // spins for a lock with preemption off
        preempt_off,  // holds a spinning lock, or preempt_disable
    };
    using OwnsCpuFn = CpuClaim (*)(int thread, int held, bool waiting);
    // `vcpus`: how many there are (a runnable thread that may move and
    // finds its own CPU owned can be taken by one no thread owns).
    void set_owns_cpu(OwnsCpuFn f, int vcpus) {
        owns_cpu_ = f;
        owned_vcpus_ = vcpus;
    }

    // Lock bookkeeping for validation (held-lock sets, lock-order graph).
    virtual void on_acquire(const void* lock, ObjectId obj, SrcLoc loc) = 0;
    virtual void on_release(const void* lock, ObjectId obj, SrcLoc loc) = 0;
    // Locks the current thread holds, and the innermost one (for reports of
    // a lock held when an operation or work item returns).
    virtual int held_count() const = 0;
    virtual ObjectId innermost_held(SrcLoc* taken_at) const = 0;

    // A plain store to state the step checks read: a list link, a page's
    // PageIsolated (`addr`, what was written), or the set of live pages or
    // slots objects (nullptr: anything may have changed). The scheduler then
    // knows what a step changed even if its scheduling point was a lock or
    // a load, and the checks can look at those pages only.
    void note_shared_write(const void* addr) {
        if (addr && writes_n_ < kKeptWrites) writes_[writes_n_++] = addr;
        else writes_all_ = true;
    }
    static constexpr size_t kKeptWrites = 24;

protected:
    bool in_thread_ = false;  // kept by the implementation
    PreemptibleFn preemptible_ = nullptr;
    OwnsCpuFn owns_cpu_ = nullptr;
    int owned_vcpus_ = 0;
    // The plain stores noted since the last scheduling point.
    const void* writes_[kKeptWrites] = {};
    size_t writes_n_ = 0;
    bool writes_all_ = false;  // a structural store, or more than kKeptWrites
};

// Installed by the harness for the lifetime of a run; nullptr otherwise.
// Read inline: every lock, unlock and atomic asks for it.
void install_runtime(ControlledRuntime* rt);
namespace detail {
extern ControlledRuntime* g_runtime;
}
Z3FH_SYNC_INLINE ControlledRuntime* runtime() { return detail::g_runtime; }

}  // namespace z3fh::sync
