// z3fold-harden: the table of Z3FH_* environment knobs (env_knobs.def) and
// the one check of their values: a value outside a knob's set is an error,
// never the default.
#pragma once
#include <string>

namespace z3fh::fuzz {

enum class EnvKnob {
#define Z3FH_ENV_KNOB(id, name, values, help) id,
#include "program/env_knobs.def"
#undef Z3FH_ENV_KNOB
};

// The knob's value, or nullptr when unset.
const char* env_value(EnvKnob knob);
// Every set knob against its table entry: "" if all are good, else what is
// wrong ("Z3FH_STRATEGY=foo: not input, pct or random").
std::string check_env_knobs();
// The table as text: name, values, help (a line each).
std::string env_knob_table();

}  // namespace z3fh::fuzz
