// z3fold-harden: trace formatting.
#include "sched/trace.h"

#include <fmt/format.h>

#include <cstring>

namespace z3fh::sched {

std::vector<TraceEvent> Trace::events() const {
    if (ring_ == 0 || events_.size() < ring_) return events_;
    std::vector<TraceEvent> out;
    out.reserve(ring_);
    for (size_t i = 0; i < ring_; i++) out.push_back(events_[(head_ + i) % ring_]);
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
