// z3fold-harden: what the sync layer tells a scheduler: event kinds, object
// identities and source locations. Shared by both backends and by fuzz/sched.
#pragma once
#include <cstdint>

// The sync layer's one-line accessors, asked on every lock, unlock and
// atomic. The fuzzing presets build the allocator at -O1 (as OSS-Fuzz does),
// where clang left each of them an out-of-line call.
#if defined(__GNUC__)
#define Z3FH_SYNC_INLINE inline __attribute__((always_inline))
#else
#define Z3FH_SYNC_INLINE inline
#endif

namespace z3fh::sync {

// A source location captured with default arguments: std::source_location is
// not available with clang 14 on Debian's libstdc++ 12.
struct SrcLoc {
    const char* file = "";
    int line = 0;
    static constexpr SrcLoc here(const char* f = __builtin_FILE(), int l = __builtin_LINE()) {
        return SrcLoc{f, l};
    }
};

// Object classes name what a lock or atomic protects, for traces, lock
// validation and reports ("page 3 lock", "pool lock").
enum class ObjClass : uint8_t {
    none,
    pool_lock,
    stale_lock,
    page_lock,      // zhdr->page_lock
    page_mutex,     // struct page lock (lock_page), used around movable state
    slots_lock,     // z3fold_buddy_slots rwlock
    refcount,       // zhdr->refcount (kref)
    page_flags,     // page->private bits
    page_refs,      // struct page reference count
    pages_nr,       // pool->pages_nr
    work_queue,
    work_item,
    harness,        // operations of the fuzz harness itself
    zswap_tree,     // the zswap user's tree lock (fuzz/harness/zswap_user.h)
    zswap_lru,      // the 6.12 zswap user's LRU lock (fuzz/harness/zswap612_user.h)
    mm_list,        // the kernel target's mm core: its migration lists (kernel/adapter/kernel_mm.c)
    cpu,            // a virtual CPU (the serial is its number)
    zs_class_lock,    // zsmalloc's per-class spinlock (class->lock)
    zs_migrate_lock,  // zsmalloc's pool->migrate_lock (a qrwlock)
    zs_zspage_lock,   // zsmalloc's zspage->lock (a qrwlock)
    zram_slot,        // the zram user's per-slot lock (fuzz/harness/zram_user.h)
};

const char* obj_class_name(ObjClass c);

struct ObjectId {
    ObjClass cls = ObjClass::none;
    uint32_t serial = 0;  // page number, slots object number, ... (never an address)
};

// Every scheduling point carries one of these.
enum class Event : uint8_t {
    lock, unlock, trylock,
    read_lock, read_unlock, write_lock, write_unlock,
    atomic_load, atomic_store, atomic_rmw,
    bit_test, bit_set, bit_clear, bit_test_and_set, bit_test_and_clear,
    yield,        // cpu_relax / cond_resched: the scheduler should prefer another thread
    work_queue, work_cancel, work_begin,
    op_begin, op_end,
    block,        // parked on a lock or a work item (recorded, not a choice)
    thread_start, thread_end,
    object_access,  // the harness reads or writes a mapped object: other CPUs run meanwhile
    fault_injected, // an allocation the program said to fail, failed here (the caller's line)
    cpu_move,       // preempted where its context allows, the thread resumes on another vCPU (recorded, not a choice)
};

const char* event_name(Event e);

// Whether the operation a point precedes can change what the step checks
// read. Acquiring a lock, a load, a bit test or a yield cannot (holding a
// lock only relaxes the checks); every release, store and read-modify-write
// can, and so can the harness's own events.
constexpr bool event_may_write(Event e) {
    switch (e) {
    case Event::lock: case Event::trylock: case Event::read_lock: case Event::write_lock:
    case Event::atomic_load: case Event::bit_test: case Event::yield: case Event::block: case Event::cpu_move:
        return false;
    default:
        return true;
    }
}

}  // namespace z3fh::sync
