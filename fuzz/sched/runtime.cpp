// z3fold-harden: the step runtime. Threads switch fiber to fiber directly;
// the main context is entered only to start threads and when a run ends.
#include "sched/runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "layout.h"
#include "report.h"
#include "sync/sync.h"

namespace z3fh::sched {

using sync::Event;
using sync::ObjectId;
using sync::SrcLoc;

const char* run_status_name(RunStatus s) {
    switch (s) {
    case RunStatus::completed: return "completed";
    case RunStatus::deadlock: return finding_name(FindingId::deadlock);
    case RunStatus::hang: return finding_name(FindingId::hang);
    case RunStatus::stale_schedule: return finding_name(FindingId::stale_schedule);
    case RunStatus::harness_error: return finding_name(FindingId::harness_error);
    }
    return "?";
}

namespace {
thread_local Runtime* t_starting_rt = nullptr;

// A hash: wrapping multiplication is the point.
Z3FH_INTENTIONAL_WRAP uint64_t site_hash(SrcLoc loc) {
    uint64_t h = std::hash<const void*>{}(loc.file);
    return h * 1000003u ^ static_cast<uint64_t>(loc.line);
}
}  // namespace

// A fuzzing process runs one program after another on one OS thread. Each
// run's thread records, schedule and trace storage go back here and serve
// the next run: under ASan every allocation and free unwinds the stack, and
// these were a third of an execution's allocations.
struct Runtime::Spares {
    std::vector<std::unique_ptr<Thread>> threads;
    std::vector<ScheduleStep> schedule;
    std::vector<TraceEvent> trace;
    std::unique_ptr<Lists> lists;
};

namespace {
// Set when this OS thread's spares are destroyed (at its exit): a runtime
// that outlives them (a static one, in a test) frees its storage instead.
thread_local bool t_spares_gone = false;
}  // namespace

Runtime::Spares* Runtime::spares() {
    struct Owner {
        Spares spares;
        ~Owner() { t_spares_gone = true; }
    };
    if (t_spares_gone) return nullptr;
    static thread_local Owner owner;
    return &owner.spares;
}

std::unique_ptr<Runtime::Lists> Runtime::take_lists() {
    Spares* spare = spares();
    // Default-initialised (not make_unique's value-initialisation, which
    // would zero the lock-order graph's 48 KiB table).
    if (!spare || !spare->lists) return std::unique_ptr<Lists>(new Lists);
    std::unique_ptr<Lists> l = std::move(spare->lists);
    l->threads.clear();
    l->runnable.clear();
    l->others.clear();
    l->allowed.clear();
    l->owners.clear();
    l->lock_order.reset();
    return l;
}

Runtime::Runtime(Strategy& strategy, RunOptions opts)
    : strategy_(strategy),
      input_(dynamic_cast<InputStrategy*>(&strategy)),
      opts_(opts),
      lists_(take_lists()),
      threads_(lists_->threads),
      runnable_(lists_->runnable),
      others_(lists_->others),
      allowed_(lists_->allowed),
      owners_(lists_->owners),
      lock_order_(lists_->lock_order),
      trace_(opts.trace_ring) {
    if (Spares* spare = spares()) {
        trace_.adopt_storage(std::move(spare->trace));
        schedule_.steps = std::move(spare->schedule);
        schedule_.steps.clear();
    }
}

Runtime::~Runtime() {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    Spares* spare = spares();
    for (auto& t : threads_) {
        Fiber::destroy(t->fiber);
        if (!spare) continue;
        t->reset_keeping_storage();
        spare->threads.push_back(std::move(t));
    }
    if (!spare) return;
    spare->schedule = std::move(schedule_.steps);
    spare->trace = trace_.take_storage();
    spare->lists = std::move(lists_);
}

std::string Runtime::thread_name(int id) const {
    if (id < 0 || id >= static_cast<int>(threads_.size())) return "main";
    return threads_[static_cast<size_t>(id)]->display_name();
}

int Runtime::spawn(std::string name, void (*fn)(void*), void* arg, int vcpu) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    std::unique_ptr<Thread> t;
    if (Spares* spare = spares(); spare && !spare->threads.empty()) {
        t = std::move(spare->threads.back());
        spare->threads.pop_back();
    } else {
        t = std::make_unique<Thread>();
    }
    t->id = static_cast<int>(threads_.size());
    t->name = std::move(name);
    t->worker = false;
    t->worker_obj = {};
    t->fn = fn;
    t->arg = arg;
    t->vcpu = vcpu;
    t->fiber = Fiber::create(&Runtime::thread_main, t.get());
    threads_.push_back(std::move(t));
    runnable_stale_ = true;
    return threads_.back()->id;
}

int Runtime::spawn_worker(void (*entry)(void*), void* arg, ObjectId obj) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    int id = spawn(std::string(), entry, arg, 0);  // named when asked (display_name): most runs never ask
    threads_.back()->worker = true;
    threads_.back()->worker_obj = obj;
    return id;
}

void Runtime::retire_worker(int thread) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    if (thread < 0 || thread >= static_cast<int>(threads_.size())) return;
    Thread* t = threads_[static_cast<size_t>(thread)].get();
    set_state(t, State::finished);
    Fiber::destroy(t->fiber);  // parked in idle_wait forever: its stack is free to reuse
    t->fiber = nullptr;
}

void Runtime::thread_main(void* arg) {
    auto* t = static_cast<Thread*>(arg);
    Runtime* rt;
    {
        sync::TsanHidden hidden;
        rt = t_starting_rt;
        t->started = true;  // a thread spawned mid-run (a worker) too
        rt->record(t, Event::thread_start, {}, SrcLoc::here());
    }
    t->fn(t->arg);
    {
        sync::TsanHidden hidden;
        rt->record(t, Event::thread_end, {}, SrcLoc::here());
        rt->set_state(t, State::finished);
    }
    // Not hidden across the final switch: a fiber must not end with TSan's
    // ignores still on (leave hides its own bookkeeping).
    rt->leave(t, true);
}


RunResult Runtime::run() {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    Fiber* main = Fiber::main_context();
    running_ = true;
    starting_ = true;
    step_ = 0;
    preemptions_ = 0;
    own_rule_broken_.clear();
    own_rule_overridden_ = false;
    runnable_stale_ = true;
    result_ = {};
    trace_.clear();
    schedule_.steps.clear();
    step_changes_seen(true);
    strategy_.begin_run();
    t_starting_rt = this;
    // Start every thread up to its first scheduling point, in id order; the
    // first decision then chooses among threads that all wait at a point.
    // By index, up to the threads there are now: a thread may spawn another
    // (a workqueue's worker) before its first point, which then starts
    // when it is first chosen.
    for (size_t i = 0, n = threads_.size(); i < n; i++) {
        Thread* t = threads_[i].get();
        if (t->started || t->state != State::runnable || !t->fiber) continue;
        t->started = true;
        set_current(t);
        Fiber::switch_to(main, t->fiber);
    }
    starting_ = false;
    set_current(nullptr);
    Thread* first = decide(nullptr, true, Event::thread_start, {});
    if (!own_rule_broken_.empty()) {
        result_.status = RunStatus::harness_error;
        result_.report = own_rule_broken_;
    } else if (first) {
        set_current(first);
        Fiber::switch_to(main, first->fiber);
    } else {
        bool done = std::all_of(threads_.begin(), threads_.end(),
                                [](const auto& t) { return t->state == State::finished || (t->worker && t->state == State::idle); });
        result_.status = done ? RunStatus::completed : RunStatus::deadlock;
        if (!done) result_.report = deadlock_report();
    }
    running_ = false;
    set_current(nullptr);
    result_.steps = step_;
    result_.preemptions = preemptions_;
    return result_;
}

void Runtime::point(Event ev, ObjectId obj, SrcLoc loc) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    Thread* cur = current_;
    step_++;
    record(cur, ev, obj, loc);
    if (starting_) {
        cur->last_loc = loc;
        cur->last_event = ev;
        cur->last_obj = obj;
        Fiber::switch_to(cur->fiber, Fiber::main_context());
        return;
    }
    if (step_ > opts_.max_steps) {
        result_.report = fmt::format("no progress after {} scheduling points (livelock or hang); last events:\n{}",
                                     opts_.max_steps, trace_.format_tail(24));
        end_run(RunStatus::hang, false);
    }
    if (hook_) {
        // step_changes() reads cur's last event: the operation this step began with.
        const StepChanges changes = step_changes();
        if (!hook_only_after_changes_ || changes.any()) hook_(hook_ctx_, *this, changes);
        step_changes_seen(false);
    }
    cur->last_loc = loc;
    cur->last_event = ev;
    cur->last_obj = obj;
    Thread* next = decide(cur, false, ev, obj);
    if (strategy_.went_stale()) {
        result_.report = strategy_.stale_reason();
        end_run(RunStatus::stale_schedule, false);
    }
    if (!own_rule_broken_.empty()) end_run(RunStatus::harness_error, false);
    if (next != cur) {
        if (ev != Event::yield) {
            trace_.mark_preempted();
            preemptions_++;
        }
        if (switch_hook_) switch_hook_(switch_ctx_, site_hash(loc), site_hash(next->last_loc));
        if (preemptible_) move_cpus(cur, next);
        switch_from(cur, next, false);
    }
}

Runtime::Thread* Runtime::decide(Thread* cur, bool forced, Event ev, ObjectId obj) {
    // The runnable set changes only when a thread's state does: rebuilt then,
    // not at every point.
    if (runnable_stale_) {
        runnable_.clear();
        for (auto& t : threads_)
            if (t->state == State::runnable && t->fiber) runnable_.push_back(t->id);
        runnable_stale_ = false;
    }
    const std::vector<int>* choices = &runnable_;
    if (choices->empty()) return nullptr;
    const bool yielding = !forced && ev == Event::yield && choices->size() > 1;
    if (owns_cpu_) choices = not_on_owned_cpus(choices, yielding ? cur->id : -1);
    if (yielding && choices->size() > 1) {
        // A yield (cpu_relax, cond_resched) lets another thread run: without
        // this a trylock loop could spin forever under an unlucky schedule.
        // Among those that may run: a thread spinning with preemption off,
        // with every other CPU owned, goes on spinning.
        others_.assign(choices->begin(), choices->end());
        if (auto self = std::find(others_.begin(), others_.end(), cur->id); self != others_.end()) others_.erase(self);
        choices = &others_;
        forced = true;
    }
    if (choices->size() == 1) return threads_[static_cast<size_t>((*choices)[0])].get();
    DecisionPoint dp{forced ? -1 : cur->id, cur ? cur->id : -1, choices, ev, obj, step_};
    size_t idx = input_ ? input_->InputStrategy::choose(dp) : strategy_.choose(dp);
    if (idx >= choices->size()) idx = 0;
    int chosen = (*choices)[idx];
    schedule_.steps.push_back({static_cast<uint8_t>(chosen), static_cast<int8_t>(dp.current),
                               static_cast<uint8_t>(ev), static_cast<uint8_t>(obj.cls), obj.serial});
    return threads_[static_cast<size_t>(chosen)].get();
}

// A thread with preemption off (a spinning lock held or waited for,
// preempt_disable, kmap_atomic, local_lock; see kshim_thread_owns_cpu for
// one at a lock's point, which does not yet) owns its virtual CPU: no other
// thread runs on that CPU until it can be again (a kernel's CPU runs one
// task at a time). The choices without those threads. A CPU has one owner:
// the one holding a lock (preempt_off) before one spinning for a lock, and
// of equals the first.
// When no other choice is left, a runnable thread that may move (no lock,
// no preemption or migration disabled, not a worker) is taken by a CPU no
// one owns, as the kernel's load balancing pulls a task from a busy CPU's
// runqueue to an idle one (trace: moved_to_cpu). Only if none can move do
// all choices stay (a thread spinning for what only a thread on its own CPU
// can give: the kernel would hang there too, and the hang check says so).
namespace {
const char* claim_name(sync::ControlledRuntime::CpuClaim c) {
    return c == sync::ControlledRuntime::CpuClaim::preempt_off ? "preempt-off" : "spin-wait";
}
}  // namespace

const std::vector<int>* Runtime::not_on_owned_cpus(const std::vector<int>* choices, int yielder) {
    using Claim = sync::ControlledRuntime::CpuClaim;
    owners_.clear();
    for (auto& t : threads_) {
        if (!t->fiber || !t->started || t->state == State::finished) continue;
        const Claim claim = owns_cpu_(t->id, static_cast<int>(t->held.size()), t->in_block);
        if (claim == Claim::none) continue;
        auto o = std::find_if(owners_.begin(), owners_.end(), [&](const CpuOwner& c) { return c.vcpu == t->vcpu; });
        if (o == owners_.end()) {
            owners_.push_back({t->vcpu, t->id, claim});
            continue;
        }
        // Preemption off (a lock held, or spun for) twice on one CPU.
        if (!own_rule_overridden_ && own_rule_broken_.empty())
            own_rule_broken_ = fmt::format("harness error: T{} and T{} both have preemption off on vCPU {} ({} and {})",
                                           o->thread, t->id, t->vcpu, claim_name(o->claim), claim_name(claim));
        if (claim > o->claim) *o = {t->vcpu, t->id, claim};
    }
    if (owners_.empty()) return choices;
    auto owner_of = [&](int vcpu) {
        auto o = std::find_if(owners_.begin(), owners_.end(), [&](const CpuOwner& c) { return c.vcpu == vcpu; });
        return o == owners_.end() ? -1 : o->thread;
    };
    allowed_.clear();
    bool other_allowed = false;
    for (int id : *choices) {
        const int owner = owner_of(threads_[static_cast<size_t>(id)]->vcpu);
        if (owner != -1 && owner != id) continue;
        allowed_.push_back(id);
        other_allowed = other_allowed || id != yielder;
    }
    if (other_allowed) return &allowed_;
    for (int id : *choices) {
        Thread* t = threads_[static_cast<size_t>(id)].get();
        const int owner = owner_of(t->vcpu);
        if (owner == -1 || owner == id || t->worker || !preemptible_ ||
            !preemptible_(id, static_cast<int>(t->held.size())))
            continue;
        for (int v = 0; v < owned_vcpus_; v++) {
            if (owner_of(v) != -1) continue;
            t->vcpu = v;
            record(t, Event::cpu_move, {sync::ObjClass::cpu, static_cast<uint32_t>(v)}, t->last_loc);
            allowed_.push_back(id);
            return &allowed_;
        }
        break;  // every CPU is owned
    }
    if (allowed_.empty()) own_rule_overridden_ = true;
    return allowed_.empty() ? choices : &allowed_;
}

// A preempted thread leaves its CPU to the thread that runs next, and
// resumes where that one was: the two swap virtual CPUs when both are
// program threads whose context lets them move (a scheduler may pick a
// preempted task up on any CPU), and no other thread owns the preempted
// one's CPU (it was preempted because a thread there has preemption off:
// the next thread must not land on that CPU). Workers stay where they are.
void Runtime::move_cpus(Thread* cur, Thread* next) {
    if (cur->worker || next->worker || !next->started || cur->vcpu == next->vcpu) return;
    if (!preemptible_(cur->id, static_cast<int>(cur->held.size())) ||
        !preemptible_(next->id, static_cast<int>(next->held.size())))
        return;
    if (owns_cpu_)
        for (auto& t : threads_)
            if (t.get() != cur && t->fiber && t->started && t->state != State::finished && t->vcpu == cur->vcpu &&
                owns_cpu_(t->id, static_cast<int>(t->held.size()), t->in_block) != sync::ControlledRuntime::CpuClaim::none)
                return;
    std::swap(cur->vcpu, next->vcpu);
    record(cur, Event::cpu_move, {sync::ObjClass::cpu, static_cast<uint32_t>(cur->vcpu)}, cur->last_loc);
    record(next, Event::cpu_move, {sync::ObjClass::cpu, static_cast<uint32_t>(next->vcpu)}, next->last_loc);
}

void Runtime::switch_from(Thread* cur, Thread* next, bool exiting) {
    {
        sync::TsanHidden hidden;
        set_current(next);
    }
    if (exiting) Fiber::exit_to(cur->fiber, next->fiber);
    // Whoever resumes this fiber has already made it current.
    Fiber::switch_to(cur->fiber, next->fiber);
}

void Runtime::leave(Thread* cur, bool exiting) {
    Thread* next = nullptr;
    RunStatus end = RunStatus::completed;
    bool ending = false;
    {
        sync::TsanHidden hidden;  // scheduler bookkeeping
        // A thread that ends or parks ran code since its last point (a work
        // item's tail, a program thread's last operation).
        state_maybe_changed_ = true;
        if (!starting_) {
            next = decide(cur, true, Event::block, {});
            if (!own_rule_broken_.empty()) {
                end = RunStatus::harness_error;
                ending = true;
            } else if (strategy_.went_stale()) {
                result_.report = strategy_.stale_reason();
                end = RunStatus::stale_schedule;
                ending = true;
            } else if (!next) {
                bool done = std::all_of(threads_.begin(), threads_.end(), [](const auto& t) {
                    return t->state == State::finished || (t->worker && t->state == State::idle);
                });
                if (!done) result_.report = deadlock_report();
                end = done ? RunStatus::completed : RunStatus::deadlock;
                ending = true;
            }
        }
    }
    if (starting_) {
        if (exiting) Fiber::exit_to(cur->fiber, Fiber::main_context());
        Fiber::switch_to(cur->fiber, Fiber::main_context());
        return;
    }
    if (ending) end_run(end, exiting);
    switch_from(cur, next, exiting);
}

void Runtime::end_run(RunStatus status, bool exiting) {
    Thread* cur;
    {
        sync::TsanHidden hidden;
        // The scheduler's own slip comes before anything the run did after it.
        if (!own_rule_broken_.empty()) {
            status = RunStatus::harness_error;
            result_.report = own_rule_broken_ + "; last events:\n" + trace_.format_tail(24);
        }
        result_.status = status;
        cur = current_;
        set_current(nullptr);
    }
    if (exiting) Fiber::exit_to(cur->fiber, Fiber::main_context());
    Fiber::switch_to(cur->fiber, Fiber::main_context());
    // A run that ended is never resumed.
    std::abort();
}

void Runtime::block(const void* key, ObjectId obj, int holder, SrcLoc loc) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    Thread* cur = current_;
    record(cur, Event::block, obj, loc);
    set_state(cur, State::blocked);
    cur->wait_key = key;
    cur->holder = holder;
    cur->wait_obj = obj;
    cur->wait_loc = loc;
    cur->in_block = true;
    leave(cur, false);
    cur->in_block = false;
}

void Runtime::idle_wait(const void* key, ObjectId obj) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    Thread* cur = current_;
    set_state(cur, State::idle);
    cur->wait_key = key;
    cur->holder = sync::kNoThread;
    cur->wait_obj = obj;
    leave(cur, false);
}

void Runtime::wake(const void* key) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    for (auto& t : threads_) {
        if ((t->state == State::blocked || t->state == State::idle) && t->wait_key == key) {
            set_state(t.get(), State::runnable);
            t->wait_key = nullptr;
        }
    }
}

int& Runtime::vcpu() {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    return current_ ? current_->vcpu : main_vcpu_;
}

void Runtime::on_acquire(const void* lock, ObjectId obj, SrcLoc loc) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    if (!current_) return;
    if (opts_.lock_order) {
        if (auto cycle = lock_order_.acquired(current_->id, current_->held.held(), obj, loc,
                                              current_->last_event == Event::trylock))
            report_fatal(ErrorKind::lock_order, loc, *cycle);
    }
    current_->held.acquired(lock, obj, loc);
}

int Runtime::held_count() const { return current_ ? static_cast<int>(current_->held.size()) : 0; }

ObjectId Runtime::innermost_held(SrcLoc* taken_at) const {
    if (!current_ || current_->held.empty()) return ObjectId{};
    if (taken_at) *taken_at = current_->held.innermost().loc;
    return current_->held.innermost().obj;
}

void Runtime::on_release(const void* lock, ObjectId, SrcLoc) {
    sync::TsanHidden hidden;  // scheduler bookkeeping (see sync/controlled.h)
    if (!current_) return;
    current_->held.released(lock);
}

std::string Runtime::deadlock_report() const {
    auto where = [](SrcLoc l) {
        const char* f = l.file ? l.file : "";
        for (const char* p = f; *p; p++)
            if (*p == '/') f = p + 1;
        return fmt::format("{}:{}", f, l.line);
    };
    std::string out = "every live thread is blocked\n";
    // Follow waits-for edges from each blocked thread to find a cycle.
    std::vector<int> cycle;
    for (const auto& t : threads_) {
        if (t->state != State::blocked) continue;
        std::vector<int> path;
        int at = t->id;
        while (at >= 0 && std::find(path.begin(), path.end(), at) == path.end()) {
            path.push_back(at);
            const Thread* th = threads_[static_cast<size_t>(at)].get();
            at = th->state == State::blocked ? th->holder : -1;
        }
        if (at >= 0) {
            cycle.assign(std::find(path.begin(), path.end(), at), path.end());
            break;
        }
    }
    if (!cycle.empty()) out += "wait-for cycle:\n";
    for (const auto& t : threads_) {
        if (t->state != State::blocked) continue;
        bool in_cycle = std::find(cycle.begin(), cycle.end(), t->id) != cycle.end();
        out += fmt::format("  {}T{} ({}) waits for {} {} at {}, held by T{}\n", in_cycle ? "* " : "  ", t->id, t->display_name(),
                           sync::obj_class_name(t->wait_obj.cls), t->wait_obj.serial, where(t->wait_loc), t->holder);
        for (const LockOrder::Held& h : t->held.held())
            out += fmt::format("        T{} holds {} {} (acquired at {})\n", t->id, sync::obj_class_name(h.obj.cls),
                               h.obj.serial, where(h.loc));
    }
    return out;
}

}  // namespace z3fh::sched
