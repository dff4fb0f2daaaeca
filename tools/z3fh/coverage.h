// z3fold-harden: line and branch coverage of allocator/ from a campaign's
// corpus (llvm-cov), with an HTML page, for the campaign report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace z3fh::tool {

// Replays `corpus_dir` through the coverage build and summarises allocator/.
// Returns the report's coverage fields (lines_*, branches_*, html relative to
// out_dir), or {"note": why} when coverage could not be measured; never fails
// the campaign. *seconds gets the time spent (build included).
nlohmann::json measure_coverage(const std::string& corpus_dir, const std::string& out_dir, double* seconds);

}  // namespace z3fh::tool
