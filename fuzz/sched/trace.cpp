// z3fold-harden: trace formatting.
#include "sched/trace.h"

#include <fmt/format.h>

#include <cstring>

namespace z3fh::sched {

void Trace::make_room() {
    size_t used = static_cast<size_t>(next_ - buf_.data());
    if (ring_) {
        if (buf_.size() < ring_) {
            buf_.resize(ring_);
        } else {
            wraps_++;
            used = 0;
        }
        next_ = buf_.data() + used;
        end_ = buf_.data() + ring_;
        return;
    }
    buf_.resize(std::max<size_t>(1024, 2 * buf_.size()));
    next_ = buf_.data() + used;
    end_ = buf_.data() + buf_.size();
}

std::vector<TraceEvent> Trace::events() const {
    const TraceEvent* begin = buf_.data();
    std::vector<TraceEvent> out;
    if (wraps_) out.assign(static_cast<const TraceEvent*>(next_), begin + ring_);  // the older part of a full ring
    out.insert(out.end(), begin, static_cast<const TraceEvent*>(next_));
    return out;
}

std::string Trace::format(const TraceEvent& e) {
    const char* file = e.file ? e.file : "";
    if (const char* slash = std::strrchr(file, '/')) file = slash + 1;
    std::string obj = e.cls == sync::ObjClass::none ? std::string("-")
                                                    : fmt::format("{} {}", sync::obj_class_name(e.cls), e.serial);
    return fmt::format("step {:>5}  T{}  {:<19} {:<22} {}:{}{}", e.step, static_cast<int>(e.thread),
                       sync::event_name(e.event), obj, file, e.line, e.preempted ? "   <- preempted" : "");
}

std::string Trace::format_tail(size_t n) const {
    std::vector<TraceEvent> ev = events();
    size_t from = ev.size() > n ? ev.size() - n : 0;
    std::string out;
    for (size_t i = from; i < ev.size(); i++) out += format(ev[i]) + "\n";
    return out;
}

}  // namespace z3fh::sched
