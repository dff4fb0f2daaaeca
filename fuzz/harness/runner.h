// z3fold-harden: run one program: build a pool under the controlled
// runtime, run its threads with a strategy, check the shadow model after
// every step and at rest, tear down and check for leaks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "program/program.h"
#include "sched/runtime.h"
#include "target/target.h"

namespace z3fh::fuzz {

struct RunConfig {
    std::string strategy = "input";          // input | random | pct | replay
    uint64_t seed = 0;
    const sched::Schedule* replay = nullptr; // for strategy "replay"
    size_t trace_ring = 256;                 // 0 = keep the whole trace (reproducers)
    uint64_t max_steps = 20000;
    bool abort_on_finding = true;            // fuzz targets: a finding is a crash
    bool check_every_step = true;
    // Skip a step's checks when the step cannot have changed what they read,
    // and look only at the pages it touched otherwise, with the whole walk at
    // operation boundaries (sched::Runtime::StepChanges, docs/invariants.md):
    // a violation on a page no step touched is seen at the next boundary.
    // Off ("step-skip" in Z3FH_CHECKS_OFF) checks every step in full, to
    // measure it or to doubt it.
    bool skip_unchanged_steps = true;
    // Print the program and trace when a sanitizer kills the process. Never
    // under libFuzzer: its own death callback is what saves the crash input,
    // and a sanitizer keeps only one (so the target leaves this off).
    bool sanitizer_death_callback = false;
    // Keep every run's lock-order edges in one process-wide graph: an edge
    // that closes a cycle with other runs' edges is a potential-deadlock
    // finding; the other runs' programs are written as witnesses
    // (witness_file_name) into $Z3FH_WITNESS_DIR (default: the working folder).
    bool cross_run_lockdep = false;
    // Read the run's depth counters into Outcome::depth (z3fh-run time, for
    // a campaign's report): off in the fuzz target, where no one reads them.
    bool depth_counters = false;
    // Signatures the file under test is known to have without the patch
    // under review (Z3FH_KNOWN_FINDINGS): one found after every thread
    // ended (at rest, at teardown, a leak) is recorded in the outcome
    // (Outcome::known) without ending the process, so a patch review is not
    // restarted by the base's own findings. One found mid-run still ends it:
    // the run cannot go on soundly past it.
    std::vector<std::string> known_findings;
    // The other checkers, each on by default (off only to measure its cost:
    // Z3FH_CHECKS_OFF in the fuzz target; docs/invariants.md).
    bool lock_order = true;      // lockdep within a run (cross-run needs it)
    bool held_at_return = true;  // no operation or work item returns holding a lock
    bool might_sleep = true;     // nothing that may block runs under a spinning lock
};

// Turn checkers off by name, from a comma-separated list: step,
// step-skip, lock-order, potential-deadlock, held-at-return, might-sleep. Returns an
// error naming an unknown one, else "".
std::string turn_checks_off(const std::string& names, RunConfig* cfg);

// RunConfig::known_findings from Z3FH_KNOWN_FINDINGS (comma-separated
// signatures; none when unset).
std::vector<std::string> known_findings_from_env();

// Write the scheduling decisions of every following run (the last one wins;
// a finding writes them before the process dies) to `path`, as a
// sched::Schedule that replay can check step by step.
void record_schedule_on_exit(const std::string& path);

// Where a potential deadlock's k-th witness for `prog` goes: the name ties
// it to the crash input (the program, encoded), so replay finds it beside it.
std::string witness_file_name(const Program& prog, int k);
// Programs whose lock-order edges are merged first (replay of a
// potential-deadlock finding: its witnesses, then the finding).
void run_witnesses_first(const std::vector<Program>& witnesses);

struct Outcome {
    bool found = false;
    std::string kind;       // "invariant", "deadlock", "hang", "stale-schedule"
    std::string invariant;  // invariant id when kind == invariant
    std::string site;       // a leak's allocation site (kind "leak"): its signature's tail
    std::string message;
    uint32_t page = 0;
    // The interleaving as CPU columns (harness/diagram.h): a finding's, when
    // the whole trace was kept (RunConfig::trace_ring 0).
    std::vector<std::string> diagram;
    sched::RunStatus status = sched::RunStatus::completed;
    uint64_t steps = 0;
    int preemptions = 0;
    sched::Schedule schedule;
    std::string trace;      // formatted trace (whole or tail)
    // How deep the run went (TargetPool::depth_counters, and the zswap
    // user's), read once every thread ended.
    DepthCounters depth;
    // The finding is one of RunConfig::known_findings, found once every
    // thread ended: recorded, and the process went on.
    bool known = false;
};

// Interleaving feedback sink: called for each thread switch with the two
// source sites, and for each contended lock class.
struct Feedback {
    void (*on_switch)(uint64_t from_site, uint64_t to_site) = nullptr;
    void (*on_block)(uint8_t obj_class) = nullptr;
};
void set_feedback(const Feedback& fb);

Outcome run_program(const Program& prog, const RunConfig& cfg);

}  // namespace z3fh::fuzz
