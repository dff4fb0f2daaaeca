// z3fold-harden: reading the JSON line a finding ends with (finding.h), for
// the tools (they link nlohmann-json; the fuzz target does not include this).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "finding.h"

namespace z3fh {

// The string field `key` of the JSON object on the last line of `text` that
// starts with `marker`; "" if there is none.
inline std::string finding_json_field(const std::string& text, std::string_view marker, const char* key) {
    const size_t at = text.rfind(marker);
    if (at == std::string::npos) return "";
    const size_t from = at + marker.size();
    const nlohmann::json j = nlohmann::json::parse(text.substr(from, text.find('\n', from) - from), nullptr, false);
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace z3fh
