// z3fold-harden: the environment knob table (env_knobs.h).
#include "program/env_knobs.h"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

namespace z3fh::fuzz {

namespace {

struct Knob {
    const char* name;
    const char* values;
    const char* help;
};

constexpr Knob kKnobs[] = {
#define Z3FH_ENV_KNOB(id, name, values, help) {name, values, help},
#include "program/env_knobs.def"
#undef Z3FH_ENV_KNOB
};

// "" if `value` is one of `values` ("a|b|c", "number", "1", or free).
std::string check_value(const Knob& k, const std::string& value) {
    const std::string values = k.values;
    if (values == "number") {
        if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos)
            return fmt::format("{}={}: not a number", k.name, value);
        return "";
    }
    if (values == "1") return value == "1" ? "" : fmt::format("{}={}: set it to 1, or leave it unset", k.name, value);
    if (values.find('|') == std::string::npos) return "";  // name, path, list: their readers check them
    std::istringstream in(values);
    std::string choices;
    for (std::string v; std::getline(in, v, '|');) {
        if (v == value) return "";
        choices += (choices.empty() ? "" : ", ") + v;
    }
    return fmt::format("{}={}: not one of {}", k.name, value, choices);
}

}  // namespace

const char* env_value(EnvKnob knob) { return std::getenv(kKnobs[static_cast<int>(knob)].name); }

std::string check_env_knobs() {
    for (const Knob& k : kKnobs)
        if (const char* v = std::getenv(k.name))
            if (std::string why = check_value(k, v); !why.empty()) return why;
    return "";
}

std::string env_knob_table() {
    std::string out;
    for (const Knob& k : kKnobs) out += fmt::format("{:<24} {:<18} {}\n", k.name, k.values, k.help);
    return out;
}

}  // namespace z3fh::fuzz
