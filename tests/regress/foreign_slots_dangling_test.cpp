// Regression test exported by `z3fh export-test`.
// Finding 5 in docs/findings.md: a page kept a pointer to the slots object a
// foreign handle's free freed (heap-use-after-free before the fix).
// Found (before the fix): sanitizer:heap-use-after-free@z3fh::sync::RwLock::write_lock
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 3;
    p.vcpus = 2;
    p.evict_policy = 0x7f;
    p.ops = {
        {OpKind::write, 0, 0xf0},  // T0: write  slot 0
        {OpKind::write, 0, 0x00},  // T0: write  slot 0
        {OpKind::yield, 0, 0x60},  // T0: yield
        {OpKind::write, 0, 0x01},  // T0: write  slot 1
        {OpKind::alloc, 0, 0x4a},  // T0: alloc  slot 2 size 448
        {OpKind::free, 0, 0xdc},  // T0: free   slot 4
        {OpKind::write, 0, 0x02},  // T0: write  slot 2
        {OpKind::free, 0, 0x01},  // T0: free   slot 1
        {OpKind::verify, 0, 0x00},  // T0: verify slot 0
        {OpKind::free, 0, 0x00},  // T0: free   slot 0
        {OpKind::alloc, 0, 0x37},  // T0: alloc  slot 7 size 200
        {OpKind::yield, 0, 0x28},  // T0: yield
        {OpKind::write, 0, 0x18},  // T0: write  slot 0
        {OpKind::reclaim, 0, 0x47},  // T0: reclaim retries 8
        {OpKind::yield, 0, 0x57},  // T0: yield
        {OpKind::alloc, 0, 0x2b},  // T0: alloc  slot 3 size 128
        {OpKind::verify, 0, 0x6a},  // T0: verify slot 2
        {OpKind::alloc, 0, 0x32},  // T0: alloc  slot 2 size 200
        {OpKind::alloc, 0, 0x37},  // T0: alloc  slot 7 size 200
        {OpKind::alloc, 0, 0x2e},  // T0: alloc  slot 6 size 128
        {OpKind::yield, 0, 0xc5},  // T0: yield
        {OpKind::compact, 0, 0x5c},  // T0: compactslot 4
        {OpKind::alloc, 0, 0x31},  // T0: alloc  slot 1 size 200
        {OpKind::write, 0, 0x6e},  // T0: write  slot 6
        {OpKind::migrate, 0, 0xec},  // T0: migrateslot 4
        {OpKind::free, 0, 0x89},  // T0: free   slot 1
        {OpKind::migrate, 0, 0x3b},  // T0: migrateslot 3
        {OpKind::write, 1, 0xd3},  // T1: write  slot 3
        {OpKind::alloc, 1, 0x1a},  // T1: alloc  slot 2 size 65
        {OpKind::compact, 1, 0xba},  // T1: compactslot 2
        {OpKind::alloc, 1, 0xd1},  // T1: alloc  slot 1 size 4095
        {OpKind::alloc, 1, 0x1a},  // T1: alloc  slot 2 size 65
        {OpKind::alloc, 1, 0xab},  // T1: alloc  slot 3 size 3840
        {OpKind::write, 1, 0xbd},  // T1: write  slot 5
        {OpKind::alloc, 2, 0x32},  // T2: alloc  slot 2 size 200
    };
    p.schedule = z3fh::fuzz::preemptions({
        {.after = 8, .to = 14},  // keep the running thread 8 more decisions, then runnable #14
        {.after = 15, .to = 22},  // keep the running thread 15 more decisions, then runnable #22
        {.after = 17, .to = 21},  // keep the running thread 17 more decisions, then runnable #21
        {.after = 0, .to = 0},  // keep the running thread 0 more decisions, then runnable #0
        {.after = 0, .to = 109},  // keep the running thread 0 more decisions, then runnable #109
        {.after = 21, .to = 21},  // keep the running thread 21 more decisions, then runnable #21
        {.after = 46, .to = 159},  // keep the running thread 46 more decisions, then runnable #159
        {.after = 0, .to = 4},  // keep the running thread 0 more decisions, then runnable #4
        {.after = 195, .to = 21},  // keep the running thread 195 more decisions, then runnable #21
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ForeignSlotsDangling, "none", "")
