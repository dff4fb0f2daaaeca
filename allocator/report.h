// z3fold-harden: fatal reports by kind. One function per error class, one
// hook so the fuzz harness can add its trace before the process dies.
#pragma once
#include <string>
#include "findings.h"
#include "sync/event.h"

namespace z3fh {

// The fatal findings (the "fatal" class of checks/findings.def: check,
// warn, lock_not_held, list_corruption, refcount, ..., the kernel's context
// rules): one table names them all.
using ErrorKind = FindingId;


using FatalHook = void (*)(ErrorKind kind, const std::string& message);
void set_fatal_hook(FatalHook hook);

[[noreturn]] void report_fatal(ErrorKind kind, sync::SrcLoc loc, const std::string& message);

}  // namespace z3fh
