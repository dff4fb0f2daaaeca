// z3fold-harden: edits of the user's mm/z3fold.c, in one readable form for
// the harness's fixes (kernel_fixes.cpp) and its planted defects
// (kernel_source.cpp). An edit names the function it changes (or none: the
// file's type definitions) and the code it expects there, so it survives a
// Debian point release that moves lines, and fails with a clear message on
// a file it was not written for. The replacement texts are short kernel C
// fragments written for this project (GPL-2.0-only, as the repository).
#pragma once
#include <string>
#include <vector>

namespace z3fh::tool {

struct KernelEdit {
    const char* function;     // whose body is edited; "" = anywhere in the file
    const char* pattern;      // ECMAScript regex, matched once in that body
    const char* replacement;  // $1... refer to the pattern's groups
};

// Apply in order; false with *why on the first edit that does not match.
bool apply_edits(std::string* text, const std::vector<KernelEdit>& edits, std::string* why);

// One of the harness's fixes for a finding in the kernel's own z3fold.c
// (docs/findings.md, K1-K15), with what a patch mail needs to say.
struct KernelFix {
    const char* id;       // "K1", "K7+K8"
    const char* subject;  // the patch subject after "mm/z3fold: "
    std::string body;     // what goes wrong and why, wrapped at 72
    // Signature prefixes of the findings it answers (a guide for which fix
    // to try first; the harness decides by replaying).
    std::vector<const char*> signatures;
    std::vector<KernelEdit> edits;
    // Fixes whose edits this one builds on (K12 on K6's mark): tried and
    // sent with it, each as its own patch before it.
    std::vector<const char*> requires_fixes = {};
};

// The harness's fixes for a series' mm/z3fold.c ("6.1", "6.12"), in the
// order they apply (a later fix may build on an earlier one); empty for a
// series it has none for.
bool kernel_fixes_exist(const std::string& series);
const std::vector<KernelFix>& kernel_fixes(const std::string& series);
// The fix with this id in that series, or nullptr.
const KernelFix* kernel_fix(const std::string& id, const std::string& series);
// Every fix's edits, in order: the file `--kernel-fixes` compiles.
std::vector<KernelEdit> all_fix_edits(const std::string& series);

}  // namespace z3fh::tool
