// z3fold-harden: fatal reports by kind. One function per error class, one
// hook so the fuzz harness can add its trace before the process dies.
#pragma once
#include <string>
#include "sync/event.h"

namespace z3fh {

// Stable names: they are part of finding signatures.
enum class ErrorKind {
    check,               // always-on misuse check (CHECK_*)
    warn,                // the kernel's WARN_ON: a "cannot happen" state
    lock_not_held,       // a list or field touched without the lock that guards it
    list_corruption,     // list links inconsistent
    refcount,            // refcount transition that the design forbids
    released_page_listed,// a page reached refcount zero while still on a list
    page_use_after_free, // a freed page reached through a list or handle
    fault,               // allocation failure nobody handled
    might_sleep,         // a blocking call where sleeping is forbidden (spinlock held)
    lock_held_at_return, // an operation or work item returned with a lock still held
    lock_order,          // two lock classes taken in both orders (a deadlock some interleaving can reach)
    potential_deadlock,  // the same across runs: one run took A then B, another B then A
    // The kernel's context rules (kernel target):
    gfp_contract,          // an allocation that may block, inside a call whose caller's gfp forbids it
    cpu_id_preemptible,    // smp_processor_id()/this_cpu_ptr() in preemptible code (DEBUG_PREEMPT)
    queue_work_cpu,        // queue_work_on() with a CPU that is not a possible CPU
    queue_destroyed,       // work queued on a destroyed workqueue
    percpu_out_of_bounds,  // a per-CPU unit's neighbour reached through it (a list head past the unit)
};

const char* error_kind_name(ErrorKind k);

using FatalHook = void (*)(ErrorKind kind, const std::string& message);
void set_fatal_hook(FatalHook hook);

[[noreturn]] void report_fatal(ErrorKind kind, sync::SrcLoc loc, const std::string& message);

}  // namespace z3fh
