// z3fold-harden: the lock-order validator (lockdep's core rule) for the
// controlled runtime. Locks are grouped by class (pool lock, page lock,
// slots lock, ...); taking class B while holding class A records the edge
// A -> B with where each was taken. An edge that closes a cycle is a
// finding at once, whether or not this run deadlocked: some other
// interleaving of the same code paths can.
//
// As lockdep does: a trylock adds no edge into the lock it takes (it cannot
// block), though locks taken while holding it do; nesting within one class
// (two page locks) is not ordered here (lockdep needs subclass annotations
// for it; z3fold takes a second page lock only with trylock).
#pragma once
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "sync/event.h"

namespace z3fh::sched {

class LockOrder {
public:
    struct Held {
        sync::ObjectId obj;
        sync::SrcLoc loc;
    };
    // Thread `thread` takes `obj` at `loc` holding `held` (oldest first).
    // Returns a report when the new edges close a cycle.
    std::optional<std::string> acquired(int thread, const std::vector<Held>& held, sync::ObjectId obj, sync::SrcLoc loc,
                                        bool trylock);
    void reset();

    static constexpr size_t kClasses = 32;
    struct Edge {
        bool present = false;
        sync::SrcLoc held_at, taken_at;  // first witness
        int thread = -1;
        int run = -1;  // the run that recorded it (CrossRunLockOrder)
    };
    const Edge& edge(size_t from, size_t to) const { return edges_[from][to]; }
    bool reaches(size_t from, size_t to, std::vector<size_t>* path) const;
    std::string path_text(const std::vector<size_t>& path, bool by_run) const;
    // Add an edge another graph recorded; no check.
    void add(size_t from, size_t to, const Edge& e) { edges_[from][to] = e; }

private:
    std::array<std::array<Edge, kClasses>, kClasses> edges_{};
};

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
