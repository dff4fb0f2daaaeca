// z3fold-harden: lockdep for the controlled runtime: the per-run lock-order
// graph (sync/lock_order.h, shared with the native backend's validator)
// and the graph across the runs of one process.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "sync/lock_order.h"

namespace z3fh::sched {

using LockOrder = sync::LockOrder;

// Lockdep's graph lives for the whole boot, not one test: an order taken in
// one run and its opposite in another is the same deadlock waiting for an
// interleaving that runs both paths at once. This graph collects the edges
// of every run in a process (a fuzzing process, or a replay of a pair); an
// edge that closes a cycle with edges of other runs is a potential deadlock,
// witnessed by those runs' inputs.
class CrossRunLockOrder {
public:
    struct Cycle {
        std::string report;
        sync::SrcLoc at;        // where this run took the lock that closes it
        std::vector<int> runs;  // the other runs whose edges close it
    };
    // Merge the edges of run `run`; the first cycle it closes, if any.
    std::optional<Cycle> merge(const LockOrder& graph, int run);
    // Whether merging `graph` would add an edge (so the run is worth keeping as a witness).
    bool adds_edges(const LockOrder& graph) const;
    void reset() { graph_.reset(); }

private:
    LockOrder graph_;
};

}  // namespace z3fh::sched
