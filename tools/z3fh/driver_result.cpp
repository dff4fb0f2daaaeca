// z3fold-harden: reading z3fh-run's closing JSON object.
#include "driver_result.h"

#include "proc.h"

namespace z3fh::tool {

nlohmann::json driver_result(const std::string& output) {
    size_t end = output.size();
    while (end > 0) {
        size_t start = output.rfind('\n', end - 1);
        start = start == std::string::npos ? 0 : start + 1;
        if (output[start] == '{') {
            nlohmann::json j = nlohmann::json::parse(output.substr(start, end - start), nullptr, false);
            if (j.is_object() && j.contains("z3fh_run")) return j;
        }
        if (start == 0) break;
        end = start - 1;
    }
    return nullptr;
}

std::string signature_without_line(const std::string& sig) {
    const size_t colon = sig.rfind(':');
    if (colon == std::string::npos || colon + 1 == sig.size() || sig.find('@') == std::string::npos) return sig;
    for (size_t i = colon + 1; i < sig.size(); i++)
        if (sig[i] < '0' || sig[i] > '9') return sig;
    return sig.substr(0, colon);
}

DriverRun run_driver(const std::string& driver, const std::vector<std::string>& args,
                     const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv = {driver};
    argv.insert(argv.end(), args.begin(), args.end());
    DriverRun r;
    r.output = run_capture(argv, env, &r.exit_code);
    r.result = driver_result(r.output);
    return r;
}

}  // namespace z3fh::tool
