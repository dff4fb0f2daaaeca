// Regression test exported by `z3fh export-test`.
// Found: might-sleep@pool.cpp:244 with mutant lazy-slots-may-sleep
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.evict_policy = 0xe9;
    p.ops = {
        {OpKind::alloc, 0, 0x8c},  // T0: alloc  slot 4 size 2048
        {OpKind::reclaim, 0, 0x74},  // T0: reclaim retries 5
        {OpKind::alloc, 0, 0xe6},  // T0: alloc  slot 6 size 1984
        {OpKind::alloc, 0, 0xe3},  // T0: alloc  slot 3 size 1984
        {OpKind::alloc, 0, 0x21},  // T0: alloc  slot 1 size 100
        {OpKind::free, 0, 0x1b},  // T0: free   slot 3
        {OpKind::alloc, 0, 0xe0},  // T0: alloc  slot 0 size 1984
        {OpKind::reclaim, 0, 0x08},  // T0: reclaim retries 1
        {OpKind::alloc, 0, 0x18},  // T0: alloc  slot 0 size 65
    };
    p.schedule = z3fh::fuzz::seeded_schedule(/* depth 1 */ 93, /* seed */ 0xf88ec9ff);
    p.schedule_kind = z3fh::fuzz::ScheduleKind::pct;  // a PCT interleaving
    return p;
}

}  // namespace

Z3FH_REGRESSION(LazySlotsMaySleep, "lazy-slots-may-sleep", "might-sleep@pool.cpp:244")
