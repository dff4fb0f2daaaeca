// Regression test exported by `z3fh export-test`.
// Hand-written (tests/regress/handwritten-under-reclaim-bit.z3fp): the shortest program for review #3:
// T0 frees while T1's reclaim sets PAGE_CLAIMED under the pool lock.
// Found: refcount@reclaim.cpp:62 with mutant under-reclaim-bit
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

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
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 14, .to = 1},  // keep the running thread 14 more decisions, then runnable #1
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(HandWrittenUnderReclaimBit, "under-reclaim-bit", "refcount@reclaim.cpp:62")
