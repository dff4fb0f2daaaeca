// z3fold-harden: the step runtime: scheduled threads (fibers) on one OS
// thread, the controlled sync backend's ControlledRuntime, a decision at every
// scheduling point, deadlock and hang detection, the recorded schedule and
// the trace.
#pragma once
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "sched/fiber.h"
#include "sched/lockdep.h"
#include "sched/schedule.h"
#include "sched/strategy.h"
#include "sched/trace.h"
#include "sync/runtime.h"

namespace z3fh::sched {

struct RunOptions {
    uint64_t max_steps = 50000;  // beyond this the run is a hang
    size_t trace_ring = 0;       // 0: keep the whole trace; N: the last N events
    bool lock_order = true;      // keep the lock-order graph (lockdep) and check each acquisition
};

enum class RunStatus { completed, deadlock, hang, stale_schedule, harness_error };
const char* run_status_name(RunStatus s);

struct RunResult {
    RunStatus status = RunStatus::completed;
    std::string report;  // deadlock cycle, hang tail, or stale reason
    uint64_t steps = 0;
    int preemptions = 0;
};

class Runtime final : public sync::ControlledRuntime {
public:
    explicit Runtime(Strategy& strategy, RunOptions opts = {});
    ~Runtime() override;
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // A program thread, started by run(). Returns its id.
    int spawn(std::string name, void (*fn)(void*), void* arg, int vcpu = 0);
    // Run every thread to completion (or deadlock, hang, stale schedule).
    RunResult run();

    // What the step that just ended can have changed, handed to the step
    // hook. Since the last point only the current thread ran: the operation
    // its previous point preceded, then plain code, whose stores to checked
    // state the sync layer noted (sync::shared_write).
    struct StepChanges {
        bool thread_left = true;  // a thread ended or parked: its tail ran unseen
        sync::Event op = sync::Event::thread_start;  // the operation the step began with
        sync::ObjectId obj{};
        const void* const* writes = nullptr;  // noted stores (list nodes, pages)
        size_t n_writes = 0;
        bool writes_all = false;  // a structural store, or more than were kept
        // Else the checks would pass exactly as they did at the last point:
        // the operation cannot write (sync::event_may_write), nothing was
        // noted, and no thread ended or parked.
        bool any() const { return thread_left || sync::event_may_write(op) || n_writes || writes_all; }
    };

    // Called at every scheduling point with no other thread running (the
    // shadow model's safety checks live here); with `only_after_changes`,
    // only at points after a step that can have changed something
    // (StepChanges::any): the checks would pass there as they did before.
    using StepHook = void (*)(void* ctx, Runtime& rt, const StepChanges& changes);
    void set_step_hook(StepHook hook, void* ctx, bool only_after_changes = false) {
        hook_ = hook;
        hook_ctx_ = ctx;
        hook_only_after_changes_ = only_after_changes;
    }

    const Trace& trace() const { return trace_; }
    const Schedule& schedule() const { return schedule_; }
    uint64_t steps() const { return step_; }
    int thread_count() const { return static_cast<int>(threads_.size()); }
    std::string thread_name(int id) const;
    // Per-site interleaving feedback: called with (previous site, next site)
    // hashes whenever a decision switches threads.
    using SwitchHook = void (*)(void* ctx, uint64_t from_site, uint64_t to_site);
    void set_switch_hook(SwitchHook hook, void* ctx) {
        switch_hook_ = hook;
        switch_ctx_ = ctx;
    }

    // sync::ControlledRuntime
    int current_thread() const override { return current_ ? current_->id : sync::kMainContext; }
    void point(sync::Event ev, sync::ObjectId obj, sync::SrcLoc loc) override;
    void block(const void* key, sync::ObjectId obj, int holder, sync::SrcLoc loc) override;
    void wake(const void* key) override;
    int spawn_worker(void (*entry)(void*), void* arg, sync::ObjectId obj) override;
    void idle_wait(const void* key, sync::ObjectId obj) override;
    void retire_worker(int thread) override;
    int& vcpu() override;
    void on_acquire(const void* lock, sync::ObjectId obj, sync::SrcLoc loc) override;
    void on_release(const void* lock, sync::ObjectId obj, sync::SrcLoc loc) override;
    int held_count() const override;
    const LockOrder& lock_order() const { return lock_order_; }
    sync::ObjectId innermost_held(sync::SrcLoc* taken_at) const override;

private:
    struct Spares;
    // What runs on this OS thread leave for the next one (runtime.cpp);
    // nullptr once the thread is exiting.
    static Spares* spares();

    enum class State { runnable, blocked, idle, finished };
    // A thread's record: plain fields, reset by assigning a fresh one.
    struct ThreadFields {
        int id = 0;
        bool worker = false;
        sync::ObjectId worker_obj{};  // a worker: the object (work queue) it serves
        void (*fn)(void*) = nullptr;
        void* arg = nullptr;
        int vcpu = 0;
        Fiber* fiber = nullptr;
        State state = State::runnable;
        bool started = false;  // has run: to its first point, or (spawned mid-run) at all
        const void* wait_key = nullptr;
        int holder = sync::kNoThread;
        sync::ObjectId wait_obj{};
        bool in_block = false;  // inside block(): blocked, or woken and not yet resumed
        sync::SrcLoc wait_loc{};
        sync::SrcLoc last_loc{};
        sync::Event last_event = sync::Event::thread_start;  // the point before an acquire: a trylock?
        sync::ObjectId last_obj{};
    };
    struct Thread : ThreadFields {
        std::string name;  // a program thread's; a worker's is made when asked
        sync::HeldLocks held;
        std::string display_name() const {
            return worker ? fmt::format("worker({} {})", sync::obj_class_name(worker_obj.cls), worker_obj.serial)
                          : name;
        }
        // As a new record, but with its name's and held set's storage kept
        // (assigning a whole fresh Thread moved both, twice, every thread of
        // every run).
        void reset_keeping_storage() {
            static_cast<ThreadFields&>(*this) = ThreadFields{};
            name.clear();
            held.clear();
        }
    };

    static void thread_main(void* arg);
    // `yielder`: a thread that yields (it runs only if nothing else may), or -1.
    const std::vector<int>* not_on_owned_cpus(const std::vector<int>* choices, int yielder);
    void record(Thread* t, sync::Event ev, sync::ObjectId obj, sync::SrcLoc loc) {
        trace_.append({static_cast<uint32_t>(step_), static_cast<int8_t>(t ? t->id : -1), ev, obj.cls, false,
                       obj.serial, loc.file, loc.line});
    }
    // Pick the next thread; current may not be an option (forced).
    Thread* decide(Thread* cur, bool forced, sync::Event ev, sync::ObjectId obj);
    // The current thread cannot continue: go to the next, or end the run.
    void leave(Thread* cur, bool exiting);
    // Ends the run from a scheduled thread. The report is set first
    // (result_.report): the thread's stack is abandoned, so nothing that owns
    // heap memory may still live on it. Never returns; not [[noreturn]], as
    // Fiber::exit_to (fiber.h) says why.
    void end_run(RunStatus status, bool exiting);
    std::string deadlock_report() const;
    void switch_from(Thread* cur, Thread* next, bool exiting);
    void move_cpus(Thread* cur, Thread* next);
    void set_current(Thread* t) {
        current_ = t;
        in_thread_ = t != nullptr && running_;
    }
    StepChanges step_changes() const {
        const Thread* t = current_;
        return {state_maybe_changed_, t->last_event, t->last_obj, writes_, writes_n_, writes_all_};
    }
    // The step checks have seen everything so far (or, `fresh`, nothing yet).
    void step_changes_seen(bool fresh) {
        state_maybe_changed_ = fresh;
        writes_n_ = 0;
        writes_all_ = false;
    }
    void set_state(Thread* t, State s) {
        t->state = s;
        runnable_stale_ = true;
    }

    struct CpuOwner {
        int vcpu;
        int thread;
        sync::ControlledRuntime::CpuClaim claim;
    };
    // The runtime's lists and its lock-order graph, in one heap object that
    // a run hands to the next on this OS thread (Spares, runtime.cpp): moved
    // one by one they were a tenth of an empty run under ASan, and the
    // graph's 48 KiB table inside the runtime made run_program's stack frame
    // one ASan poisons and clears at every call.
    struct Lists {
        std::vector<std::unique_ptr<Thread>> threads;
        std::vector<int> runnable, others, allowed;
        std::vector<CpuOwner> owners;
        LockOrder lock_order;
    };
    static std::unique_ptr<Lists> take_lists();

    Strategy& strategy_;
    InputStrategy* input_;  // strategy_ when it is the input strategy: called directly
    RunOptions opts_;
    std::unique_ptr<Lists> lists_;
    std::vector<std::unique_ptr<Thread>>& threads_;
    std::vector<int>& runnable_;      // threads that can run, in id order
    bool runnable_stale_ = true;     // a state changed since runnable_ was built
    bool state_maybe_changed_ = true;   // a thread ended or parked since the last point
    std::vector<int>& others_;        // runnable_ without a yielding thread
    std::vector<int>& allowed_;       // the choices whose virtual CPU no other thread owns
    std::vector<CpuOwner>& owners_;  // one a virtual CPU: the thread with preemption off there
    LockOrder& lock_order_;  // per run: the lock-order graph (sched/lockdep.h)
    // The owner rule's own check: two threads with preemption off on one
    // virtual CPU is a state no kernel can be in, so the scheduler made it
    // (what it says ends the run as harness_error). Not checked once the
    // rule was overridden (every choice on an owned CPU: the kernel would
    // hang there, and the run goes on only to let the hang check say so).
    std::string own_rule_broken_;
    bool own_rule_overridden_ = false;
    Thread* current_ = nullptr;
    bool running_ = false;
    bool starting_ = false;
    uint64_t step_ = 0;
    int preemptions_ = 0;
    RunResult result_;
    Trace trace_;
    Schedule schedule_;
    StepHook hook_ = nullptr;
    void* hook_ctx_ = nullptr;
    bool hook_only_after_changes_ = false;
    SwitchHook switch_hook_ = nullptr;
    void* switch_ctx_ = nullptr;
    int main_vcpu_ = 0;
};

}  // namespace z3fh::sched
