// Regression test exported by `z3fh export-test`.
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
    p.threads = 3;
    p.vcpus = 1;
    p.evict_policy = 0x4a;
    p.ops = {
        {OpKind::alloc, 0, 0x96},  // T0: alloc  slot 6 size 2500
        {OpKind::free, 0, 0x96},  // T0: free   slot 6
        {OpKind::write, 1, 0x5e},  // T1: write  slot 6
        {OpKind::reclaim, 2, 0x10},  // T2: reclaim retries 1
    };
    p.schedule = {14, 14};
    return p;
}

z3fh::fuzz::Outcome run(bool abort_on_finding) {
    z3fh::fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return z3fh::fuzz::run_program(program(), cfg);
}

}  // namespace

// On the correct allocator the program runs clean.
TEST(Regress, ReviewUnderReclaimBit) {
    z3fh::fuzz::Outcome o = run(false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
// With the mutant it was found on, the same program must fail.
TEST(RegressDeathTest, ReviewUnderReclaimBit_FailsWithMutant) {
    EXPECT_DEATH(
        {
            z3fh::mutants::select("under-reclaim-bit");
            (void)run(true);  // a finding prints its report and aborts
        },
        "ERROR");
}
#endif
