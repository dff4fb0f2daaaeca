// z3fold-harden: what one scheduling step can have changed, as the step
// checks need it: from the runtime's account of the step (the operation it
// began with, the stores the sync layer noted) to the pages and handles to
// check (docs/invariants.md, "How the step tier is checked").
#pragma once
#include "target/target.h"
#include "sched/runtime.h"
#include "shadow/shadow.h"

namespace z3fh::fuzz {

// The pages a step can have changed, or "all": the whole structure is
// validated at operation boundaries (the harness's own events), when a page or
// slots object came or went, when a thread ended or parked, and whenever the
// sync layer kept no account of what was written.
StepScope step_scope(const sched::Runtime::StepChanges& c, const SlotState (&slots)[kSlots]);

}  // namespace z3fh::fuzz
