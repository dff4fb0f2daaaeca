// z3fold-harden: a schedule is data: the choice taken at every decision point
// of a run, with what the point was, so a replay can tell when it has gone
// stale. Serialised compactly and versioned.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sync/event.h"

namespace z3fh::sched {

struct ScheduleStep {
    uint8_t chosen;      // thread that ran next
    int8_t thread;       // thread at the point (-1: none could continue)
    uint8_t event;       // sync::Event at the point
    uint8_t obj_cls;     // sync::ObjClass
    uint32_t obj_serial;
    bool operator==(const ScheduleStep&) const = default;
};

struct Schedule {
    static constexpr uint32_t kMagic = 0x3153485a;  // "ZHS1"
    static constexpr uint8_t kVersion = 1;
    std::vector<ScheduleStep> steps;

    std::vector<uint8_t> serialize() const;
    // false (with a reason) on bad magic, version or length.
    static bool deserialize(const uint8_t* data, size_t size, Schedule* out, std::string* error);
    bool operator==(const Schedule&) const = default;
};

}  // namespace z3fh::sched
