// z3fold-harden: the lock-order graph (lockdep's core rule), shared by the
// controlled runtime (per run, fuzz/sched/lockdep.h) and the native
// backend's optional validator (real threads, in tests). Locks are grouped
// by class (pool lock, page lock, slots lock, ...); taking class B while
// holding class A records the edge A -> B with where each was taken. An
// edge that closes a cycle is a finding at once, whether or not this run
// deadlocked: some other interleaving of the same code paths can.
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

namespace z3fh::sync {

class LockOrder {
public:
    struct Held {
        ObjectId obj;
        SrcLoc loc;
    };
    // Thread `thread` takes `obj` at `loc` holding `held` (oldest first).
    // Returns a report when the new edges close a cycle.
    std::optional<std::string> acquired(int thread, const std::vector<Held>& held, ObjectId obj, SrcLoc loc,
                                        bool trylock);
    void reset();

    static constexpr size_t kClasses = 32;
    struct Edge {
        bool present = false;
        SrcLoc held_at, taken_at;  // first witness
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

// The name of lock class `c` in reports.
std::string lock_class_name(size_t c);

}  // namespace z3fh::sync
