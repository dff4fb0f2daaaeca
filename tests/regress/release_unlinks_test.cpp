// Regression test exported by `z3fh export-test`.
// Found: lock-not-held@lifetime.cpp:66 with mutant release-unlinks
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0x46;
    p.ops = {
        {OpKind::alloc, 0, 0x1b},  // T0: alloc  slot 3 size 65
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION(ReviewReleaseUnlinks, "release-unlinks", "lock-not-held@lifetime.cpp:66")
