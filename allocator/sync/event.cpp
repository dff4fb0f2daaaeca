// z3fold-harden: names for sync events and object classes (trace and reports).
#include "sync/event.h"

namespace z3fh::sync {

const char* obj_class_name(ObjClass c) {
    switch (c) {
    case ObjClass::none: return "object";
    case ObjClass::pool_lock: return "pool lock";
    case ObjClass::stale_lock: return "stale lock";
    case ObjClass::page_lock: return "page lock";
    case ObjClass::page_mutex: return "struct page lock";
    case ObjClass::slots_lock: return "slots lock";
    case ObjClass::refcount: return "page refcount";
    case ObjClass::page_flags: return "page flags";
    case ObjClass::page_refs: return "struct page refs";
    case ObjClass::pages_nr: return "pool pages_nr";
    case ObjClass::work_queue: return "work queue";
    case ObjClass::work_item: return "work item";
    case ObjClass::harness: return "harness";
    case ObjClass::zswap_tree: return "zswap tree lock";
    case ObjClass::zswap_lru: return "zswap LRU lock";
    case ObjClass::mm_list: return "mm migration list lock";
    case ObjClass::cpu: return "CPU";
    case ObjClass::zs_class_lock: return "zsmalloc class lock";
    case ObjClass::zs_migrate_lock: return "zsmalloc migrate_lock";
    case ObjClass::zs_zspage_lock: return "zspage lock";
    case ObjClass::zram_slot: return "zram slot lock";
    }
    return "?";
}

const char* event_name(Event e) {
    switch (e) {
    case Event::lock: return "lock";
    case Event::unlock: return "unlock";
    case Event::trylock: return "trylock";
    case Event::read_lock: return "read_lock";
    case Event::read_unlock: return "read_unlock";
    case Event::write_lock: return "write_lock";
    case Event::write_unlock: return "write_unlock";
    case Event::atomic_load: return "atomic_load";
    case Event::atomic_store: return "atomic_store";
    case Event::atomic_rmw: return "atomic_rmw";
    case Event::bit_test: return "test_bit";
    case Event::bit_set: return "set_bit";
    case Event::bit_clear: return "clear_bit";
    case Event::bit_test_and_set: return "test_and_set_bit";
    case Event::bit_test_and_clear: return "test_and_clear_bit";
    case Event::yield: return "yield";
    case Event::work_queue: return "queue_work";
    case Event::work_cancel: return "cancel_work_sync";
    case Event::work_begin: return "work_begin";
    case Event::op_begin: return "op_begin";
    case Event::op_end: return "op_end";
    case Event::block: return "block";
    case Event::thread_start: return "thread_start";
    case Event::thread_end: return "thread_end";
    case Event::object_access: return "object_access";
    case Event::fault_injected: return "fault_injected";
    case Event::cpu_move: return "moved_to_cpu";
    }
    return "?";
}

}  // namespace z3fh::sync
