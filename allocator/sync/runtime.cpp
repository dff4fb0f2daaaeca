// z3fold-harden: the installed controlled runtime (nullptr when none).
#include "sync/runtime.h"

namespace z3fh::sync {

namespace {
ControlledRuntime* g_runtime = nullptr;
}

void install_runtime(ControlledRuntime* rt) { g_runtime = rt; }
ControlledRuntime* runtime() { return g_runtime; }

}  // namespace z3fh::sync
