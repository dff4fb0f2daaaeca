// Regression test exported by `z3fh export-test`.
// Found: invariant:accounting-pages with mutant pages-nr-not-atomic
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 3;
    p.vcpus = 1;
    p.evict_policy = 0xba;
    p.ops = {
        {OpKind::alloc, 0, 0x6d},  // T0: alloc  slot 5 size 1024
        {OpKind::free, 0, 0x50},  // T0: free   slot 0
        {OpKind::compact, 0, 0xf5},  // T0: compactslot 5
        {OpKind::set_vcpu, 0, 0xc5},  // T0: set_vcpu 197
        {OpKind::write, 0, 0xd1},  // T0: write  slot 1
        {OpKind::write, 0, 0x10},  // T0: write  slot 0
        {OpKind::write, 0, 0xd0},  // T0: write  slot 0
        {OpKind::write, 1, 0xcc},  // T1: write  slot 4
        {OpKind::set_vcpu, 1, 0x32},  // T1: set_vcpu 50
        {OpKind::yield, 1, 0x3d},  // T1: yield
        {OpKind::compact, 1, 0xb9},  // T1: compactslot 1
        {OpKind::free, 1, 0xf4},  // T1: free   slot 4
        {OpKind::alloc, 2, 0x43},  // T2: alloc  slot 3 size 320
        {OpKind::reclaim, 2, 0x53},  // T2: reclaim retries 4
    };
    p.schedule = z3fh::fuzz::seeded_schedule(/* depth 3 */ 2, /* seed */ 0x6e0c5577);
    p.schedule_kind = z3fh::fuzz::ScheduleKind::pct;  // a PCT interleaving
    return p;
}

}  // namespace

Z3FH_REGRESSION(PagesNrNotAtomic, "pages-nr-not-atomic", "invariant:accounting-pages")
