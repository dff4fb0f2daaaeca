// Regression test exported by `z3fh export-test`.
// Found: refcount@pool.cpp:376 with mutant get-unless-zero
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
    p.threads = 3;
    p.vcpus = 1;
    p.evict_policy = 0x86;
    p.ops = {
        {OpKind::free, 0, 0xe6},  // T0: free   slot 6
        {OpKind::alloc, 0, 0x12},  // T0: alloc  slot 2 size 64
        {OpKind::reclaim, 0, 0x7e},  // T0: reclaim retries 7
        {OpKind::alloc, 1, 0xe6},  // T1: alloc  slot 6 size 1984
        {OpKind::free, 2, 0x12},  // T2: free   slot 2
    };
    p.schedule = {19, 22};
    return p;
}

z3fh::fuzz::Outcome run(bool abort_on_finding) {
    z3fh::fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return z3fh::fuzz::run_program(program(), cfg);
}

}  // namespace

// On the correct allocator the program runs clean.
TEST(Regress, ReviewGetUnlessZero) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, ReviewGetUnlessZero_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("get-unless-zero");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
