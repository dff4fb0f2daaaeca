// z3fold-harden: line and branch coverage of the code under test from a
// campaign's corpus (llvm-cov): allocator/ for the port, the kernel's
// mm/z3fold.c for the kernel target; totals, one row a file, and an HTML page
// of every file, for the campaign report.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace z3fh::tool {

// What to measure: a fuzz target built for coverage, the sources to
// summarise, and how the report names them.
struct CoverageSubject {
    std::string bin;
    std::vector<std::string> sources;
    std::string scope;  // "allocator/" or "mm/z3fold.c"
    // Files compiled into allocator/ that run only on a finding or for the
    // checkers (reports, introspection, mutant switches): reported apart from
    // the allocator's logic so the logic's figure means what it says.
    std::vector<std::string> support;
};

// The port's subject (builds the coverage preset); bin empty if that failed.
CoverageSubject port_coverage_subject();

// Replays `corpus_dir` through the subject's build and summarises its
// sources. Returns the report's coverage fields (lines_*, branches_*, files,
// logic_* where there is support code, html relative to out_dir), or
// {"note": why} when coverage could not be measured; never fails the
// campaign. *seconds gets the time spent (the replay and llvm-cov).
nlohmann::json measure_coverage(const CoverageSubject& subject, const std::string& corpus_dir,
                                const std::string& out_dir, double* seconds);

}  // namespace z3fh::tool
