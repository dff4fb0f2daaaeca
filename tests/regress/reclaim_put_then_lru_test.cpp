// Regression test exported by `z3fh export-test`.
// Found: invariant:listed-page-zero-ref with mutant reclaim-put-then-lru
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
    p.evict_policy = 0x43;
    p.ops = {
        {OpKind::alloc, 0, 0xe6},  // T0: alloc  slot 6 size 1984
        {OpKind::reclaim, 0, 0x04},  // T0: reclaim retries 5
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
TEST(Regress, ReviewReclaimPutThenLru) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, ReviewReclaimPutThenLru_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("reclaim-put-then-lru");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
