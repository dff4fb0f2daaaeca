// z3fold-harden kernel shim: what the kernel file has allocated now (C++
// callers only: the kernel target), each with the site it was allocated at
// (checks/alloc_site.h): slab objects and pages in allocation order, and
// with `everything` also kzalloc blocks, per-CPU areas, caches and
// workqueues. Asked after the pool's destroy, every entry is a leak.
#pragma once
#include <vector>

#include "alloc_site.h"

std::vector<z3fh::Leftover> kshim_live_allocations(bool everything);
