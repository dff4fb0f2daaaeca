// Regression test exported by `z3fh export-test`.
// Hand-written (tests/regress/handwritten-get-unless-zero.z3fp): the shortest program for review #2:
// T0 frees the only object of a page and is preempted at the pool lock its
// last put takes; T1's lookup takes a reference under the pool lock alone.
// Found: refcount@pool.cpp:376 with mutant get-unless-zero
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
        {OpKind::alloc, 1, 0x11},  // T1: alloc  slot 1 size 64
    };
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 27, .to = 1},  // keep the running thread 27 more decisions, then runnable #1
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(HandWrittenGetUnlessZero, "get-unless-zero", "refcount@pool.cpp:376")
