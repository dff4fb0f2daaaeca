// z3fold-harden: the program runner.
#include "harness/runner.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "finding.h"
#include "harness/diagram.h"
#include "harness/harness_state.h"
#include "harness/step_scope.h"
#include "target/target.h"
#include "layout.h"
#include "program/env_knobs.h"
#include "pool.h"
#include "report.h"
#include "harness/zswap_user.h"
#include "shadow/shadow.h"
#include "sync/sync.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define Z3FH_HAVE_SANITIZER_DEATH_CALLBACK 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define Z3FH_HAVE_SANITIZER_DEATH_CALLBACK 1
#endif
#if defined(Z3FH_HAVE_SANITIZER_DEATH_CALLBACK)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define Z3FH_HAVE_ASAN_REPORT_CALLBACK 1
#include <sanitizer/asan_interface.h>
#endif
#endif

namespace z3fh::fuzz {

namespace {

Feedback g_feedback;

Harness* g_current = nullptr;  // for the fatal hook: what is running now
std::string g_schedule_path;   // record_schedule_on_exit

void write_schedule(const sched::Runtime& rt) {
    if (g_schedule_path.empty()) return;
    std::vector<uint8_t> bytes = rt.schedule().serialize();
    if (FILE* f = std::fopen(g_schedule_path.c_str(), "wb")) {
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
    }
}

DiagramInput diagram_input(const Harness& h, const std::string& finding, uint32_t page) {
    DiagramInput in;
    in.events = h.rt->trace().events();
    in.ops = h.ops;
    in.program_threads = h.prog->threads;
    in.finding = finding;
    in.page = page;
    in.after_run = h.run_ended;
    return in;
}

// The interleaving diagram (diagram.h), printed between two marker lines
// that z3fh-run copies into its result. Only when the whole trace was kept
// (replay): a fuzzing process's ring holds the tail only.
void print_diagram(Harness& h, const std::string& finding, uint32_t page) {
    if (!h.rt || !h.full_trace || h.diagram_printed) return;
    h.diagram_printed = true;
    DiagramInput in = diagram_input(h, finding, page);
    std::fprintf(stderr, "==z3fold== interleaving (a column a thread):\n");
    for (const std::string& line : interleaving_diagram(in)) std::fprintf(stderr, "%s\n", line.c_str());
    std::fprintf(stderr, "==z3fold== end of interleaving\n");
}

void print_context(Harness& h) {
    if (!h.rt || h.context_printed) return;
    h.context_printed = true;
    write_schedule(*h.rt);  // a finding ends the process: its decisions go to disk first
    // Z3FH_TRACE_TAIL=N prints more of the trace (replay uses the whole one).
    size_t tail = 32;
    if (const char* env = env_value(EnvKnob::trace_tail)) tail = std::strtoul(env, nullptr, 10);
    std::fprintf(stderr, "==z3fold== %s==z3fold== scheduling steps (last %zu):\n", to_text(*h.prog).c_str(), tail);
    std::vector<sched::TraceEvent> ev = h.rt->trace().events();
    for (size_t i = ev.size() > tail ? ev.size() - tail : 0; i < ev.size(); i++) {
        const sched::TraceEvent& e = ev[i];
        if (e.event == sync::Event::op_begin && e.cls == sync::ObjClass::harness) {
            // Name the operation instead of its number.
            size_t t = e.serial >> 8, k = e.serial & 0xff;
            std::string what = t < h.ops.size() && k < h.ops[t].size() ? op_text(h.ops[t][k]) : "?";
            std::fprintf(stderr, "step %5u  T%d  ---- op #%zu: %s%s\n", e.step, e.thread, k, what.c_str(),
                         e.preempted ? "   <- preempted" : "");
        } else {
            std::fprintf(stderr, "%s\n", sched::Trace::format(e).c_str());
        }
    }
}

// The outcome as a finding of the table: an invariant by its id, a run
// that ended wrong by its status.
Finding finding_of(const Outcome& o) {
    const FindingInfo* info = finding_by_name(o.invariant.empty() ? o.kind : o.invariant);
    return {info ? info->id : FindingId::check, "", 0, o.message, o.page, o.site};
}

[[noreturn]] void die_with_finding(Harness& h, const Outcome& o) {
    const Finding f = finding_of(o);
    print_finding_head(stderr, f);
    print_context(h);
    print_diagram(h, o.invariant.empty() ? o.kind : o.kind + " " + o.invariant, o.page);
    print_finding_tail(stderr, f);
    std::abort();
}

void fatal_hook(ErrorKind kind, const std::string&) {
    if (!g_current) return;
    print_context(*g_current);
    print_diagram(*g_current, finding_name(kind), 0);
}

#if defined(Z3FH_HAVE_SANITIZER_DEATH_CALLBACK) && !defined(Z3FH_TSAN)
void sanitizer_death() {
    if (!g_current) return;
    print_context(*g_current);
    print_diagram(*g_current, "sanitizer report", 0);
}
#endif
#if defined(Z3FH_HAVE_ASAN_REPORT_CALLBACK)
void asan_report(const char*) {
    if (!g_current) return;
    print_context(*g_current);
    print_diagram(*g_current, fmt::format("ASan: {}", __asan_get_report_description()), 0);
}
#endif

void step_hook(void* ctx, sched::Runtime&, const sched::Runtime::StepChanges& changes) {
    sync::TsanHidden hidden;  // the oracle reads everything
    auto& h = *static_cast<Harness*>(ctx);
    if (!h.check_every_step || h.in_check || h.out->found || h.destroying) return;
    // With skip_unchanged_steps the runtime calls this only after a step
    // that can have changed something (set_step_hook below).
    h.in_check = true;
    std::vector<ShadowFinding> v =
        h.skip_unchanged_steps ? h.shadow->check_step(step_scope(changes, h.slots)) : h.shadow->check_step();
    h.in_check = false;
    if (!v.empty()) record_finding(h, v[0]);
}

void switch_hook(void*, uint64_t from, uint64_t to) {
    if (g_feedback.on_switch) g_feedback.on_switch(from, to);
}

}  // namespace

// An invariant the checks found (the shadow model's or a validator's).
void record_finding(Harness& h, const ShadowFinding& f) {
    Outcome& o = *h.out;
    if (o.found) return;
    o.found = true;
    const FindingInfo* info = finding_by_name(f.invariant);
    const bool invariant = !info || info->cls == FindingClass::invariant;
    o.kind = invariant ? "invariant" : f.invariant;
    o.invariant = invariant ? f.invariant : "";
    o.site = f.site;
    o.message = f.message;
    o.page = f.page;
    // A finding the unpatched file is known to have, once every thread
    // ended: the pool is torn down as after any run, the process goes on.
    if (h.run_ended && h.known_findings && !h.known_findings->empty()) {
        const std::string sig = finding_signature(finding_of(o));
        o.known = std::find(h.known_findings->begin(), h.known_findings->end(), sig) != h.known_findings->end();
    }
    if (h.abort_on_finding && !o.known) die_with_finding(h, o);
}

void set_feedback(const Feedback& fb) { g_feedback = fb; }

namespace {
// A comma-separated list's non-empty entries (the knobs' list values).
std::vector<std::string> comma_list(const std::string& list) {
    std::vector<std::string> out;
    size_t at = 0;
    while (at < list.size()) {
        size_t comma = list.find(',', at);
        if (comma == std::string::npos) comma = list.size();
        if (comma > at) out.push_back(list.substr(at, comma - at));
        at = comma + 1;
    }
    return out;
}
}  // namespace

std::vector<std::string> known_findings_from_env() {
    const char* env = env_value(EnvKnob::known_findings);
    return comma_list(env ? env : "");
}


std::string turn_checks_off(const std::string& names, RunConfig* cfg) {
    for (const std::string& name : comma_list(names)) {
        if (name == "step") cfg->check_every_step = false;
        else if (name == "step-skip") cfg->skip_unchanged_steps = false;
        else if (name == "lock-order") cfg->lock_order = cfg->cross_run_lockdep = false;
        else if (name == "potential-deadlock") cfg->cross_run_lockdep = false;
        else if (name == "held-at-return") cfg->held_at_return = false;
        else if (name == "might-sleep") cfg->might_sleep = false;
        else
            return fmt::format("unknown checker '{}' (known: step, step-skip, lock-order, potential-deadlock, "
                               "held-at-return, might-sleep)",
                               name);
    }
    return "";
}

namespace {

sched::CrossRunLockOrder g_cross_run;
std::vector<std::vector<uint8_t>> g_cross_run_inputs;  // run id -> its program, encoded

Z3FH_INTENTIONAL_WRAP uint64_t fnv1a(const std::vector<uint8_t>& bytes) {  // FNV-1a multiplies modulo 2^64
    uint64_t h = 1469598103934665603ULL;
    for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ULL;
    return h;
}

// After a clean run: merge its lock-order edges into the process-wide
// graph; a cycle they close with other runs' edges is a finding.
void cross_run_check(Harness& h, const Program& prog, const sched::LockOrder& order, Outcome* out) {
    if (!g_cross_run.adds_edges(order)) return;  // nothing new: not kept as a witness either
    const int run = static_cast<int>(g_cross_run_inputs.size());
    std::optional<sched::CrossRunLockOrder::Cycle> cycle = g_cross_run.merge(order, run);
    g_cross_run_inputs.push_back(encode(prog));
    if (!cycle) return;
    const char* dir = env_value(EnvKnob::witness_dir);
    std::string message = cycle->report;
    int k = 0;
    for (int w : cycle->runs) {
        std::string path = std::string(dir && *dir ? dir : ".") + "/" + witness_file_name(prog, k++);
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
            const std::vector<uint8_t>& b = g_cross_run_inputs[static_cast<size_t>(w)];
            std::fwrite(b.data(), 1, b.size(), f);
            std::fclose(f);
        }
        message += fmt::format(" witness (run {}): {}", w, path);
    }
    out->found = true;
    out->kind = finding_name(FindingId::potential_deadlock);
    out->message = message;
    if (h.abort_on_finding) report_fatal(ErrorKind::potential_deadlock, cycle->at, message);
}

}  // namespace

void record_schedule_on_exit(const std::string& path) { g_schedule_path = path; }

std::string witness_file_name(const Program& prog, int k) {
    return fmt::format("witness-for-{:016x}-{}.z3fp", fnv1a(encode(prog)), k);
}

void run_witnesses_first(const std::vector<Program>& witnesses) {
    for (const Program& w : witnesses) {
        RunConfig cfg;
        cfg.abort_on_finding = false;
        cfg.cross_run_lockdep = true;
        (void)run_program(w, cfg);
    }
}

Outcome run_program(const Program& prog, const RunConfig& cfg) {
    Outcome out;
    Harness h;
    h.prog = &prog;
    h.out = &out;
    h.check_every_step = cfg.check_every_step;
    h.skip_unchanged_steps = cfg.skip_unchanged_steps;
    sync::set_lock_rule_checks({cfg.might_sleep, cfg.held_at_return});
    h.abort_on_finding = cfg.abort_on_finding;
    h.known_findings = &cfg.known_findings;
    // The per-thread operation lists keep their storage from run to run (a
    // fuzzing process runs one program after another on this OS thread).
    static thread_local std::vector<std::vector<Op>> ops_storage;
    h.ops = std::move(ops_storage);
    h.ops.resize(static_cast<size_t>(prog.threads));
    for (std::vector<Op>& v : h.ops) v.clear();
    for (const Op& op : prog.ops) h.ops[op.thread].push_back(op);

    // The strategies a fuzz input names are made in place, not on the heap;
    // the two with a 2.5 KiB generator outside this frame, which ASan
    // poisons and clears at every call.
    std::optional<sched::InputStrategy> input_strategy;
    static thread_local std::optional<sched::PctStrategy> pct_strategy;
    static thread_local std::optional<sched::RandomStrategy> random_strategy;
    std::unique_ptr<sched::Strategy> other_strategy;
    sched::Strategy* strategy = nullptr;
    if (cfg.strategy == "replay" && cfg.replay) {
        other_strategy = std::make_unique<sched::ReplayStrategy>(*cfg.replay);
        strategy = other_strategy.get();
    } else if (cfg.strategy == "input" && prog.schedule_kind == fuzz::ScheduleKind::pct) {
        // The input names a PCT schedule (depth, seed): randomized, yet a
        // function of the input, so it replays exactly.
        fuzz::PctParams pp = prog.pct_params();
        strategy = &pct_strategy.emplace(pp.seed, pp.depth, pp.steps);
    } else if (cfg.strategy == "input" && prog.schedule_kind == fuzz::ScheduleKind::random) {
        strategy = &random_strategy.emplace(prog.pct_params().seed, 4);
    } else if (cfg.strategy != "input") {
        other_strategy = sched::make_strategy(cfg.strategy, cfg.seed, prog.schedule.data(), prog.schedule.size());
        strategy = other_strategy.get();
    }
    if (!strategy) strategy = &input_strategy.emplace(prog.schedule.data(), prog.schedule.size());

    sched::Runtime rt(*strategy, sched::RunOptions{cfg.max_steps, cfg.trace_ring, cfg.lock_order});
    h.rt = &rt;
    h.full_trace = cfg.trace_ring == 0;
    g_current = &h;
    set_fatal_hook(&fatal_hook);
#if defined(Z3FH_HAVE_SANITIZER_DEATH_CALLBACK) && !defined(Z3FH_TSAN)
    // Not under TSan: its Die() runs the callback with the runtime's own
    // locks held, and the context print allocates: a deadlock inside TSan
    // (seen on kernel-target races). A TSan report names the race's stacks;
    // the steps come from replaying the input under ASan.
    if (cfg.sanitizer_death_callback) __sanitizer_set_death_callback(&sanitizer_death);
#endif
#if defined(Z3FH_HAVE_ASAN_REPORT_CALLBACK)
    // ASan's report hook chains with libFuzzer (which uses the death callback).
    __asan_set_error_report_callback(&asan_report);
#endif
    sync::install_runtime(&rt);
    // Program threads first, so they are T0..Tn-1; the pool's workers follow.
    std::array<ThreadCtx, static_cast<size_t>(kMaxThreads)> ctx{};
    for (int t = 0; t < prog.threads; t++) {
        ctx[static_cast<size_t>(t)] = {&h, t};
        rt.spawn("T" + std::to_string(t), &thread_body, &ctx[static_cast<size_t>(t)], 0);
    }
    h.pool = make_target(prog.vcpus, &evict, &h);
    h.shadow.emplace(*h.pool, h.slots);
    // zram is zsmalloc's user only: elsewhere a zram program's user is the
    // broad zpool user.
    if (prog.user == UserKind::zram && std::string(h.pool->allocator()) == "zsmalloc")
        h.zswap = make_zram_user(
            *h.pool, h.slots, prog, [](void* self, const ShadowFinding& f) { record_finding(*static_cast<Harness*>(self), f); },
            &h);
    else if (prog.user == UserKind::zswap)
        h.zswap = make_zswap_user(
            *h.pool, h.slots, prog, [](void* self, const ShadowFinding& f) { record_finding(*static_cast<Harness*>(self), f); },
            &h);
    rt.set_step_hook(&step_hook, &h, cfg.skip_unchanged_steps);
    rt.set_switch_hook(&switch_hook, nullptr);

    sched::RunResult r = rt.run();
    h.run_ended = true;
    out.status = r.status;
    out.steps = r.steps;
    out.preemptions = r.preemptions;
    out.schedule = rt.schedule();
    write_schedule(rt);

    if (!out.found && r.status != sched::RunStatus::completed) {
        out.found = true;
        out.kind = sched::run_status_name(r.status);
        out.message = r.report;
        if (h.abort_on_finding && r.status != sched::RunStatus::stale_schedule) die_with_finding(h, out);
    }
    if (!out.found && h.destroying && r.status == sched::RunStatus::completed) {
        const TargetCounts& c = h.after_destroy;
        if (!c.leftovers.empty())
            record_finding(h, leak_finding(c.leftovers, "after the pool was destroyed"));
        else if (c.pages_nr != 0 || c.live_pages != 0 || c.live_slots != 0)
            record_finding(h,
                           {finding_name(FindingId::leak_at_destroy), 0,
                            fmt::format("after the pool was destroyed: pages_nr {}, live pages {}, live slots objects {}",
                                        c.pages_nr, c.live_pages, c.live_slots)});
    } else if (!out.found) {
        std::vector<ShadowFinding> v = h.shadow->check_at_rest();
        if (!v.empty()) record_finding(h, v[0]);
    }
    if (cfg.cross_run_lockdep && !out.found && r.status == sched::RunStatus::completed)
        cross_run_check(h, prog, rt.lock_order(), &out);

    if (cfg.depth_counters && r.status == sched::RunStatus::completed) {
        sync::TsanHidden hidden;
        out.depth = h.pool->depth_counters();
        if (h.zswap)
            for (auto& c : h.zswap->depth_counters()) out.depth.push_back(c);
    }
    if (r.status == sched::RunStatus::completed && h.zswap) {
        h.zswap->drain();
        h.zswap.reset();
    } else {
        (void)h.zswap.release();  // its queue's worker was abandoned with the run
    }
    if (r.status == sched::RunStatus::completed && h.destroying) {
        h.pool.reset();  // destroyed by the program already: what is left goes
    } else if (r.status == sched::RunStatus::completed) {
        // Teardown in the main context: free every object, drain, destroy.
        for (SlotState& st : h.slots)
            if (st.state == SlotState::State::live) h.pool->free(st.handle);
        h.pool->drain();
        if (!out.found) {
            std::vector<ShadowFinding> v = h.shadow->check_teardown();
            if (!v.empty()) record_finding(h, v[0]);
        }
        if (!out.found) {
            // The pool's own destroy: what it leaves allocated is a leak.
            const TargetCounts c = h.pool->destroy_now();
            if (!c.leftovers.empty()) record_finding(h, leak_finding(c.leftovers, "after the pool was destroyed"));
        }
        h.pool.reset();
    } else {
        // Threads were abandoned mid-operation: the pool is not consistent
        // enough to free; leak it (the process reports and exits anyway).
        (void)h.pool.release();
    }
    // Formatting is for a person: a finding (teardown's included), or a
    // whole-trace run (replay, tests). Clean fuzz runs skip it (7% of an exec).
    if (out.found || cfg.trace_ring == 0) out.trace = rt.trace().format_tail(cfg.trace_ring ? cfg.trace_ring : 1u << 30);
    if (out.found && h.full_trace) out.diagram = interleaving_diagram(diagram_input(h, out.invariant.empty() ? out.kind : out.kind + " " + out.invariant, out.page));
    sync::set_lock_rule_checks({});  // back to every check on, for whoever runs next
    sync::install_runtime(nullptr);
    set_fatal_hook(nullptr);
    g_current = nullptr;
    ops_storage = std::move(h.ops);
    return out;
}

}  // namespace z3fh::fuzz
