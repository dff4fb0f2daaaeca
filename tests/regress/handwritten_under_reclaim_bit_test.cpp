// Regression test exported by `z3fh export-test`.
// Hand-written (tests/regress/handwritten-under-reclaim-bit.z3fp): the shortest program for review #3:
// T0 frees while T1's reclaim sets PAGE_CLAIMED under the pool lock.
// Found: refcount@reclaim.cpp:62 with mutant under-reclaim-bit
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
        {OpKind::reclaim, 1, 0x00},  // T1: reclaim retries 1
    };
    p.schedule = {14, 1};
    return p;
}

z3fh::fuzz::Outcome run(bool abort_on_finding) {
    z3fh::fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return z3fh::fuzz::run_program(program(), cfg);
}

}  // namespace

// On the correct allocator the program runs clean.
TEST(Regress, HandWrittenUnderReclaimBit) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, HandWrittenUnderReclaimBit_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("under-reclaim-bit");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
