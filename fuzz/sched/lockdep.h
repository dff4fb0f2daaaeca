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

private:
    static constexpr size_t kClasses = 32;
    struct Edge {
        bool present = false;
        sync::SrcLoc held_at, taken_at;  // first witness
        int thread = -1;
    };
    bool reaches(size_t from, size_t to, std::vector<size_t>* path) const;
    std::array<std::array<Edge, kClasses>, kClasses> edges_{};
};

}  // namespace z3fh::sched
