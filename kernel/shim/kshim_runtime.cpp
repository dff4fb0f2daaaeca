// z3fold-harden kernel shim, C++ side: the kernel primitives of kshim.h on
// the controlled sync layer (every atomic, bit operation and work-queue call
// is a scheduling point of the same runtime the port runs under; the locks
// and the context rules are in kshim_context.cpp), pages and slab objects
// from the heap (so ASan sees a use after free), per-CPU areas with
// redzones, and the registries the adapter's introspection reads.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kshim_world.h"

extern "C" {
#include "kshim_registry.h"
}

using namespace kshim;

namespace {

static_assert(offsetof(WorkState, item) == 0);

// Memory [from, to) is freed: its list nodes are no list's members, and its
// locks and work items no longer have state under their addresses (a lock
// or work item at a reused address is a new one; a fiber still parked on
// the old state, or a queue still holding it, keeps it: the arenas own it
// until the run ends).
void forget_range(uintptr_t from, uintptr_t to) {
    World& w = world();
    w.members.erase(w.members.lower_bound(from), w.members.lower_bound(to));
    w.spins.erase(w.spins.lower_bound(from), w.spins.lower_bound(to));
    w.spin_classes.erase(w.spin_classes.lower_bound(from), w.spin_classes.lower_bound(to));
    w.rwlocks.erase(w.rwlocks.lower_bound(from), w.rwlocks.lower_bound(to));
    w.works.erase(w.works.lower_bound(from), w.works.lower_bound(to));
}

void free_block(page* pg) {
    World& w = world();
    auto block = reinterpret_cast<uintptr_t>(pg) - kPageSize;
    w.pages.erase(block);
    w.page_sites.erase(block);
    shared_write(nullptr);
    forget_range(block, block + kBlockSize);
    TsanVisible visible;
    std::free(reinterpret_cast<void*>(block));
}

// The queue runs a work item: clear PENDING in work->data (the kernel
// does so before calling the function), then call it. Both touch the
// work_struct, so an item whose memory was freed while queued is an access
// ASan reports.
void work_trampoline(WorkItem* item) {
    work_struct* w = reinterpret_cast<WorkState*>(item)->work;
    {
        TsanHidden hidden;
        w->data &= ~KSHIM_WORK_STRUCT_PENDING;
        world().work_runs[reinterpret_cast<uintptr_t>(w->func)]++;
    }
    w->func(w);
    kshim_check_returned("a work item");
}

WorkState* work_state(const work_struct* w) {
    auto it = world().works.find(reinterpret_cast<uintptr_t>(w));
    return it == world().works.end() ? nullptr : it->second;
}

}  // namespace

// ---- list guards (CONFIG_DEBUG_LIST and lockdep_assert_held on lists) ----

extern "C" void kshim_guard_list(const list_head* head, const spinlock_t* lock) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    world().heads[reinterpret_cast<uintptr_t>(head)] = lock;
}

extern "C" void kshim_unguard_list(const list_head* head) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    world().heads.erase(reinterpret_cast<uintptr_t>(head));
}

namespace {
const spinlock_t* guard_of(const list_head* node) {
    World& w = world();
    auto a = reinterpret_cast<uintptr_t>(node);
    auto h = w.heads.find(a);
    if (h != w.heads.end()) return h->second;
    auto m = w.members.find(a);
    return m == w.members.end() ? nullptr : m->second;
}
void require_guard(const spinlock_t* lock, const list_head* node, const char* what, const char* file, int line) {
    TsanHidden hidden;
    auto it = world().spins.find(reinterpret_cast<uintptr_t>(lock));
    if (it != world().spins.end() && it->second->held_by_me()) return;
    ObjectId id = it != world().spins.end() ? it->second->id() : object_of(lock, ObjClass::none);
    uint32_t page = kshim_page_serial(node);
    fatal(ErrorKind::lock_not_held, loc_of(file, line),
          std::string(what) + (page ? " of page " + std::to_string(page) + "'s node" : std::string()) +
              " on a list guarded by " + describe(id) + ", which this thread does not hold");
}
}  // namespace

// A list head inside a per-CPU area but outside every unit: an index past
// the end of a per-CPU array (z3fold's unbuddied[NCHUNKS]). In the kernel
// the next CPU's data (or whatever follows the last unit) is written.
extern "C" void kshim_list_check_head(const list_head* head, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    auto a = reinterpret_cast<uintptr_t>(head);
    for (const PercpuArea& area : world().percpu) {
        if (a < area.base || a >= area.base + area.stride * static_cast<size_t>(area.units)) continue;
        size_t off = (a - area.base) % area.stride;
        if (off + sizeof(list_head) <= area.size) return;
        size_t cpu = (a - area.base) / area.stride;
        fatal(ErrorKind::percpu_out_of_bounds, loc_of(file, line),
              fmt::format("list head at byte {} of CPU {}'s per-CPU unit of {} bytes: past the unit's end, in the "
                          "memory that follows it{}",
                          off, cpu, area.size, cpu + 1 < static_cast<size_t>(area.units) ? " (the next CPU's unit)" : ""));
    }
}

extern "C" void kshim_list_added(const list_head* n, const list_head* prev, const list_head* next, const char* file,
                                 int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    // The step checks look at the pages whose links a step wrote.
    shared_write(n);
    shared_write(prev);
    shared_write(next);
    const spinlock_t* g = guard_of(prev);
    if (!g) g = guard_of(next);
    if (!g) return;
    require_guard(g, n, "list_add", file, line);
    world().members[reinterpret_cast<uintptr_t>(n)] = g;
}

extern "C" void kshim_list_deleted(const list_head* entry, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    shared_write(entry);
    shared_write(entry->prev);
    shared_write(entry->next);
    const spinlock_t* g = guard_of(entry);
    if (!g) return;
    require_guard(g, entry, "list_del", file, line);
    world().members.erase(reinterpret_cast<uintptr_t>(entry));
}

extern "C" void kshim_list_spliced(const list_head* list, const list_head* head, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    const spinlock_t* from = guard_of(list);
    const spinlock_t* to = guard_of(head);
    if (from) require_guard(from, list->next, "list_splice", file, line);
    if (to) require_guard(to, head, "list_splice", file, line);
    shared_write(list);
    shared_write(head);
    World& w = world();
    for (const list_head* n = list->next; n != list; n = n->next) {
        shared_write(n);
        if (to) w.members[reinterpret_cast<uintptr_t>(n)] = to;
        else w.members.erase(reinterpret_cast<uintptr_t>(n));
    }
}

extern "C" void kshim_list_forget(const list_head* entry) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    // INIT_LIST_HEAD makes a node nobody's member (heads stay registered).
    shared_write(entry);
    world().members.erase(reinterpret_cast<uintptr_t>(entry));
}

extern "C" void kshim_tsan_hide(void) { tsan_hide(); }
extern "C" void kshim_tsan_unhide(void) { tsan_unhide(); }

extern "C" void kshim_fail_nth(int which, int n) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    world().fail_countdown[which ? 1 : 0] = n;
}

namespace {
// The program said this allocation fails: it does, and the trace says where.
bool injected_failure(int which, SrcLoc loc) {
    int& c = world().fail_countdown[which];
    if (c <= 0 || --c != 0) return false;
    point(Event::fault_injected, ObjectId{which ? ObjClass::slots_lock : ObjClass::page_refs, 0}, loc);
    return true;
}
}  // namespace

// ---- the kernel API ----

extern "C" void kshim_yield(const char* file, int line) { point(Event::yield, ObjectId{}, loc_of(file, line)); }
extern "C" void kshim_cond_resched(const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    might_sleep_here("cond_resched", loc_of(file, line));
    point(Event::yield, ObjectId{}, loc_of(file, line));
}
extern "C" void kshim_warn(const char* cond, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    // panic_on_warn: a WARN is a finding, with the kernel's file and line.
    fatal(ErrorKind::warn, loc_of(file, line), cond);
}

extern "C" void kshim_bug(const char* cond, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    fatal(ErrorKind::check, loc_of(file, line), cond);
}

extern "C" int kshim_nr_cpus(void) { return world().nr_cpus; }

// A per-CPU area: a 64-byte header holding the stride, then one unit a
// virtual CPU, each followed by a redzone as long as the unit (at least 64
// bytes; poisoned under ASan), as the
// kernel's units sit in separate chunks: an overflow of one unit reaches no
// other CPU's data silently.
namespace {
constexpr size_t kPercpuHeader = 64;
constexpr size_t kPercpuRedzone = 64;
}  // namespace

extern "C" void* kshim_alloc_percpu(size_t size, size_t align) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    size_t a = align < 16 ? 16 : align;
    size_t unit = (size + a - 1) / a * a;
    // The redzone is at least a unit long: an index past the array by up
    // to a whole array lands in it, not in the next CPU's unit.
    size_t stride = unit + std::max(kPercpuRedzone, unit);
    int units = world().nr_cpus;
    size_t total = kPercpuHeader + stride * static_cast<size_t>(units);
    char* base;
    {
        TsanVisible visible;
        base = static_cast<char*>(std::calloc(1, total));
    }
    if (!base) return nullptr;
    std::memcpy(base, &stride, sizeof stride);
    char* first = base + kPercpuHeader;
    for (int cpu = 0; cpu < units; cpu++) KSHIM_POISON(first + static_cast<size_t>(cpu) * stride + unit, stride - unit);
    world().percpu.push_back(PercpuArea{reinterpret_cast<uintptr_t>(first), unit, stride, units, Z3FH_ALLOC_SITE(nullptr, 0)});
    return first;
}

extern "C" size_t kshim_percpu_unit(const void* p) {
    size_t stride;
    std::memcpy(&stride, static_cast<const char*>(p) - kPercpuHeader, sizeof stride);
    return stride;
}

extern "C" void kshim_free_percpu(void* p) {
    if (!p) return;
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    auto& areas = world().percpu;
    auto it = std::find_if(areas.begin(), areas.end(),
                           [&](const PercpuArea& a) { return a.base == reinterpret_cast<uintptr_t>(p); });
    if (it != areas.end()) {
        KSHIM_UNPOISON(p, it->stride * static_cast<size_t>(it->units));
        areas.erase(it);
    }
    TsanVisible visible;
    std::free(static_cast<char*>(p) - kPercpuHeader);
}

extern "C" long long kshim_atomic_op(void* counter, int width, int op, long long arg, const char* file, int line) {
    TsanHidden hidden;
    SrcLoc loc = loc_of(file, line);
    // atomic64_t in z3fold is pool->pages_nr; other atomics carry no class.
    ObjectId id = object_of(counter, width == 8 ? ObjClass::pages_nr : ObjClass::none);
    Event ev = op == KSHIM_AT_READ ? Event::atomic_load : op == KSHIM_AT_SET ? Event::atomic_store : Event::atomic_rmw;
    point(ev, id, loc);
    Z3FH_HB_ACQUIRE(counter);
    long long v = width == 8 ? *static_cast<int64_t*>(counter) : *static_cast<int*>(counter);
    const long long old = v;
    if (op == KSHIM_AT_SET || op == KSHIM_AT_XCHG) v = arg;
    else if (op == KSHIM_AT_ADD_RETURN) v += arg;
    if (op != KSHIM_AT_READ) {
        if (width == 8) *static_cast<int64_t*>(counter) = v;
        else *static_cast<int*>(counter) = static_cast<int>(v);
        Z3FH_HB_RELEASE(counter);
    }
    return op == KSHIM_AT_XCHG ? old : v;
}

extern "C" void kshim_kref_init(struct kref* k, const char* file, int line) {
    TsanHidden hidden;
    (void)file;
    (void)line;
    k->refcount.refs.counter = 1;
    Z3FH_HB_RELEASE(k);
}

namespace {
// refcount_t's rules: an increment from zero and a decrement below zero are
// use-after-free (the kernel WARNs and saturates; we stop).
int kref_rmw(struct kref* k, int delta, bool unless_zero, const char* file, int line) {
    TsanHidden hidden;
    SrcLoc loc = loc_of(file, line);
    ObjectId id = object_of(k, ObjClass::refcount);
    point(Event::atomic_rmw, id, loc);
    Z3FH_HB_ACQUIRE(k);
    int old = k->refcount.refs.counter;
    if (unless_zero && old == 0) return 0;
    if (delta > 0 && old <= 0)
        fatal(ErrorKind::refcount, loc, "refcount_t: addition on 0; use-after-free (" + describe(id) + ")");
    if (delta < 0 && old <= 0)
        fatal(ErrorKind::refcount, loc, "refcount_t: underflow; use-after-free (" + describe(id) + ")");
    k->refcount.refs.counter = old + delta;
    Z3FH_HB_RELEASE(k);
    return old + delta;
}
}  // namespace

extern "C" void kshim_kref_get(struct kref* k, const char* file, int line) { kref_rmw(k, 1, false, file, line); }
extern "C" int kshim_kref_get_unless_zero(struct kref* k, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    return kref_rmw(k, 1, true, file, line) != 0;
}
extern "C" int kshim_kref_put(struct kref* k, void (*release)(struct kref*), const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    if (kref_rmw(k, -1, false, file, line) != 0) return 0;
    release(k);
    return 1;
}
extern "C" unsigned int kshim_kref_read(const struct kref* k) {
    TsanHidden hidden;
    return static_cast<unsigned int>(k->refcount.refs.counter);
}

extern "C" int kshim_bitop(int op, long nr, volatile unsigned long* addr, const char* file, int line) {
    TsanHidden hidden;
    SrcLoc loc = loc_of(file, line);
    const void* a = const_cast<const unsigned long*>(addr);
    // page->private holds z3fold's page flags; other words (the slots
    // object's pool link) carry no class of their own.
    ObjClass cls = kshim_page_serial(a) ? ObjClass::page_flags : ObjClass::none;
    static constexpr Event kEvents[] = {Event::bit_test, Event::bit_set, Event::bit_clear, Event::bit_test_and_set,
                                        Event::bit_test_and_clear};
    point(kEvents[op], object_of(a, cls), loc);
    Z3FH_HB_ACQUIRE(a);
    unsigned long mask = 1UL << nr;
    unsigned long old = *addr;
    switch (op) {
    case KSHIM_BIT_SET:
    case KSHIM_BIT_TEST_SET: *addr = old | mask; break;
    case KSHIM_BIT_CLEAR:
    case KSHIM_BIT_TEST_CLEAR: *addr = old & ~mask; break;
    default: return (old & mask) != 0;
    }
    Z3FH_HB_RELEASE(a);
    return (old & mask) != 0;
}

extern "C" void kshim_init_work(struct work_struct* w, work_func_t fn) {
    TsanHidden hidden;
    World& wo = world();
    WorkState* st = wo.work_arena.make();
    st->item.init(&work_trampoline);
    st->work = w;
    wo.works[reinterpret_cast<uintptr_t>(w)] = st;
    w->data = 0;
    w->entry.next = w->entry.prev = &w->entry;
    w->func = fn;
}

extern "C" bool kshim_queue_work(int cpu, struct workqueue_struct* wq, struct work_struct* w, const char* file, int line) {
    WorkState* st;
    {
        TsanHidden hidden;
        World& wo = world();
        SrcLoc loc = loc_of(file, line);
        if (cpu != KSHIM_WORK_CPU_UNBOUND && (cpu < 0 || cpu >= wo.nr_cpus))
            fatal(ErrorKind::queue_work_cpu, loc,
                  fmt::format("queue_work_on(cpu {}) with {} possible CPU(s): an unbound queue looks the CPU's NUMA "
                              "node up (cpu_to_node), a bound one its per-CPU pool; both read out of bounds",
                              cpu, wo.nr_cpus));
        // Nothing may be queued on a destroyed workqueue (its memory is gone).
        if (!wo.workqueues.count(wq)) fatal(ErrorKind::queue_destroyed, loc, "queue_work on a destroyed workqueue");
        (void)__atomic_load_n(&w->data, __ATOMIC_RELAXED);  // the kernel's test_and_set_bit(PENDING)
        st = work_state(w);
        if (!st) fatal(ErrorKind::check, loc, "queue_work of a work item INIT_WORK never initialised");
        st->wq = reinterpret_cast<KWorkQueue*>(wq);
    }
    bool queued = reinterpret_cast<KWorkQueue*>(wq)->q.queue(&st->item, cpu < 0 ? 0 : cpu, loc_of(file, line));
    TsanHidden hidden;
    if (queued) w->data |= KSHIM_WORK_STRUCT_PENDING;
    return queued;
}

extern "C" bool kshim_cancel_work_sync(struct work_struct* w, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    might_sleep_here("cancel_work_sync", loc_of(file, line));
    (void)__atomic_load_n(&w->data, __ATOMIC_RELAXED);
    WorkState* st = work_state(w);
    // Never queued, or its queue is destroyed (drained, so the item is idle:
    // the kernel's cancel_work_sync finds it so through work->data).
    if (!st || !st->wq || !world().workqueues.count(st->wq)) {
        point(Event::work_cancel, ObjectId{ObjClass::work_item, 0}, loc_of(file, line));
        return false;
    }
    bool was_pending = st->wq->q.cancel_sync(&st->item, loc_of(file, line));
    w->data &= ~KSHIM_WORK_STRUCT_PENDING;
    return was_pending;
}

extern "C" struct workqueue_struct* kshim_create_workqueue(const char* name) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    (void)name;
    auto* q = new KWorkQueue(ObjectId{ObjClass::work_queue, world().next_wq_serial++}, Z3FH_ALLOC_SITE(nullptr, 0));
    world().workqueues.insert(q);
    return reinterpret_cast<struct workqueue_struct*>(q);
}

extern "C" void kshim_destroy_workqueue(struct workqueue_struct* wq, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    might_sleep_here("destroy_workqueue", loc_of(file, line));  // it flushes: it sleeps
    auto* q = reinterpret_cast<KWorkQueue*>(wq);
    q->q.flush();  // drains first, like the kernel's (waiting for the worker when scheduled)
    world().workqueues.erase(wq);
    world().dead_workqueues.push_back(q);
}

namespace {
page* new_page(const AllocSite& site);
}  // namespace

extern "C" struct page* kshim_alloc_page(gfp_t gfp, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    if (gfp & KSHIM_GFP_DIRECT_RECLAIM) might_sleep_here("alloc_page with a blocking gfp", loc_of(file, line));
    check_gfp_contract(gfp, "alloc_page", loc_of(file, line));
    if (injected_failure(0, loc_of(file, line))) return nullptr;
    return new_page(Z3FH_ALLOC_SITE(file, line));
}

extern "C" struct page* kshim_alloc_free_page(const char* file, int line) {
    (void)file;
    (void)line;
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    return new_page(Z3FH_ALLOC_SITE(file, line));
}

namespace {
page* new_page(const AllocSite& site) {
    World& w = world();
    void* block;
    {
        TsanVisible visible;
        block = std::aligned_alloc(kBlockSize, kBlockSize);
        // A fixed fill, so a read of a fresh page is the same in every run.
        if (block) std::memset(block, 0x6b, kPageSize);
    }
    if (!block) return nullptr;
    auto* pg = reinterpret_cast<page*>(static_cast<char*>(block) + kPageSize);
    std::memset(pg, 0, sizeof *pg);
    pg->lru.next = pg->lru.prev = &pg->lru;
    pg->_refcount.counter = 1;
    pg->page_type = UINT_MAX;
    kshim_page_extra(pg)->serial = w.next_page_serial++;
    w.pages.emplace(reinterpret_cast<uintptr_t>(block), static_cast<uint32_t>(kshim_page_extra(pg)->serial));
    w.page_sites.emplace(reinterpret_cast<uintptr_t>(block), site);
    init_page_lock(pg);
    shared_write(nullptr);  // the step checks ask which pages are live
    // Published: the kernel's struct page predates the allocation (the page
    // allocator's own locks order a scanner's look after it); the shim's is
    // born here, so a get_page_unless_zero elsewhere acquires its birth.
    Z3FH_HB_RELEASE(&pg->_refcount);
    return pg;
}
}  // namespace

extern "C" struct page* kshim_get_page_unless_zero(const void* data, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    uint32_t serial = kshim_live_page_serial(data);
    point(Event::atomic_rmw, ObjectId{ObjClass::page_refs, serial}, loc_of(file, line));
    if (!kshim_live_page_serial(data)) return nullptr;  // freed while we stood at the point
    auto* pg = reinterpret_cast<page*>(static_cast<char*>(const_cast<void*>(data)) + kPageSize);
    if (pg->_refcount.counter <= 0) return nullptr;
    Z3FH_HB_ACQUIRE(&pg->_refcount);
    pg->_refcount.counter++;
    return pg;
}

extern "C" void kshim_get_page(struct page* pg, const char* file, int line) {
    TsanHidden hidden;
    SrcLoc loc = loc_of(file, line);
    ObjectId id = ObjectId{ObjClass::page_refs, static_cast<uint32_t>(kshim_page_extra(pg)->serial)};
    point(Event::atomic_rmw, id, loc);
    if (pg->_refcount.counter <= 0) fatal(ErrorKind::refcount, loc, "get_page on a page with no reference: " + describe(id));
    Z3FH_HB_ACQUIRE(&pg->_refcount);
    pg->_refcount.counter++;
}

extern "C" void kshim_put_page(struct page* pg, const char* file, int line) {
    TsanHidden hidden;
    SrcLoc loc = loc_of(file, line);
    ObjectId id = ObjectId{ObjClass::page_refs, static_cast<uint32_t>(kshim_page_extra(pg)->serial)};
    point(Event::atomic_rmw, id, loc);
    if (pg->_refcount.counter <= 0) fatal(ErrorKind::refcount, loc, "put_page below zero: " + describe(id));
    // put_page's atomic_dec_and_test is fully ordered: every holder's use of
    // the page happens before the last put frees it.
    Z3FH_HB_RELEASE(&pg->_refcount);
    if (--pg->_refcount.counter == 0) {
        Z3FH_HB_ACQUIRE(&pg->_refcount);
        free_block(pg);
    }
}

extern "C" struct kmem_cache* kshim_kmem_cache_create(const char* name, size_t size, size_t align) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    auto* c = new KmemCache{name ? name : "", size, align < 8 ? 8 : align, 0, Z3FH_ALLOC_SITE(nullptr, 0)};
    world().caches.push_back(c);
    return reinterpret_cast<struct kmem_cache*>(c);
}

extern "C" void* kshim_kmem_cache_alloc(struct kmem_cache* cache, gfp_t gfp, const char* file, int line) {
    const AllocSite site = Z3FH_ALLOC_SITE(file, line);
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    if (gfp & KSHIM_GFP_DIRECT_RECLAIM) might_sleep_here("kmem_cache_alloc with a blocking gfp", loc_of(file, line));
    check_gfp_contract(gfp, "kmem_cache_alloc", loc_of(file, line));
    if (injected_failure(1, loc_of(file, line))) return nullptr;
    auto* c = reinterpret_cast<KmemCache*>(cache);
    size_t bytes = (c->size + c->align - 1) / c->align * c->align;
    void* obj;
    {
        TsanVisible visible;
        obj = std::aligned_alloc(c->align, bytes);
        if (obj) std::memset(obj, 0, bytes);  // kmem_cache_zalloc
    }
    if (!obj) return nullptr;
    World& w = world();
    w.objects.emplace(reinterpret_cast<uintptr_t>(obj), SlabObject{c, w.next_slab_serial++, bytes, site});
    shared_write(nullptr);
    c->live++;
    return obj;
}

extern "C" void kshim_kmem_cache_free(struct kmem_cache* cache, void* obj, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    // Unlike kfree(), 6.1's kmem_cache_free() does not take NULL: it looks the
    // slab up from the address (mm/slub.c:3710-3716, virt_to_slab(NULL)).
    if (!obj) fatal(ErrorKind::check, loc_of(file, line), "kmem_cache_free(cache, NULL): 6.1's kmem_cache_free does not take NULL");
    World& w = world();
    auto it = w.objects.find(reinterpret_cast<uintptr_t>(obj));
    if (it == w.objects.end() || it->second.cache != reinterpret_cast<KmemCache*>(cache))
        fatal(ErrorKind::check, loc_of(file, line), "kmem_cache_free of an object this cache does not hold (double free?)");
    const uintptr_t from = it->first, to = it->first + it->second.size;
    w.objects.erase(it);
    forget_range(from, to);
    shared_write(nullptr);
    reinterpret_cast<KmemCache*>(cache)->live--;
    TsanVisible visible;
    std::free(obj);
}

extern "C" void kshim_kmem_cache_destroy(struct kmem_cache* cache, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    might_sleep_here("kmem_cache_destroy", loc_of(file, line));
    if (!cache) return;
    auto* c = reinterpret_cast<KmemCache*>(cache);
    auto& live = world().caches;
    live.erase(std::remove(live.begin(), live.end(), c), live.end());
    // The kernel complains ("Slab cache still has objects") and keeps the
    // cache; so do we. The harness's teardown check has already reported
    // the objects (a leak, signed by each one's site).
    if (c->live != 0) {
        world().zombie_caches.push_back(c);
        return;
    }
    delete c;
}

extern "C" void* kshim_kzalloc(size_t size, gfp_t gfp, const char* file, int line) {
    const AllocSite site = Z3FH_ALLOC_SITE(file, line);
    if (gfp & KSHIM_GFP_DIRECT_RECLAIM) might_sleep_here("kzalloc with a blocking gfp", loc_of(file, line));
    check_gfp_contract(gfp, "kzalloc", loc_of(file, line));
    void* p = std::calloc(1, size);
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    if (p) world().kmallocs.emplace(reinterpret_cast<uintptr_t>(p), KmallocBlock{size, site, world().in_cpuhp_startup});
    return p;
}
extern "C" void kshim_kfree(const void* p) {
    if (!p) return;
    {
        TsanHidden hidden;
        world().kmallocs.erase(reinterpret_cast<uintptr_t>(p));
    }
    std::free(const_cast<void*>(p));
}
