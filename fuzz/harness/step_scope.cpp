// z3fold-harden: what one scheduling step can have changed. Its own file:
// it runs after most steps, and is built without the fuzzer's coverage
// (fuzz/CMakeLists.txt) as the other checkers are.
#include "harness/step_scope.h"

#include "sync/event.h"

namespace z3fh::fuzz {

StepScope step_scope(const sched::Runtime::StepChanges& c, const SlotState (&slots)[kSlots]) {
    StepScope scope;
    using sync::Event;
    using sync::ObjClass;
    switch (c.op) {
    case Event::op_begin: case Event::op_end: case Event::object_access: case Event::thread_start:
    case Event::thread_end: case Event::work_queue: case Event::work_cancel: case Event::work_begin:
    case Event::fault_injected:
        scope.all = true;
        return scope;
    default: break;
    }
    if (c.thread_left || c.writes_all || c.obj.cls == ObjClass::harness) {
        scope.all = true;
        return scope;
    }
    scope.addresses = c.writes;
    scope.n_addresses = c.n_writes;
    // A store into the harness's slot table (claim, settle) is no page's.
    const void* table_begin = &slots[0];
    const void* table_end = &slots[kSlots];
    for (size_t k = 0; k < c.n_writes; k++)
        if (c.writes[k] >= table_begin && c.writes[k] < table_end) scope.handles = true;
    // The operation's own object, when it is a page's (its lock, kref, flags
    // or struct page): everything that page's lock guards may have changed.
    if (!sync::event_may_write(c.op)) return scope;
    switch (c.obj.cls) {
    case ObjClass::page_lock: case ObjClass::page_mutex: case ObjClass::refcount:
        scope.handles = true;
        scope.page_serial = c.obj.serial;
        break;
    case ObjClass::page_flags: case ObjClass::page_refs: scope.page_serial = c.obj.serial; break;
    case ObjClass::slots_lock: scope.handles = true; break;
    default: break;
    }
    return scope;
}

}  // namespace z3fh::fuzz
