// z3fold-harden: the installed controlled runtime (nullptr when none).
#include "sync/runtime.h"

namespace z3fh::sync {

namespace detail {
ControlledRuntime* g_runtime = nullptr;
}

void install_runtime(ControlledRuntime* rt) { detail::g_runtime = rt; }

}  // namespace z3fh::sync
