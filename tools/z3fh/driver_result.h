// z3fold-harden: z3fh-run's results as the tool reads them. Every replay,
// minimize and export-test ends its output with one JSON object
// (docs/report-schema.md, "z3fh-run's result"); this is the one reader.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace z3fh::tool {

struct DriverRun {
    int exit_code = -1;
    std::string output;       // everything it printed (the human reproducer)
    nlohmann::json result;    // its closing JSON object; null if it printed none
    std::string signature() const { return result.is_object() ? result.value("signature", "") : ""; }
};

// The closing JSON object of z3fh-run's output (the last line that parses
// as an object with a "z3fh_run" key); null if there is none.
nlohmann::json driver_result(const std::string& output);

// A signature with its line number dropped ("lock-not-held@z3fold.c:1090"
// -> "lock-not-held@z3fold.c"): for comparing runs of files a patch moved.
std::string signature_without_line(const std::string& signature);

// Run z3fh-run (`driver`) with args and extra environment.
DriverRun run_driver(const std::string& driver, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env = {});

}  // namespace z3fh::tool
