// Regression test exported by `z3fh export-test`.
// Found: warn-on@pool.cpp:537 with mutant migrated-header-used
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
        {OpKind::alloc, 0, 0x58},  // T0: alloc  slot 0 size 640
        {OpKind::write, 0, 0x01},  // T0: write  slot 1
        {OpKind::alloc, 0, 0x59},  // T0: alloc  slot 1 size 640
        {OpKind::migrate, 1, 0x00},  // T1: migrateslot 0
        {OpKind::verify, 2, 0x01},  // T2: verify slot 1
        {OpKind::write, 2, 0x01},  // T2: write  slot 1
    };
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 40, .to = 0},  // keep the running thread 40 more decisions, then runnable #0
        {.after = 18, .to = 1},  // keep the running thread 18 more decisions, then runnable #1
        {.after = 7, .to = 0},  // keep the running thread 7 more decisions, then runnable #0
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(MigratedHeaderUsed, "migrated-header-used", "warn-on@pool.cpp:537")
