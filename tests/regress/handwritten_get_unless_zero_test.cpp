// Regression test exported by `z3fh export-test`.
// Hand-written (tests/regress/handwritten-get-unless-zero.z3fp): the shortest program for review #2:
// T0 frees the only object of a page and is preempted at the pool lock its
// last put takes; T1's lookup takes a reference under the pool lock alone.
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
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.ops = {
        {OpKind::alloc, 0, 0x10},  // T0: alloc  slot 0 size 64
        {OpKind::free, 0, 0x00},  // T0: free   slot 0
        {OpKind::alloc, 1, 0x11},  // T1: alloc  slot 1 size 64
    };
    p.schedule = {27, 1};
    return p;
}

z3fh::fuzz::Outcome run(bool abort_on_finding) {
    z3fh::fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return z3fh::fuzz::run_program(program(), cfg);
}

}  // namespace

// On the correct allocator the program runs clean.
TEST(Regress, HandWrittenGetUnlessZero) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, HandWrittenGetUnlessZero_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("get-unless-zero");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
