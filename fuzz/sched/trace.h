// z3fold-harden: the event trace of a run: appended in binary at every
// scheduling point (a few words an event), formatted only when a person reads
// it. Optionally a ring of the last N events, for the cost of the fuzz loop.
#pragma once
#include <algorithm>
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
    explicit Trace(size_t ring = 0) : ring_(ring) {}
    // Storage an earlier trace gave up (take_storage), so that a run that
    // follows another allocates and clears nothing for its trace.
    void adopt_storage(std::vector<TraceEvent>&& storage) {
        buf_ = std::move(storage);
        clear();
    }
    std::vector<TraceEvent> take_storage() {
        next_ = end_ = nullptr;
        return std::move(buf_);
    }
    Trace(const Trace&) = delete;
    Trace& operator=(const Trace&) = delete;
    void clear() {
        next_ = buf_.data();
        end_ = buf_.data() + (ring_ ? std::min(ring_, buf_.size()) : buf_.size());
        wraps_ = 0;
    }
    // One compare and one store at every scheduling point; growing the
    // buffer or wrapping the ring is the rare path. Not ASan-checked: the
    // buffer is the scheduler's own, and the checked copy was a range check
    // call at every point.
#if defined(__clang__)
    __attribute__((no_sanitize("address")))
#endif
    void append(const TraceEvent& e) {
        if (next_ == end_) [[unlikely]]
            make_room();
        *next_++ = e;
    }
    void mark_preempted() {
        if (next_ != buf_.data()) next_[-1].preempted = true;
        else if (wraps_) end_[-1].preempted = true;
    }
    // Events oldest first.
    std::vector<TraceEvent> events() const;
    uint64_t total() const { return wraps_ * ring_ + static_cast<uint64_t>(next_ - buf_.data()); }
    // "step 12  T1  lock        page lock 3      pool.cpp:140   <- preempted"
    static std::string format(const TraceEvent& e);
    std::string format_tail(size_t n) const;

private:
    void make_room();

    size_t ring_;                  // 0: keep every event; N: the last N
    std::vector<TraceEvent> buf_;  // storage; its size is the capacity in use
    TraceEvent* next_ = nullptr;   // where the next event goes
    TraceEvent* end_ = nullptr;
    uint64_t wraps_ = 0;           // times the ring wrapped
};

}  // namespace z3fh::sched
