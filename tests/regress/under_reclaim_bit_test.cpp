// Regression test exported by `z3fh export-test`.
// Found: refcount@reclaim.cpp:62 with mutant under-reclaim-bit
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

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
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 14, .to = 14},  // keep the running thread 14 more decisions, then runnable #14
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ReviewUnderReclaimBit, "under-reclaim-bit", "refcount@reclaim.cpp:62")
