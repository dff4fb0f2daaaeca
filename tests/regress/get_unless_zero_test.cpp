// Regression test exported by `z3fh export-test`.
// Found: refcount@pool.cpp:376 with mutant get-unless-zero
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 3;
    p.vcpus = 1;
    p.evict_policy = 0x86;
    p.ops = {
        {OpKind::free, 0, 0xe6},  // T0: free   slot 6
        {OpKind::alloc, 0, 0x12},  // T0: alloc  slot 2 size 64
        {OpKind::reclaim, 0, 0x7e},  // T0: reclaim retries 7
        {OpKind::alloc, 1, 0xe6},  // T1: alloc  slot 6 size 1984
        {OpKind::free, 2, 0x12},  // T2: free   slot 2
    };
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 19, .to = 22},  // keep the running thread 19 more decisions, then runnable #22
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ReviewGetUnlessZero, "get-unless-zero", "refcount@pool.cpp:376")
