// z3fold-harden: out-of-line parts of the controlled backend: the installed
// runtime, vCPU, lock failure reports and the scheduled work-queue worker.
#include "sync/controlled.h"
#include "sync/lock_order.h"

namespace z3fh::sync {

namespace {
int g_main_vcpu = 0;
}

[[noreturn]] void fatal_lock(ErrorKind kind, ObjectId id, SrcLoc loc, const char* what) {
    report_fatal(kind, loc, std::string(what) + " " + obj_class_name(id.cls) + " " + std::to_string(id.serial));
}

namespace {
LockRuleChecks g_checks;
}

void set_lock_rule_checks(LockRuleChecks checks) { g_checks = checks; }
const LockRuleChecks& lock_rule_checks() { return g_checks; }

void might_sleep(const char* what, SrcLoc loc) {
    ControlledRuntime* rt = active_runtime();
    if (!g_checks.might_sleep || !rt || rt->held_count() == 0) return;
    SrcLoc at;
    ObjectId held = rt->innermost_held(&at);
    report_fatal(ErrorKind::might_sleep, loc,
                 might_sleep_message(what, static_cast<size_t>(rt->held_count()), held, at));
}

int current_vcpu() {
    ControlledRuntime* rt = active_runtime();
    return rt ? rt->vcpu() : g_main_vcpu;
}

void set_current_vcpu(int vcpu) {
    if (ControlledRuntime* rt = active_runtime()) rt->vcpu() = vcpu; else g_main_vcpu = vcpu;
}

WorkQueue::WorkQueue(ObjectId id) : id_(id) {
    if (ControlledRuntime* rt = runtime()) worker_ = rt->spawn_worker(&WorkQueue::worker_entry, this, id);
}

WorkQueue::~WorkQueue() {
    flush();
    if (worker_ != kNoThread) {
        if (ControlledRuntime* rt = runtime()) rt->retire_worker(worker_);
    }
}

bool WorkQueue::queue(WorkItem* w, int, SrcLoc loc) {
    point(Event::work_queue, id_, loc);
    TsanHidden hidden;
    // queue_work publishes everything before it to the worker.
    Z3FH_HB_RELEASE(w);
    if (w->pending) return false;
    w->pending = true;
    items_.push(w);
    if (ControlledRuntime* rt = runtime()) rt->wake(this);
    return true;
}

bool WorkQueue::cancel_sync(WorkItem* w, SrcLoc loc) {
    point(Event::work_cancel, id_, loc);
    TsanHidden hidden;
    Z3FH_HB_ACQUIRE(w);  // cancel_work_sync: the item's work happens before us
    bool was_pending = w->pending;
    if (was_pending) {
        items_.remove(w);
        w->pending = false;
    }
    while (running_ == w) {
        ControlledRuntime* rt = active_runtime();
        if (!rt) fatal_lock(ErrorKind::check, id_, loc, "cancel_work_sync of a running item outside a scheduled thread:");
        rt->block(&running_, id_, worker_, loc);
    }
    return was_pending;
}

void WorkQueue::run_one(WorkItem* w) {
    {
        TsanHidden hidden;
        w->pending = false;
        running_ = w;
        Z3FH_HB_ACQUIRE(w);
    }
    w->fn(w);
    if (ControlledRuntime* rt = active_runtime(); g_checks.held_at_return && rt && rt->held_count() > 0) {
        SrcLoc at;
        ObjectId held = rt->innermost_held(&at);
        fatal_lock(ErrorKind::lock_held_at_return, held, at, "a work item returned holding");
    }
    TsanHidden hidden;
    Z3FH_HB_RELEASE(w);
    Z3FH_HB_RELEASE(this);  // a flush that waited for this item comes after it
    running_ = nullptr;
    if (ControlledRuntime* rt = runtime()) rt->wake(&running_);
}

void WorkQueue::flush() {
    if (ControlledRuntime* rt = active_runtime()) {
        // A scheduled thread (a pool destroyed while its work is queued or
        // running): wait for the worker, as destroy_workqueue does.
        for (;;) {
            {
                TsanHidden hidden;
                if (items_.empty() && running_ == nullptr) {
                    Z3FH_HB_ACQUIRE(this);  // flush_workqueue: the items' work happens before us
                    return;
                }
            }
            rt->block(&running_, id_, worker_, SrcLoc::here());
        }
    }
    // The main context: nothing else runs, so run the queue inline.
    for (;;) {
        WorkItem* w;
        {
            TsanHidden hidden;
            w = items_.pop();
        }
        if (!w) return;
        run_one(w);
    }
}

void WorkQueue::worker_entry(void* self) {
    auto* q = static_cast<WorkQueue*>(self);
    ControlledRuntime* rt = runtime();
    for (;;) {
        for (;;) {
            TsanHidden hidden;
            if (!q->items_.empty()) break;
            rt->idle_wait(q, q->id_);
        }
        rt->point(Event::work_begin, q->id_, SrcLoc::here());
        // Items may have been cancelled while we stood at the point.
        WorkItem* w;
        {
            TsanHidden hidden;
            w = q->items_.pop();
        }
        if (w) q->run_one(w);
    }
}

}  // namespace z3fh::sync
