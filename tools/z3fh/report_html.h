// z3fold-harden: the campaign's report.html, rendered from report.json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace z3fh::tool {

// A self-contained page: summary, inline SVG plot, findings, coverage.
std::string render_report_html(const nlohmann::json& report);

}  // namespace z3fh::tool
