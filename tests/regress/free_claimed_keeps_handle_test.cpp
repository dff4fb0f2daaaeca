// Regression test exported by `z3fh export-test`.
// Found: invariant:slots-accounting with mutant free-claimed-keeps-handle
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 3;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.ops = {
        {OpKind::alloc, 0, 0xa0},  // T0: alloc  slot 0 size 3500
        {OpKind::destroy, 0, 0xcc},  // T0: destroy the pool (last op of its thread: once the others are done)
        {OpKind::alloc, 0, 0x21},  // T0: alloc  slot 1 size 100
        {OpKind::alloc, 0, 0x20},  // T0: alloc  slot 0 size 100
        {OpKind::migrate, 1, 0x01},  // T1: migrateslot 1
        {OpKind::migrate, 1, 0x01},  // T1: migrateslot 1
        {OpKind::free, 2, 0x00},  // T2: free   slot 0
    };
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 65, .to = 0},  // keep the running thread 65 more decisions, then runnable #0
        {.after = 4, .to = 2},  // keep the running thread 4 more decisions, then runnable #2
        {.after = 41, .to = 1},  // keep the running thread 41 more decisions, then runnable #1
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(FreeClaimedKeepsHandle, "free-claimed-keeps-handle", "invariant:slots-accounting")
