// z3fold-harden: a fatal finding: reported through the one printer
// (checks/finding.h), the harness's context in between, then abort.
#include "report.h"

#include <cstdio>
#include <cstdlib>

#include "finding.h"

namespace z3fh {

namespace {
FatalHook g_hook = nullptr;
}

void set_fatal_hook(FatalHook hook) { g_hook = hook; }

void report_fatal(ErrorKind kind, sync::SrcLoc loc, const std::string& message) {
    const Finding f{kind, loc.file ? loc.file : "", loc.line, message, 0};
    print_finding_head(stderr, f);
    if (g_hook) g_hook(kind, message);
    print_finding_tail(stderr, f);
    std::abort();
}

}  // namespace z3fh

// list.h's corruption report (CONFIG_DEBUG_LIST).
#include "list.h"

namespace z3fh {
void list_corrupted(const char* what, const void*, sync::SrcLoc loc) {
    report_fatal(ErrorKind::list_corruption, loc, what);
}
}  // namespace z3fh
