// Regression test exported by `z3fh export-test`.
// Hand-written (tests/regress/handwritten-under-reclaim-bit.z3fp): the shortest program for review #3:
// T0 frees while T1's reclaim sets PAGE_CLAIMED under the pool lock.
// Found: refcount@reclaim.cpp:62 with mutant under-reclaim-bit
// The program runs under the input strategy: each schedule pair
// (delay, target) keeps the current thread for `delay` decisions, then
// switches to runnable thread #target.
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
    p.schedule = {14, 1};
    return p;
}

}  // namespace

Z3FH_REGRESSION(HandWrittenUnderReclaimBit, "under-reclaim-bit")
