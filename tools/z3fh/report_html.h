// z3fold-harden: the campaign's report.html, rendered from report.json.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace z3fh::tool {

// A self-contained page: summary, inline SVG plot, findings, coverage.
std::string render_report_html(const nlohmann::json& report);

// A kernel finding's "zswap" verdict in words (report.md and report.html):
// found with zswap as the user, reproduced (input), not found in N min.
std::string zswap_verdict_text(const nlohmann::json& finding);

}  // namespace z3fh::tool
