// z3fold-harden: z3fold's own invariants at rest (the shadow model's
// allocator tier for z3fold), on the port and on the kernel's z3fold.c
// alike: every page on the LRU where the pool has one, no page claimed,
// compacting, stale, migrated or mapped, the kref equal to the objects, the
// page on unbuddied[cpu][its free chunks] (a full one on none), foreign
// handles counted, and the slots objects exactly those live handles and
// pages use.
#pragma once
#include <vector>

#include "target/target.h"

namespace z3fh::fuzz {

void z3fold_check_at_rest(TargetPool& target, const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                          std::vector<Violation>& out);

}  // namespace z3fh::fuzz
