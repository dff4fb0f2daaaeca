// z3fold-harden: one run's state, shared by the runner (runner.cpp: the
// run's setup, checks and reports) and the program's operations on the
// target (operations.cpp: each op, the evict callback, the thread bodies).
// Internal to the harness.
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "harness/runner.h"
#include "harness/zswap_user.h"
#include "shadow/shadow.h"
#include "target/target.h"

namespace z3fh::fuzz {

// Everything one run needs, reachable from the thread bodies, the evict
// callback and the step hook.
struct Harness {
    const Program* prog = nullptr;
    std::unique_ptr<TargetPool> pool;
    SlotState slots[kSlots];
    std::optional<Shadow> shadow;  // in place: one allocation fewer a run
    std::unique_ptr<ZswapUser> zswap;  // the program's user is zswap
    std::vector<std::vector<Op>> ops;  // per thread
    unsigned evict_calls = 0;
    sched::Runtime* rt = nullptr;
    bool check_every_step = true;
    bool skip_unchanged_steps = true;
    bool abort_on_finding = true;
    Outcome* out = nullptr;
    bool in_check = false;
    // Whole lifecycle: a thread's last op may destroy the pool.
    int threads_done = 0;
    bool destroy_claimed = false;
    bool destroying = false;  // from the destroy's start: no more structural checks
    TargetCounts after_destroy;
    bool full_trace = false;  // the trace keeps every event (replay), so a diagram can be drawn
    bool context_printed = false;  // ASan calls its report hook and then the death callback
    bool diagram_printed = false;
    bool run_ended = false;  // every thread ended: the checks at rest, at teardown and after destroy
    const std::vector<std::string>* known_findings = nullptr;  // RunConfig::known_findings
};

struct ThreadCtx {
    Harness* h;
    int thread;
};

// An invariant the checks found (the shadow model's or a validator's): the
// run's outcome, and the end of the process when findings abort.
void record_finding(Harness& h, const ShadowFinding& f);
// The zpool evict callback the target calls (ctx: the Harness).
int evict(TargetPool& pool, Handle handle, void* ctx);
// A program thread: its operations in order (arg: its ThreadCtx).
void thread_body(void* arg);

}  // namespace z3fh::fuzz
