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
#include <cstdint>
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
    bool has(size_t from, size_t to) const { return (present_[from] >> to) & 1u; }
    // The edge from -> to; one with present == false if there is none.
    const Edge& edge(size_t from, size_t to) const { return has(from, to) ? table_.edges[from][to] : kNoEdge; }
    // Bit b set: the edge from -> b is present.
    uint32_t successors(size_t from) const { return present_[from]; }
    bool reaches(size_t from, size_t to, std::vector<size_t>* path) const;
    std::string path_text(const std::vector<size_t>& path, bool by_run) const;
    // Add an edge another graph recorded; no check.
    void add(size_t from, size_t to, const Edge& e) {
        table_.edges[from][to] = e;
        table_.edges[from][to].present = true;
        present_[from] |= 1u << to;
    }

private:
    static_assert(kClasses <= 32, "present_ holds a class's successors in one word");
    static const Edge kNoEdge;
    std::array<uint32_t, kClasses> present_{};
    // Only entries whose present_ bit is set are meaningful. The table is
    // left uninitialised, so that a graph costs nothing to create: the
    // controlled runtime builds one for every execution, and zeroing its
    // 48 KiB was a visible share of one.
    union Table {
        Table() {}
        Edge edges[kClasses][kClasses];
    } table_;
};

// The name of lock class `c` in reports.
std::string lock_class_name(size_t c);

// The locks one thread holds, oldest first, in the form LockOrder::acquired
// takes (so an acquisition copies nothing), with which lock each entry is.
class HeldLocks {
public:
    void acquired(const void* lock, ObjectId obj, SrcLoc loc) {
        locks_.push_back(lock);
        held_.push_back({obj, loc});
    }
    // Innermost first; a lock not there (taken before checking began) is ignored.
    void released(const void* lock) {
        for (size_t i = locks_.size(); i-- > 0;) {
            if (locks_[i] == lock) {
                locks_.erase(locks_.begin() + static_cast<long>(i));
                held_.erase(held_.begin() + static_cast<long>(i));
                return;
            }
        }
    }
    const std::vector<LockOrder::Held>& held() const { return held_; }
    size_t size() const { return held_.size(); }
    bool empty() const { return held_.empty(); }
    const LockOrder::Held& innermost() const { return held_.back(); }
    // Empty, keeping the storage for the next thread that uses this record.
    void clear() {
        locks_.clear();
        held_.clear();
    }

private:
    std::vector<const void*> locks_;
    std::vector<LockOrder::Held> held_;
};

// The might-sleep report, as both backends word it (the kernel's own words).
std::string might_sleep_message(const char* what, size_t held_count, ObjectId innermost, SrcLoc taken_at);

}  // namespace z3fh::sync
