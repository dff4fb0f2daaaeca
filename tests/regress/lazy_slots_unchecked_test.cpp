// Regression test exported by `z3fh export-test`.
// Found: ubsan@handle.cpp with mutant lazy-slots-unchecked
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
        {OpKind::alloc, 0, 0x59},  // T0: alloc  slot 1 size 640
        {OpKind::write, 0, 0x01},  // T0: write  slot 1
        {OpKind::alloc, 0, 0x5a},  // T0: alloc  slot 2 size 640
        {OpKind::compact, 0, 0x01},  // T0: compactslot 1
        {OpKind::write, 0, 0x02},  // T0: write  slot 2
        {OpKind::free, 0, 0x50},  // T0: free   slot 0
        {OpKind::fail_alloc, 0, 0x81},  // T0: fail_alloc the 2nd slots-object allocation from here
        {OpKind::alloc, 0, 0xae},  // T0: alloc  slot 6 size 3840
        {OpKind::free, 0, 0x5a},  // T0: free   slot 2
        {OpKind::alloc, 0, 0x67},  // T0: alloc  slot 7 size 900
        {OpKind::alloc, 1, 0x58},  // T1: alloc  slot 0 size 640
        {OpKind::free, 1, 0x02},  // T1: free   slot 2
        {OpKind::alloc, 1, 0x5b},  // T1: alloc  slot 3 size 640
    };
    p.schedule = z3fh::fuzz::seeded_schedule(/* depth 1 */ 213, /* seed */ 0xb153296f);
    p.schedule_kind = z3fh::fuzz::ScheduleKind::random;  // a seeded random walk
    return p;
}

}  // namespace

Z3FH_REGRESSION_UNDER(LazySlotsUnchecked, "lazy-slots-unchecked", "ubsan", "ubsan@handle.cpp")
