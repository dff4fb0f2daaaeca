// z3fold-harden: schedule serialisation: magic, version, count, 8 bytes a step.
#include "sched/schedule.h"

#include <cstring>

namespace z3fh::sched {

std::vector<uint8_t> Schedule::serialize() const {
    std::vector<uint8_t> out;
    auto put32 = [&](uint32_t v) {
        for (int i = 0; i < 4; i++) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    put32(kMagic);
    out.push_back(kVersion);
    put32(static_cast<uint32_t>(steps.size()));
    for (const ScheduleStep& s : steps) {
        out.push_back(s.chosen);
        out.push_back(static_cast<uint8_t>(s.thread));
        out.push_back(s.event);
        out.push_back(s.obj_cls);
        put32(s.obj_serial);
    }
    return out;
}

bool Schedule::deserialize(const uint8_t* data, size_t size, Schedule* out, std::string* error) {
    auto get32 = [&](size_t at) {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) v |= static_cast<uint32_t>(data[at + i]) << (8 * i);
        return v;
    };
    if (size < 9) {
        *error = "schedule: truncated header";
        return false;
    }
    if (get32(0) != kMagic) {
        *error = "schedule: bad magic";
        return false;
    }
    if (data[4] != kVersion) {
        *error = "schedule: unsupported version " + std::to_string(data[4]);
        return false;
    }
    uint32_t n = get32(5);
    if (size != 9 + static_cast<size_t>(n) * 8) {
        *error = "schedule: length field says " + std::to_string(n) + " steps but the data has " +
                 std::to_string((size - 9) / 8);
        return false;
    }
    out->steps.clear();
    out->steps.reserve(n);
    for (uint32_t i = 0; i < n; i++) {
        size_t at = 9 + static_cast<size_t>(i) * 8;
        ScheduleStep s{data[at], static_cast<int8_t>(data[at + 1]), data[at + 2], data[at + 3], get32(at + 4)};
        out->steps.push_back(s);
    }
    return true;
}

}  // namespace z3fh::sched
