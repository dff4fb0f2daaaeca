// z3fold-harden: fatal report printing; the shape is fixed so tools can parse it:
//   ==z3fold== ERROR: <kind>: <message>
//   ==z3fold==   at <file>:<line>
#include "report.h"

#include <cstdio>
#include <cstdlib>

namespace z3fh {

namespace {
FatalHook g_hook = nullptr;
}

const char* error_kind_name(ErrorKind k) {
    switch (k) {
    case ErrorKind::check: return "check-failed";
    case ErrorKind::warn: return "warn-on";
    case ErrorKind::lock_not_held: return "lock-not-held";
    case ErrorKind::list_corruption: return "list-corruption";
    case ErrorKind::refcount: return "refcount";
    case ErrorKind::released_page_listed: return "released-page-listed";
    case ErrorKind::page_use_after_free: return "page-use-after-free";
    case ErrorKind::fault: return "fault";
    case ErrorKind::might_sleep: return "might-sleep";
    case ErrorKind::lock_held_at_return: return "lock-held-at-return";
    case ErrorKind::lock_order: return "lock-order";
    case ErrorKind::potential_deadlock: return "potential-deadlock";
    case ErrorKind::gfp_contract: return "gfp-contract";
    case ErrorKind::cpu_id_preemptible: return "cpu-id-preemptible";
    case ErrorKind::queue_work_cpu: return "queue-work-cpu";
    case ErrorKind::queue_destroyed: return "queue-destroyed";
    case ErrorKind::percpu_out_of_bounds: return "percpu-out-of-bounds";
    }
    return "unknown";
}

void set_fatal_hook(FatalHook hook) { g_hook = hook; }

void report_fatal(ErrorKind kind, sync::SrcLoc loc, const std::string& message) {
    std::fprintf(stderr, "==z3fold== ERROR: %s: %s\n==z3fold==   at %s:%d\n", error_kind_name(kind),
                 message.c_str(), loc.file, loc.line);
    if (g_hook) g_hook(kind, message);
    std::fflush(stderr);
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
