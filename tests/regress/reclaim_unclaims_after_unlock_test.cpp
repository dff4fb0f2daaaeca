// Regression test exported by `z3fh export-test`.
// Found: invariant:claimed-page-listed with mutant reclaim-unclaims-after-unlock
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0xdb;
    p.ops = {
        {OpKind::alloc, 0, 0xa9},  // T0: alloc  slot 1 size 3840
        {OpKind::reclaim, 0, 0xe9},  // T0: reclaim retries 2
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ReclaimUnclaimsAfterUnlock, "reclaim-unclaims-after-unlock", "invariant:claimed-page-listed")
