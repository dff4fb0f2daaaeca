// The runner: seeds run clean on the correct allocator, runs are
// deterministic, the evict callback keeps the zpool contract, and the
// minimiser and test export work on the hand-written review reproducers.
#include <gtest/gtest.h>

#include <cstdio>

#include "finding.h"
#include "harness/runner.h"
#include "run/driver.h"

namespace z3fh::fuzz {
namespace {

RunConfig quiet() {
    RunConfig c;
    c.abort_on_finding = false;
    return c;
}

TEST(Runner, SeedCorpusRunsClean) {
    for (const Program& p : run::seed_programs(48)) {
        Outcome o = run_program(p, quiet());
        ASSERT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message << "\n" << to_text(p);
        ASSERT_EQ(o.status, sched::RunStatus::completed);
    }
}

TEST(Runner, SameInputSameScheduleSameTrace) {
    RunConfig c = quiet();
    c.trace_ring = 0;
    for (const Program& p : run::seed_programs(12)) {
        Outcome a = run_program(p, c), b = run_program(p, c);
        ASSERT_EQ(a.schedule, b.schedule);
        ASSERT_EQ(a.trace, b.trace);
        ASSERT_EQ(a.steps, b.steps);
    }
}

// A PCT-kind input is one randomized interleaving named by its bytes: the
// same bytes give the same run, other seeds give other runs.
TEST(Runner, PctScheduleIsAFunctionOfTheInput) {
    RunConfig c = quiet();
    c.trace_ring = 0;
    Program p;
    for (const Program& s : run::seed_programs(48))
        if (s.schedule_kind == ScheduleKind::pct && s.threads == 3) p = s;
    ASSERT_EQ(p.schedule_kind, ScheduleKind::pct);
    Outcome a = run_program(p, c), b = run_program(p, c);
    EXPECT_EQ(a.schedule, b.schedule);
    EXPECT_EQ(a.trace, b.trace);
    int differ = 0;
    for (uint8_t seed = 1; seed <= 8; seed++) {
        Program q = p;
        q.schedule[1] = static_cast<uint8_t>(q.schedule[1] + seed);
        differ += run_program(q, c).trace != a.trace;
    }
    EXPECT_GE(differ, 4) << "PCT seeds should choose different interleavings";
}

TEST(Runner, ReplayStrategyFollowsARecordedSchedule) {
    RunConfig c = quiet();
    c.trace_ring = 0;
    Program p = run::seed_programs(2)[1];
    Outcome rec = run_program(p, c);
    RunConfig r = c;
    r.strategy = "replay";
    r.replay = &rec.schedule;
    Outcome rep = run_program(p, r);
    EXPECT_EQ(rep.status, sched::RunStatus::completed);
    EXPECT_EQ(rep.trace, rec.trace);
}

TEST(Runner, RandomAndPctStrategiesRunClean) {
    for (const char* s : {"random", "pct"}) {
        RunConfig c = quiet();
        c.strategy = s;
        for (uint64_t seed = 0; seed < 20; seed++) {
            c.seed = seed;
            for (const Program& p : run::seed_programs(6)) {
                Outcome o = run_program(p, c);
                ASSERT_FALSE(o.found) << s << " seed " << seed << ": " << o.invariant << " " << o.message;
            }
        }
    }
}

TEST(Runner, EveryOperationKindRuns) {
    Program p;
    p.threads = 2;
    p.vcpus = 2;
    p.evict_policy = 0xe4;  // every evict behaviour in turn
    for (int k = 0; k < static_cast<int>(OpKind::count); k++)
        for (int t = 0; t < 2; t++) p.ops.push_back({static_cast<OpKind>(k), static_cast<uint8_t>(t), static_cast<uint8_t>(0x40 + k)});
    Outcome o = run_program(p, quiet());
    EXPECT_FALSE(o.found) << o.message;
    EXPECT_GT(o.steps, 20u);
}

TEST(Runner, ExportedTestSpellsTheProgram) {
    Program p = run::seed_programs(2)[1];
    std::string src = run::export_test_source(p, "Sample", "reclaim-put-then-lru", "invariant:x");
    EXPECT_NE(src.find("Z3FH_REGRESSION(Sample, \"reclaim-put-then-lru\", \"invariant:x\")"), std::string::npos);
    EXPECT_NE(src.find("OpKind::reclaim"), std::string::npos);
    EXPECT_NE(src.find("// T1: reclaim retries"), std::string::npos);
    EXPECT_EQ(src.find("0x5a, 0x33"), std::string::npos) << "no byte array";
    EXPECT_EQ(src.find("p.schedule = {"), std::string::npos) << "no schedule byte array";
    EXPECT_NE(src.find("{.after = 2, .to = 1},  // keep the running thread 2 more decisions, then runnable #1"),
              std::string::npos);
}

// A finding only a sanitizer reports names it, so that its death test runs
// only in a tree built with that sanitizer.
TEST(Runner, ExportedSanitizerFindingNamesItsSanitizer) {
    Program p = run::seed_programs(2)[1];
    auto macro_of = [&](const std::string& sig) {
        std::string src = run::export_test_source(p, "S", "m", sig);
        return src.substr(src.rfind("Z3FH_REGRESSION"));
    };
    EXPECT_EQ(macro_of("sanitizer:heap-use-after-free@z3fh::Pool::free"),
              "Z3FH_REGRESSION_UNDER(S, \"m\", \"asan\", \"sanitizer:heap-use-after-free@z3fh::Pool::free\")\n");
    EXPECT_EQ(macro_of("ubsan@handle.cpp"), "Z3FH_REGRESSION_UNDER(S, \"m\", \"ubsan\", \"ubsan@handle.cpp\")\n");
    const std::string race = run::signature_of("WARNING: ThreadSanitizer: data race (pid=7)\n"
                                               "  Write of size 4 at 0x1 by main thread:\n");
    EXPECT_EQ(race, "tsan:data-race");
    EXPECT_EQ(macro_of(race), "Z3FH_REGRESSION_UNDER(S, \"m\", \"tsan\", \"tsan:data-race\")\n");
    EXPECT_EQ(macro_of(run::signature_of("WARNING: ThreadSanitizer: heap-use-after-free (pid=7)\n")),
              "Z3FH_REGRESSION_UNDER(S, \"m\", \"tsan\", \"tsan:heap-use-after-free\")\n");
    EXPECT_EQ(macro_of("invariant:unbuddied-index"), "Z3FH_REGRESSION(S, \"m\", \"invariant:unbuddied-index\")\n");
    EXPECT_EQ(macro_of("might-sleep@pool.cpp:244"), "Z3FH_REGRESSION(S, \"m\", \"might-sleep@pool.cpp:244\")\n");
}

// A potential deadlock is exported with its witness runs, which the test
// runs first with the lock-order graph kept across runs.
TEST(Runner, ExportedPotentialDeadlockCarriesItsWitnesses) {
    std::vector<Program> seeds = run::seed_programs(3);
    std::string src = run::export_test_source(seeds[1], "Pair", "none", "potential-deadlock", {seeds[0], seeds[2]});
    EXPECT_NE(src.find("Z3FH_REGRESSION_WITH_WITNESSES(Pair, \"none\", \"potential-deadlock\")"), std::string::npos);
    EXPECT_NE(src.find("z3fh::fuzz::Program program() {"), std::string::npos);
    EXPECT_NE(src.find("z3fh::fuzz::Program witness_0() {"), std::string::npos);
    EXPECT_NE(src.find("z3fh::fuzz::Program witness_1() {"), std::string::npos);
    EXPECT_NE(src.find("return {witness_0(), witness_1()};"), std::string::npos);
    EXPECT_EQ(run::export_test_source(seeds[1], "One", "none", "x").find("witness"), std::string::npos);
}

TEST(Runner, ExportedScheduleStepsRebuildTheSameBytes) {
    EXPECT_EQ(fuzz::preemptions({{2, 1}, {3, 0}}), (std::vector<uint8_t>{2, 1, 3, 0}));
    EXPECT_EQ(fuzz::seeded_schedule(7, 0x04030201), (std::vector<uint8_t>{7, 1, 2, 3, 4}));
    Program p = run::seed_programs(2)[1];
    p.schedule_kind = fuzz::ScheduleKind::random;
    p.schedule = {7, 1, 2, 3, 4};
    std::string src = run::export_test_source(p, "Sample", "none", "invariant:x");
    EXPECT_NE(src.find("ScheduleKind::random"), std::string::npos);
    EXPECT_NE(src.find("seeded_schedule(/* depth 2 */ 7, /* seed */ 0x04030201)"), std::string::npos);
}

// What the one printer (checks/finding.h) writes for `f`, context between.
std::string printed(const Finding& f) {
    char buf[2048] = {};
    std::FILE* out = fmemopen(buf, sizeof buf - 1, "w");
    print_finding_head(out, f);
    std::fputs("==z3fold== scheduling steps ...\n", out);
    print_finding_tail(out, f);
    std::fclose(out);
    return buf;
}

TEST(Runner, SignaturesAreStable) {
    EXPECT_EQ(run::signature_of(printed({FindingId::unbuddied_index, "", 0, "page 2 ...", 2})), "invariant:unbuddied-index");
    EXPECT_EQ(run::signature_of(printed({FindingId::refcount, "/a/b/lifetime.cpp", 70, "x", 0})),
              "refcount@lifetime.cpp:70");
    // The text alone is for a person: the tools read the JSON line.
    EXPECT_EQ(run::signature_of("==z3fold== ERROR: invariant unbuddied-index: page 2 ..."), "crash");
    EXPECT_EQ(run::signature_of("==1==ERROR: AddressSanitizer: heap-use-after-free on address\n"
                                "    #0 0x1 in z3fh::list_add(x) /w/allocator/list.h:3\n"),
              "sanitizer:heap-use-after-free@z3fh::list_add");
    // The frame is the access's, never the allocation's.
    EXPECT_EQ(run::signature_of("==1==ERROR: AddressSanitizer: heap-buffer-overflow on address\n"
                                "    #0 0x1 in write_pattern /w/fuzz/harness/runner.cpp:9\n"
                                "0x2 is located 0 bytes to the right of 4096-byte region\n"
                                "allocated by thread T0 here:\n"
                                "    #1 0x3 in z3fh::PageSource::alloc_page() /w/allocator/page_source.cpp:5\n"),
              "sanitizer:heap-buffer-overflow");
    EXPECT_EQ(run::signature_of("/k/mm/z3fold.c:404:2: runtime error: member access within null pointer\n"),
              "ubsan@z3fold.c");
    EXPECT_EQ(run::signature_of("../../allocator/handle.cpp:74:12: runtime error: member access\n"), "ubsan@handle.cpp");
    EXPECT_EQ(run::signature_of(printed({FindingId::deadlock, "", 0, "every live thread is blocked", 0})), "deadlock");
}


// Fault injection: the program names an allocation to fail; the operation
// takes its -ENOMEM path, the model stays exact, and the trace says which
// allocation failed and where.
TEST(Runner, FailAllocTakesTheErrorPathAndTheTraceSaysWhere) {
    for (bool slots : {false, true}) {
        Program p = run::fault_injection_program(slots);
        RunConfig c = quiet();
        c.trace_ring = 0;
        Outcome o = run_program(p, c);
        EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
        EXPECT_EQ(o.status, sched::RunStatus::completed);
        EXPECT_NE(o.trace.find("fault_injected"), std::string::npos) << o.trace;
        EXPECT_NE(o.trace.find("pool.cpp"), std::string::npos) << "the failing allocation's caller";
        EXPECT_NE(to_text(p).find(slots ? "fail_alloc the 1st slots-object allocation" : "fail_alloc the 1st page allocation"),
                  std::string::npos);
    }
}


// Whole lifecycle: a thread destroys the pool while the compaction work its
// frees queued may still be pending; nothing may be left, and the run ends.
TEST(Runner, DestroyFromAThreadLeavesNothing) {
    int destroyed_runs = 0;
    for (uint64_t seed = 0; seed < 8; seed++) {
        Program p;
        p.threads = 2;
        p.vcpus = 2;
        p.ops = {{OpKind::alloc, 0, static_cast<uint8_t>((4 << 3) | 0)}, {OpKind::alloc, 0, static_cast<uint8_t>((4 << 3) | 1)},
                 {OpKind::alloc, 0, static_cast<uint8_t>((9 << 3) | 2)}, {OpKind::write, 0, 1},
                 {OpKind::free, 1, 0},  // queues compaction of the shared page
                 {OpKind::destroy, 1, 0}};
        p.schedule = {static_cast<uint8_t>(seed), 1};
        RunConfig c = quiet();
        c.trace_ring = 0;
        Outcome o = run_program(p, c);
        EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message << "\n" << o.trace;
        EXPECT_EQ(o.status, sched::RunStatus::completed);
        destroyed_runs += o.trace.find("destroy") != std::string::npos || o.trace.find("T1") != std::string::npos;
    }
    EXPECT_GT(destroyed_runs, 0);
}

TEST(Runner, CheckersTurnOffByNameAndUnknownNamesAreRefused) {
    RunConfig cfg;
    cfg.cross_run_lockdep = true;
    EXPECT_EQ(turn_checks_off("step,might-sleep", &cfg), "");
    EXPECT_FALSE(cfg.check_every_step);
    EXPECT_FALSE(cfg.might_sleep);
    EXPECT_TRUE(cfg.lock_order);
    EXPECT_TRUE(cfg.held_at_return);
    EXPECT_TRUE(cfg.cross_run_lockdep);
    EXPECT_EQ(turn_checks_off("lock-order,held-at-return,", &cfg), "");
    EXPECT_FALSE(cfg.lock_order);
    EXPECT_FALSE(cfg.cross_run_lockdep) << "the cross-run graph is built from the per-run one";
    EXPECT_FALSE(cfg.held_at_return);
    EXPECT_TRUE(cfg.skip_unchanged_steps);
    EXPECT_EQ(turn_checks_off("step-skip", &cfg), "");
    EXPECT_FALSE(cfg.skip_unchanged_steps);
    std::string error = turn_checks_off("step,lockdep", &cfg);
    EXPECT_NE(error.find("unknown checker 'lockdep'"), std::string::npos) << error;
}

// Scoping the per-step checks to what a step changed only drops checks that
// would pass: a run is the same run, step for step, either way.
TEST(Runner, ScopedStepChecksRunTheSameRunAsFullOnes) {
    RunConfig scoped = quiet(), full = quiet();
    scoped.trace_ring = full.trace_ring = 0;
    full.skip_unchanged_steps = false;
    for (const Program& p : run::seed_programs(48)) {
        Outcome a = run_program(p, scoped), b = run_program(p, full);
        ASSERT_FALSE(a.found || b.found) << a.invariant << b.invariant << "\n" << to_text(p);
        ASSERT_EQ(a.trace, b.trace);
        ASSERT_EQ(a.steps, b.steps);
    }
}

}  // namespace
}  // namespace z3fh::fuzz
