// z3fold-harden: the finding printer (finding.h).
#include "finding.h"

#include <fmt/format.h>

namespace z3fh {

namespace {

std::string_view basename_of(std::string_view path) {
    const size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// A JSON string literal. The fuzz target links no JSON library (OSS-Fuzz
// builds against libc++ with header-only fmt), so the few escapes JSON
// requires are written here; the tools parse the line with nlohmann-json.
std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20) {
            out += fmt::format("\\u{:04x}", u);
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string what_of(const Finding& f) {
    const FindingInfo& info = finding_info(f.id);
    return info.cls == FindingClass::invariant ? fmt::format("invariant {}", info.name) : info.name;
}

}  // namespace

std::string finding_signature(const Finding& f) {
    const FindingInfo& info = finding_info(f.id);
    if (info.cls == FindingClass::invariant) return fmt::format("invariant:{}", info.name);
    if (!f.site.empty()) return fmt::format("{}@{}", info.name, f.site);
    if (f.file.empty()) return info.name;
    return fmt::format("{}@{}:{}", info.name, basename_of(f.file), f.line);
}

void print_finding_head(std::FILE* out, const Finding& f) {
    std::fprintf(out, "==z3fold== ERROR: %s: %s\n", what_of(f).c_str(), f.message.c_str());
    if (!f.file.empty()) std::fprintf(out, "==z3fold==   at %s:%d\n", f.file.c_str(), f.line);
}

void print_finding_tail(std::FILE* out, const Finding& f) {
    const FindingInfo& info = finding_info(f.id);
    const std::string sig = finding_signature(f);
    const bool invariant = info.cls == FindingClass::invariant;
    std::fprintf(out, "SUMMARY: z3fold %s\n", sig.c_str());
    const std::string where = !f.site.empty() ? f.site : f.file.empty() ? "" : fmt::format("{}:{}", basename_of(f.file), f.line);
    std::fprintf(out, "%.*s{\"signature\": %s, \"kind\": %s, \"invariant\": %s, \"where\": %s, \"page\": %u, \"message\": %s}\n",
                 static_cast<int>(kFindingJsonMarker.size()), kFindingJsonMarker.data(), json_string(sig).c_str(),
                 json_string(invariant ? "invariant" : info.name).c_str(), json_string(invariant ? info.name : "").c_str(),
                 json_string(where).c_str(), f.page, json_string(f.message).c_str());
    std::fflush(out);
}

}  // namespace z3fh
