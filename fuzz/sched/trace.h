// z3fold-harden: the event trace of a run: appended in binary at every
// scheduling point (a few words an event), formatted only when a person reads
// it. Optionally a ring of the last N events, for the cost of the fuzz loop.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sync/event.h"

namespace z3fh::sched {

struct TraceEvent {
    uint32_t step;
    int8_t thread;
    sync::Event event;
    sync::ObjClass cls;
    bool preempted;      // another thread ran next although this one could go on
    uint32_t serial;
    const char* file;
    int line;
    bool operator==(const TraceEvent&) const = default;
};

class Trace {
public:
    explicit Trace(size_t ring = 0) : ring_(ring) {
        if (ring_) events_.reserve(ring_);
    }
    void clear() {
        events_.clear();
        head_ = 0;
        total_ = 0;
    }
    void append(const TraceEvent& e) {
        total_++;
        if (ring_ == 0 || events_.size() < ring_) {
            events_.push_back(e);
        } else {
            events_[head_] = e;
            head_ = (head_ + 1) % ring_;
        }
    }
    void mark_preempted() {
        if (events_.empty()) return;
        size_t last = (ring_ == 0 || events_.size() < ring_) ? events_.size() - 1 : (head_ + ring_ - 1) % ring_;
        events_[last].preempted = true;
    }
    // Events oldest first.
    std::vector<TraceEvent> events() const;
    uint64_t total() const { return total_; }
    // "step 12  T1  lock        page lock 3      pool.cpp:140   <- preempted"
    static std::string format(const TraceEvent& e);
    std::string format_tail(size_t n) const;

private:
    size_t ring_;
    std::vector<TraceEvent> events_;
    size_t head_ = 0;
    uint64_t total_ = 0;
};

}  // namespace z3fh::sched
