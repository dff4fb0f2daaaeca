// Regression test exported by `z3fh export-test`.
// Found: leak@Pool::alloc<-fuzz::PortTarget::alloc with mutant destroy-release-first: the
// pool destroy drains release work before compaction work, which frees the
// page and queues release work again; the page is left. The leak is signed
// by the symbolized allocation site, so only a tree with a sanitizer runtime (asan or ubsan) checks
// the exact signature.
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {

using z3fh::fuzz::OpKind;

z3fh::fuzz::Program program() {
    z3fh::fuzz::Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0x00;
    p.ops = {
        {OpKind::alloc, 0, 0x40},  // T0: alloc  slot 0 size 320
        {OpKind::alloc, 0, 0x22},  // T0: alloc  slot 2 size 100
    };
    p.schedule = z3fh::fuzz::preemptions({
    });
    return p;
}

}  // namespace

Z3FH_REGRESSION_UNDER(DestroyReleaseFirstLeak, "destroy-release-first", "ubsan", "leak@Pool::alloc<-fuzz::PortTarget::alloc")
