// Regression test exported by `z3fh export-test`.
// Found: invariant:unbuddied-index with mutant failed-reclaim-not-unbuddied
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x55;
    p.ops = {
        {OpKind::alloc, 0, 0x21},  // T0: alloc  slot 1 size 100
        {OpKind::reclaim, 1, 0x03},  // T1: reclaim retries 4
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(FailedReclaimNotUnbuddied, "failed-reclaim-not-unbuddied", "invariant:unbuddied-index")
