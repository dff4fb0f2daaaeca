// z3fold-harden kernel shim, C++ side: one run's kernel world (the
// registries of pages, slab objects, lists, per-CPU areas and work queues,
// and each scheduled thread's kernel context), shared by the shim's
// translation units. Serialised by the scheduler: every access is inside a
// TsanHidden scope.
#pragma once
#include <boost/container/flat_map.hpp>
#include <boost/container/flat_set.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "alloc_site.h"
#include "report.h"
#include "sync/sync.h"

extern "C" {
#include "kshim_types.h"
}

// Redzones the shim keeps (per-CPU units) are poisoned under ASan.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define KSHIM_POISON(p, n) __asan_poison_memory_region((p), (n))
#define KSHIM_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#endif
#endif
#ifndef KSHIM_POISON
#define KSHIM_POISON(p, n) ((void)(p), (void)(n))
#define KSHIM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace kshim {

using namespace z3fh::sync;
using z3fh::AllocSite;
using z3fh::ErrorKind;

constexpr size_t kPageSize = 4096;
constexpr size_t kBlockSize = 2 * kPageSize;

template <typename K, typename V>
using FlatMap = boost::container::flat_map<K, V>;

// Objects with stable addresses whose storage is kept from run to run (a
// fresh allocation under ASan unwinds the stack). Nothing is freed during a
// run: a thread may still wait on a lock whose memory is gone.
template <typename T>
class Arena {
public:
    T* make() {
        if (used_ == items_.size()) items_.push_back(std::make_unique<T>());
        T* t = items_[used_++].get();
        *t = T{};
        return t;
    }
    void reset() { used_ = 0; }

private:
    std::vector<std::unique_ptr<T>> items_;
    size_t used_ = 0;
};

struct KmemCache {
    std::string name;
    size_t size;
    size_t align;
    size_t live = 0;
    AllocSite site;  // where kmem_cache_create was called
};

struct SlabObject {
    KmemCache* cache;
    uint32_t serial;
    size_t size;
    AllocSite site;
};

// A kzalloc'd block (kfree takes it back).
struct KmallocBlock {
    size_t size;
    AllocSite site;
    // Made by a CPU hotplug startup: the CPU's, not a pool's (never a leak
    // at a pool's destroy; the teardown frees it).
    bool cpu_lifetime = false;
};

struct KWorkQueue {
    KWorkQueue(ObjectId id, AllocSite at) : q(id), site(at) {}
    WorkQueue q;
    AllocSite site;  // where create_workqueue was called
};

// A work_struct's queue state (the kernel keeps it in work->data and
// work->entry; the sync layer's queue needs its own links).
struct WorkState {
    WorkItem item;  // first: the queue hands the item back to the trampoline
    work_struct* work = nullptr;
    KWorkQueue* wq = nullptr;
};

// A per-CPU area: units of `size` bytes, `stride` apart, the gap a redzone.
struct PercpuArea {
    uintptr_t base;
    size_t size;
    size_t stride;
    int units;
    AllocSite site;
};

// A lock the running thread holds, innermost last: the atomic context
// might_sleep checks, and what an operation must not return with.
struct HeldLock {
    const void* lock;
    ObjectId id;
    SrcLoc loc;
    bool spinning;  // spinlock/rwlock (atomic context); false: lock_page
    // A spinlock's lockdep class (the expression its spin_lock_init was
    // given: one literal a call site) and the subclass it was taken with
    // (spin_lock_nested); nullptr for the other locks.
    const char* lockdep_class = nullptr;
    int subclass = 0;
};

// One scheduled thread's kernel context.
struct ThreadContext {
    std::vector<HeldLock> held;
    int preempt_disabled = 0;  // preempt_disable depth (spinning locks counted apart)
    SrcLoc preempt_loc{};      // the outermost preempt_disable
    int migrate_disabled = 0;
    int pagefault_disabled = 0;
    // Of preempt_disabled, the depth the allocator's caller holds (its own
    // spinning lock around the call): the allocator returns with that much.
    int caller_atomic = 0;
    bool in_caller = false;    // inside a zpool call made with caller_gfp
    gfp_t caller_gfp = 0;
    bool yield_after_unlock = false;  // a trylock failed under a spinning lock
    // Waiting in spin_lock/read_lock/write_lock: the kernel disables
    // preemption before it spins, so the thread keeps its CPU meanwhile.
    bool acquiring = false;
    bool spinning() const {
        for (const HeldLock& h : held)
            if (h.spinning) return true;
        return false;
    }
    bool atomic() const { return preempt_disabled > 0 || acquiring || spinning(); }
    void clear() {
        held.clear();
        preempt_disabled = migrate_disabled = caller_atomic = pagefault_disabled = 0;
        in_caller = false;
        caller_gfp = 0;
        yield_after_unlock = false;
        acquiring = false;
    }
};

// One run's kernel world. Serials are handed out in allocation order, so
// nothing an address decides reaches a trace or a scheduling decision.
// The registries are flat (sorted vectors): every list add and delete, page
// and slab allocation updates one, and a node-based map allocated on each
// insert. Cleared for the next run, they keep their storage.
struct World {
    int nr_cpus = 1;
    uint32_t next_page_serial = 1;
    uint32_t next_slab_serial = 1;
    uint32_t next_wq_serial = 1;
    FlatMap<uintptr_t, uint32_t> pages;      // block address -> serial (live pages)
    FlatMap<uintptr_t, SlabObject> objects;  // object address -> object (live slab objects)
    // Every other allocation the kernel file makes, with its site: at the
    // pool's destroy, what is left is a leak (kshim_leftovers).
    FlatMap<uintptr_t, AllocSite> page_sites;  // block address -> where alloc_page was called
    FlatMap<uintptr_t, KmallocBlock> kmallocs;
    std::vector<KmemCache*> caches;            // created and not destroyed
    // The list-guard check: registered heads and the nodes linked from them,
    // each with the lock that must be held to add or delete it.
    FlatMap<uintptr_t, const spinlock_t*> heads;
    FlatMap<uintptr_t, const spinlock_t*> members;
    // Lock and work state by the address of the kernel's spinlock_t (or
    // struct page, for its page lock), rwlock_t and work_struct.
    FlatMap<uintptr_t, SpinLock*> spins;
    FlatMap<uintptr_t, const char*> spin_classes;  // spinlock -> its spin_lock_init expression (lockdep class)
    FlatMap<uintptr_t, RwLock*> rwlocks;
    FlatMap<uintptr_t, WorkState*> works;
    Arena<SpinLock> spin_arena;
    Arena<RwLock> rw_arena;
    Arena<WorkState> work_arena;
    std::vector<PercpuArea> percpu;
    std::vector<KmemCache*> zombie_caches;  // destroyed while objects were left
    FlatMap<int, ThreadContext> threads;    // emptied, not erased, between runs
    int fail_countdown[2] = {0, 0};         // pages, slab objects
    boost::container::flat_set<const void*> workqueues;  // live ones (a work item may outlive its queue)
    // Destroyed ones, kept until the run's end: as the kernel's worker pools
    // outlive a workqueue, a cancel_work_sync on one of its items stays safe.
    std::vector<KWorkQueue*> dead_workqueues;
    std::vector<const void*> abandoned;  // queues and caches of runs that never ended (kshim_reset)
    // How many times each work function ran this run (the depth counters).
    FlatMap<uintptr_t, uint64_t> work_runs;
    // kshim_system.cpp: every CPU's copy of the DEFINE_PER_CPU section, the
    // hotplug states' teardowns, the registered shrinkers, system_wq.
    char* percpu_static = nullptr;
    size_t percpu_static_stride = 0;
    int percpu_static_units = 0;
    int (*cpuhp_teardown[8])(unsigned int) = {};
    bool in_cpuhp_startup = false;
    std::vector<struct shrinker*> shrinkers;
    const void* system_wq = nullptr;
};

World& world();
ThreadContext& current_context();

inline SrcLoc loc_of(const char* file, int line) { return SrcLoc{file, line}; }
[[noreturn]] inline void fatal(ErrorKind kind, SrcLoc loc, const std::string& what) {
    z3fh::report_fatal(kind, loc, what);
}
std::string describe(ObjectId id);
// The page or slab object an address lies in, as an object id of class `cls`.
ObjectId object_of(const void* addr, ObjClass cls);
// The held-lock list as the might-sleep and held-at-return reports word it.
std::string held_text(const std::vector<HeldLock>& v);
// A blocking call (`what`) where the kernel may not sleep: a finding.
void might_sleep_here(const char* what, SrcLoc loc);
// An allocation with `gfp` made inside a zpool call whose caller's gfp
// forbids blocking: a gfp-contract finding when `gfp` may block.
void check_gfp_contract(gfp_t gfp, const char* what, SrcLoc loc);

// kshim_context.cpp: forget every lock and thread context (a new run), and
// give a new page its page lock.
void reset_locks();
// kshim_system.cpp: a new run's per-CPU copies, no shrinker, no system_wq.
void reset_system(World& w);
void init_page_lock(const page* pg);

// Inside the shim's hidden scopes, the heap calls themselves stay visible to
// TSan: its allocator resets a block's history at malloc and records the
// free, or a reused block would carry the last owner's accesses.
struct TsanVisible {
    TsanVisible() { tsan_unhide(); }
    ~TsanVisible() { tsan_hide(); }
    TsanVisible(const TsanVisible&) = delete;
    TsanVisible& operator=(const TsanVisible&) = delete;
};

}  // namespace kshim
