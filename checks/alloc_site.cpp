// z3fold-harden: naming an allocation's site (alloc_site.h).
#include "alloc_site.h"

#include <fmt/format.h>

#include <cstring>
#include <vector>

// The sanitizer runtimes' symbolizer, when one is linked (every fuzzing and
// sanitizer tree); weak, so a build without sanitizers links and falls back.
extern "C" void __sanitizer_symbolize_pc(void* pc, const char* fmt, char* out, size_t out_size) __attribute__((weak));

namespace z3fh {

namespace {

// "z3fh::Pool::init_z3fold_page(z3fh::PageDesc*, bool)" -> "Pool::init_z3fold_page".
std::string short_function(std::string f) {
    if (const size_t paren = f.find('('); paren != std::string::npos) f.resize(paren);
    if (f.rfind("z3fh::", 0) == 0) f.erase(0, 6);
    return f;
}

// The functions at `pc`, innermost first (inlined frames included).
void functions_at(const void* pc, std::vector<std::string>& out) {
    if (!pc || !__sanitizer_symbolize_pc) return;
    char buf[2048] = {};
    // The symbolizer wants the call instruction, not the return address.
    __sanitizer_symbolize_pc(const_cast<char*>(static_cast<const char*>(pc)) - 1, "%f", buf, sizeof buf - 1);
    for (const char* p = buf; *p && p < buf + sizeof buf - 1; p += std::strlen(p) + 1) {
        std::string f = short_function(p);
        if (f.empty() || f == "??" || f.find("<null>") != std::string::npos) continue;
        if (out.empty() || out.back() != f) out.push_back(f);
    }
}

}  // namespace

bool alloc_sites_symbolized() { return __sanitizer_symbolize_pc != nullptr; }

std::string alloc_site_name(const AllocSite& site) {
    std::vector<std::string> fns;
    functions_at(site.pc[0], fns);
    if (fns.size() < 2) functions_at(site.pc[1], fns);
    if (fns.size() >= 2) return fns[0] + "<-" + fns[1];
    if (fns.size() == 1) return fns[0];
    if (!site.file) return "unknown";
    const char* slash = std::strrchr(site.file, '/');
    return fmt::format("{}:{}", slash ? slash + 1 : site.file, site.line);
}

}  // namespace z3fh
