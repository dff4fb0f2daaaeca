// Regression test exported by `z3fh export-test`.
// Found: lock-not-held@lifetime.cpp:66 with mutant release-unlinks
// The program below runs under the input strategy: each schedule pair
// (delay, target) keeps the current thread for `delay` decisions, then
// switches to runnable thread #target.
#include <gtest/gtest.h>

#include "harness/runner.h"
#include "mutants.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0x46;
    p.ops = {
        {OpKind::alloc, 0, 0x1b},  // T0: alloc  slot 3 size 65
    };
    p.schedule = {};
    return p;
}

z3fh::fuzz::Outcome run(bool abort_on_finding) {
    z3fh::fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return z3fh::fuzz::run_program(program(), cfg);
}

}  // namespace

// On the correct allocator the program runs clean.
TEST(Regress, ReviewReleaseUnlinks) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, ReviewReleaseUnlinks_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("release-unlinks");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
