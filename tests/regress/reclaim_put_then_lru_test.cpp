// Regression test exported by `z3fh export-test`.
// Found: invariant:listed-page-zero-ref with mutant reclaim-put-then-lru
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

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
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ReviewReclaimPutThenLru, "reclaim-put-then-lru", "invariant:listed-page-zero-ref")
