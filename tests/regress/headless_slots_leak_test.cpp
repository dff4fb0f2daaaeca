// Regression test exported by `z3fh export-test`.
// Found: invariant:slots-accounting with mutant headless-slots-leak
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0xc6;
    p.ops = {
        {OpKind::alloc, 0, 0xd5},  // T0: alloc  slot 5 size 4095
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(HeadlessSlotsLeak, "headless-slots-leak", "invariant:slots-accounting")
