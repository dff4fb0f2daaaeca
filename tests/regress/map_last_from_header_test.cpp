// Regression test exported by `z3fh export-test`.
// Found: invariant:map-address with mutant map-last-from-header
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.evict_policy = 0xda;
    p.ops = {
        {OpKind::alloc, 0, 0x46},  // T0: alloc  slot 6 size 320
        {OpKind::alloc, 0, 0x1d},  // T0: alloc  slot 5 size 65
        {OpKind::reclaim, 0, 0x10},  // T0: reclaim retries 1
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(MapLastFromHeader, "map-last-from-header", "invariant:map-address")
