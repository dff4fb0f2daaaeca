// z3fold-harden kernel shim, C++ side: the kernel's locks on the sync layer
// and the context rules that go with them. spinlock_t, rwlock_t and the page
// lock are the sync layer's SpinLock and RwLock (the one lock protocol of the
// tree), found by the address of the kernel's lock; the kernel structs keep
// their real sizes. Per thread the shim counts what the kernel's context
// checks need: spinning locks held, preempt_disable and migrate_disable
// depth, and the gfp of the zpool call the thread is in.
#include <fmt/format.h>

#include <cstring>
#include <string>

#include "kshim_world.h"

extern "C" {
#include "kshim_registry.h"
}

namespace kshim {

World& world() {
    static World w;
    return w;
}

ThreadContext& current_context() { return world().threads[current_token()]; }

std::string describe(ObjectId id) { return std::string(obj_class_name(id.cls)) + " " + std::to_string(id.serial); }

ObjectId object_of(const void* addr, ObjClass cls) {
    World& w = world();
    auto a = reinterpret_cast<uintptr_t>(addr);
    auto p = w.pages.find(a & ~(uintptr_t{kBlockSize} - 1));
    if (p != w.pages.end()) return ObjectId{cls, p->second};
    auto o = w.objects.upper_bound(a);
    if (o != w.objects.begin()) {
        --o;
        if (a < o->first + o->second.size) return ObjectId{cls, o->second.serial};
    }
    return ObjectId{cls, 0};
}

std::string held_text(const std::vector<HeldLock>& v) {
    std::string out;
    for (const HeldLock& h : v)
        out += (out.empty() ? "" : ", ") + describe(h.id) + " (taken at " + h.loc.file + ":" + std::to_string(h.loc.line) + ")";
    return out;
}

// Locks of the sync layer the thread holds that are not the kernel file's:
// its caller's (the zswap user's tree lock, a spinlock: zpool_free runs
// under it).
int caller_locks(const ThreadContext& c) {
    ControlledRuntime* rt = active_runtime();
    return rt ? rt->held_count() - static_cast<int>(c.held.size()) : 0;
}

bool in_atomic(const ThreadContext& c) { return c.atomic() || caller_locks(c) > 0; }

void might_sleep_here(const char* what, SrcLoc loc) {
    TsanHidden hidden;
    if (!lock_rule_checks().might_sleep) return;
    World& w = world();
    auto it = w.threads.find(current_token());
    if (it == w.threads.end()) return;
    const ThreadContext& c = it->second;
    std::vector<HeldLock> spinning;
    for (const HeldLock& h : c.held)
        if (h.spinning) spinning.push_back(h);
    if (int n = caller_locks(c); n > 0) {
        SrcLoc at;
        ObjectId outer = active_runtime()->innermost_held(&at);
        if (spinning.empty()) spinning.push_back({nullptr, outer, at, true});
        else fatal(ErrorKind::might_sleep, loc,
                   std::string("BUG: sleeping function called from invalid context: ") + what + " with " +
                       std::to_string(spinning.size() + static_cast<size_t>(n)) + " spinning lock(s) held: " +
                       held_text(spinning) + " and the caller's");
    }
    if (!spinning.empty())
        fatal(ErrorKind::might_sleep, loc,
              std::string("BUG: sleeping function called from invalid context: ") + what + " with " +
                  std::to_string(spinning.size()) + " spinning lock(s) held: " + held_text(spinning));
    if (c.preempt_disabled > 0)
        fatal(ErrorKind::might_sleep, loc,
              std::string("BUG: sleeping function called from invalid context: ") + what +
                  " with preemption disabled (preempt_disable at " + c.preempt_loc.file + ":" +
                  std::to_string(c.preempt_loc.line) + ")");
}

void check_gfp_contract(gfp_t gfp, const char* what, SrcLoc loc) {
    TsanHidden hidden;
    if (!(gfp & KSHIM_GFP_DIRECT_RECLAIM)) return;
    const ThreadContext& c = current_context();
    if (!c.in_caller || (c.caller_gfp & KSHIM_GFP_DIRECT_RECLAIM)) return;
    fatal(ErrorKind::gfp_contract, loc,
          std::string(what) + " may block (__GFP_DIRECT_RECLAIM), but the zpool caller's gfp " +
              fmt::format("{:#x}", c.caller_gfp) + " does not allow blocking");
}

namespace {

// A lock's class from the expression spin_lock_init was given.
ObjClass lock_class(const char* name, bool rw) {
    std::string n = name ? name : "";
    if (rw && n.find("slots") != std::string::npos) return ObjClass::slots_lock;
    if (n.find("stale_lock") != std::string::npos) return ObjClass::stale_lock;
    if (n.find("page_lock") != std::string::npos) return ObjClass::page_lock;
    if (n.find("pool->lock") != std::string::npos) return ObjClass::pool_lock;
    if (n.find("mm_list_lock") != std::string::npos) return ObjClass::mm_list;
    if (n.find("class->lock") != std::string::npos) return ObjClass::zs_class_lock;
    if (rw && n.find("migrate_lock") != std::string::npos) return ObjClass::zs_migrate_lock;
    if (rw && n.find("zspage->lock") != std::string::npos) return ObjClass::zs_zspage_lock;
    return ObjClass::none;
}

void note_acquired(const void* lock, ObjectId id, SrcLoc loc, bool spinning, const char* lockdep_class = nullptr,
                   int subclass = 0) {
    current_context().held.push_back({lock, id, loc, spinning, lockdep_class, subclass});
}
void note_released(const void* lock) {
    auto& v = current_context().held;
    for (size_t i = v.size(); i-- > 0;)
        if (v[i].lock == lock) {
            v.erase(v.begin() + static_cast<long>(i));
            return;
        }
}

SpinLock* new_spin(uintptr_t key, ObjectId id) {
    World& w = world();
    SpinLock* s = w.spin_arena.make();
    s->init(id);
    w.spins[key] = s;
    return s;
}
// A lock nobody initialised is zeroed memory, which is an unlocked lock.
SpinLock& spin_of(const spinlock_t* l) {
    auto key = reinterpret_cast<uintptr_t>(l);
    auto it = world().spins.find(key);
    return it != world().spins.end() ? *it->second : *new_spin(key, object_of(l, ObjClass::none));
}
RwLock& rw_of(const rwlock_t* l) {
    World& w = world();
    auto key = reinterpret_cast<uintptr_t>(l);
    auto it = w.rwlocks.find(key);
    if (it != w.rwlocks.end()) return *it->second;
    RwLock* r = w.rw_arena.make();
    r->init(object_of(l, ObjClass::none));
    w.rwlocks[key] = r;
    return *r;
}
SpinLock& page_lock_of(const page* pg) {
    auto key = reinterpret_cast<uintptr_t>(pg);
    auto it = world().spins.find(key);
    return it != world().spins.end() ? *it->second
                                     : *new_spin(key, ObjectId{ObjClass::page_mutex, static_cast<uint32_t>(kshim_page_extra(pg)->serial)});
}

// Each lock operation reads (and on a change writes) the kernel's lock
// word first, as the real lock does: a lock in freed memory is an access
// ASan reports, before any state is looked up.
unsigned int touch(const volatile unsigned int* word) { return *word; }

// A failed trylock is usually retried (z3fold's lookups loop on it under
// pool->lock, without cpu_relax when they may not sleep). On real CPUs the
// holder runs meanwhile and queued spinlocks are fair; here another thread
// runs before the retry: at once if this thread holds no spinning lock, else
// right after its next unlock (so the threads waiting for that lock get it
// before the retry takes it again).
void after_failed_trylock(ObjectId id, SrcLoc loc) {
    ThreadContext& c = current_context();
    if (c.spinning()) c.yield_after_unlock = true;
    else point(Event::yield, id, loc);
}
void after_unlock(ObjectId id, SrcLoc loc) {
    ThreadContext& c = current_context();
    if (!c.yield_after_unlock) return;
    c.yield_after_unlock = false;
    point(Event::yield, id, loc);
}

}  // namespace

void reset_locks() {
    World& w = world();
    w.spins.clear();
    w.spin_classes.clear();
    w.rwlocks.clear();
    w.spin_arena.reset();
    w.rw_arena.reset();
    for (auto& [thread, c] : w.threads) c.clear();
}

void init_page_lock(const page* pg) {
    auto key = reinterpret_cast<uintptr_t>(pg);
    new_spin(key, ObjectId{ObjClass::page_mutex, static_cast<uint32_t>(kshim_page_extra(pg)->serial)});
}

}  // namespace kshim

using namespace kshim;

// The kernel's lock API takes and releases a lock in separate calls, which
// the static analysis cannot pair; the sync layer checks them at run time.
#define KSHIM_LOCK_API Z3FH_TSA_ESCAPE("the kernel's lock API: acquire and release are separate calls")

extern "C" void kshim_spin_init(spinlock_t* l, const char* name) {
    TsanHidden hidden;
    l->kshim_locked = 0;
    new_spin(reinterpret_cast<uintptr_t>(l), object_of(l, lock_class(name, false)));
    world().spin_classes[reinterpret_cast<uintptr_t>(l)] = name;
}

namespace {
// lockdep's check_deadlock, for spinlocks: a lock taken (not tried) while
// the thread holds another of the same class and subclass. lockdep keys a
// class by its spin_lock_init call site; the shim by the expression that
// site passed (`#l`, one literal a site).
void check_recursive(const spinlock_t* l, int subclass, SrcLoc loc) {
    auto it = world().spin_classes.find(reinterpret_cast<uintptr_t>(l));
    if (it == world().spin_classes.end() || !it->second) return;
    for (const HeldLock& h : current_context().held)
        if (h.lockdep_class && std::strcmp(h.lockdep_class, it->second) == 0 && h.subclass == subclass)
            fatal(ErrorKind::recursive_locking, loc,
                  std::string("possible recursive locking detected: a lock of class ") + it->second +
                      " is taken while one of that class is held (taken at " + h.loc.file + ":" +
                      std::to_string(h.loc.line) + "), with no nesting annotation (spin_lock_nested)");
}
const char* class_of(const spinlock_t* l) {
    auto it = world().spin_classes.find(reinterpret_cast<uintptr_t>(l));
    return it == world().spin_classes.end() ? nullptr : it->second;
}
}  // namespace

extern "C" KSHIM_LOCK_API void kshim_spin_lock_nested(spinlock_t* l, int subclass, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    touch(&l->kshim_locked);
    check_recursive(l, subclass, loc_of(file, line));
    SpinLock& s = spin_of(l);
    current_context().acquiring = true;
    s.lock(loc_of(file, line));
    current_context().acquiring = false;
    l->kshim_locked = 1;
    note_acquired(&s, s.id(), loc_of(file, line), true, class_of(l), subclass);
}
extern "C" KSHIM_LOCK_API void kshim_spin_lock(spinlock_t* l, const char* file, int line) {
    kshim_spin_lock_nested(l, 0, file, line);
}
extern "C" KSHIM_LOCK_API int kshim_spin_trylock(spinlock_t* l, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    touch(&l->kshim_locked);
    SpinLock& s = spin_of(l);
    if (!s.try_lock(loc_of(file, line))) {
        after_failed_trylock(s.id(), loc_of(file, line));
        return 0;
    }
    l->kshim_locked = 1;
    note_acquired(&s, s.id(), loc_of(file, line), true, class_of(l));
    return 1;
}
extern "C" KSHIM_LOCK_API void kshim_spin_unlock(spinlock_t* l, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    touch(&l->kshim_locked);
    SpinLock& s = spin_of(l);
    s.unlock(loc_of(file, line));
    l->kshim_locked = 0;
    note_released(&s);
    after_unlock(s.id(), loc_of(file, line));
}
extern "C" int kshim_spin_is_locked(const spinlock_t* l) {
    TsanHidden hidden;
    auto it = world().spins.find(reinterpret_cast<uintptr_t>(l));
    return it != world().spins.end() && it->second->is_locked();
}

extern "C" void kshim_rw_init(rwlock_t* l, const char* name) {
    TsanHidden hidden;
    World& w = world();
    l->kshim_cnts = l->kshim_wait_lock = 0;
    RwLock* r = w.rw_arena.make();
    r->init(object_of(l, lock_class(name, true)));
    w.rwlocks[reinterpret_cast<uintptr_t>(l)] = r;
}
extern "C" KSHIM_LOCK_API void kshim_read_lock(rwlock_t* l, const char* file, int line) {
    TsanHidden hidden;
    touch(&l->kshim_cnts);
    RwLock& r = rw_of(l);
    current_context().acquiring = true;
    r.read_lock(loc_of(file, line));
    current_context().acquiring = false;
    l->kshim_cnts += 1;
    note_acquired(&r, r.id(), loc_of(file, line), true);
}
extern "C" KSHIM_LOCK_API void kshim_read_unlock(rwlock_t* l, const char* file, int line) {
    TsanHidden hidden;
    touch(&l->kshim_cnts);
    RwLock& r = rw_of(l);
    r.read_unlock(loc_of(file, line));
    l->kshim_cnts -= 1;
    note_released(&r);
}
// qrwlock's: a thread waits for it (one holds its wait lock).
extern "C" int kshim_rwlock_is_contended(rwlock_t* l) {
    TsanHidden hidden;
    return rw_of(l).contended() ? 1 : 0;
}
// assert_spin_locked: BUG_ON(!spin_is_locked(lock)), whoever holds it.
extern "C" void kshim_assert_spin_held(const spinlock_t* l, const char* file, int line) {
    if (!kshim_spin_is_locked(l)) fatal(ErrorKind::check, loc_of(file, line), "BUG_ON(!spin_is_locked(lock)) in assert_spin_locked");
}

extern "C" KSHIM_LOCK_API void kshim_write_lock(rwlock_t* l, const char* file, int line) {
    TsanHidden hidden;
    touch(&l->kshim_cnts);
    RwLock& r = rw_of(l);
    current_context().acquiring = true;
    r.write_lock(loc_of(file, line));
    current_context().acquiring = false;
    l->kshim_cnts = 0xff;  // qrwlock's _QW_LOCKED
    note_acquired(&r, r.id(), loc_of(file, line), true);
}
extern "C" KSHIM_LOCK_API void kshim_write_unlock(rwlock_t* l, const char* file, int line) {
    TsanHidden hidden;
    touch(&l->kshim_cnts);
    RwLock& r = rw_of(l);
    r.write_unlock(loc_of(file, line));
    l->kshim_cnts = 0;
    note_released(&r);
}

// lock_page is a sleeping lock: it may not be taken in atomic context.
// PG_locked mirrors it in page->flags, where PageLocked reads it.
extern "C" KSHIM_LOCK_API void kshim_lock_page(struct page* pg, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    might_sleep_here("lock_page", loc_of(file, line));
    touch(reinterpret_cast<const volatile unsigned int*>(&pg->flags));
    SpinLock& s = page_lock_of(pg);
    s.lock(loc_of(file, line));
    __atomic_fetch_or(&pg->flags, KSHIM_PG_locked, __ATOMIC_RELAXED);
    note_acquired(&s, s.id(), loc_of(file, line), false);
}
extern "C" KSHIM_LOCK_API int kshim_trylock_page(struct page* pg, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    touch(reinterpret_cast<const volatile unsigned int*>(&pg->flags));
    SpinLock& s = page_lock_of(pg);
    if (!s.try_lock(loc_of(file, line))) return 0;
    __atomic_fetch_or(&pg->flags, KSHIM_PG_locked, __ATOMIC_RELAXED);
    note_acquired(&s, s.id(), loc_of(file, line), false);
    return 1;
}
extern "C" KSHIM_LOCK_API void kshim_unlock_page(struct page* pg, const char* file, int line) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    touch(reinterpret_cast<const volatile unsigned int*>(&pg->flags));
    SpinLock& s = page_lock_of(pg);
    s.unlock(loc_of(file, line));
    __atomic_fetch_and(&pg->flags, ~KSHIM_PG_locked, __ATOMIC_RELAXED);
    note_released(&s);
}

// ---- preemption, migration and the CPU id ----

namespace {
// One CPU runs one task at a time: what a task does with preemption off on
// a CPU (its per-CPU data, zsmalloc's mapping area) happens before what the
// next task does there with preemption off. The fibers are TSan threads of
// their own, so that order is told to TSan through one token a CPU.
struct alignas(64) CpuToken {
    char byte;
};
CpuToken g_cpu_token[64];
[[maybe_unused]] const void* cpu_token() { return &g_cpu_token[static_cast<unsigned>(current_vcpu()) % 64]; }
}  // namespace

extern "C" void kshim_preempt_disable(const char* file, int line) {
    TsanHidden hidden;
    ThreadContext& c = current_context();
    if (c.preempt_disabled++ == 0) {
        c.preempt_loc = loc_of(file, line);
        Z3FH_HB_ACQUIRE(cpu_token());
    }
}
extern "C" void kshim_preempt_enable(const char* file, int line) {
    TsanHidden hidden;
    ThreadContext& c = current_context();
    if (c.preempt_disabled <= 0) fatal(ErrorKind::check, loc_of(file, line), "preempt_enable without preempt_disable");
    if (--c.preempt_disabled == 0) Z3FH_HB_RELEASE(cpu_token());
}
// The allocator's caller holds a spinning lock of its own around the call
// (the preemption count the kernel's spin_lock takes): what the allocator
// does inside is atomic, and it returns with that count still taken.
extern "C" void kshim_caller_atomic_begin(const char* file, int line) {
    kshim_preempt_disable(file, line);
    TsanHidden hidden;
    current_context().caller_atomic++;
}
extern "C" void kshim_caller_atomic_end(void) {
    {
        TsanHidden hidden;
        current_context().caller_atomic--;
    }
    kshim_preempt_enable(__FILE__, __LINE__);
}
extern "C" void kshim_migrate_disable(const char* file, int line) {
    TsanHidden hidden;
    (void)file;
    (void)line;
    current_context().migrate_disabled++;
}
extern "C" void kshim_migrate_enable(const char* file, int line) {
    TsanHidden hidden;
    ThreadContext& c = current_context();
    if (c.migrate_disabled <= 0) fatal(ErrorKind::check, loc_of(file, line), "migrate_enable without migrate_disable");
    c.migrate_disabled--;
}

extern "C" int kshim_current_cpu(void) { return current_vcpu(); }

// CONFIG_DEBUG_PREEMPT's check_preemption_disabled: the CPU id is only
// stable with preemption off (a spinning lock held, or preempt_disable) or
// migration disabled. Work items run on an unbound queue's workers (z3fold's
// queues are ordered, hence unbound), so the rule holds there too. The
// harness's main context (pool setup and teardown) is not checked.
extern "C" int kshim_checked_cpu(const char* what, const char* file, int line) {
    TsanHidden hidden;
    if (active_runtime()) {
        const ThreadContext& c = current_context();
        if (!in_atomic(c) && c.migrate_disabled == 0)
            fatal(ErrorKind::cpu_id_preemptible, loc_of(file, line),
                  std::string("BUG: using ") + what + " in preemptible [00000000] code: the thread may move to "
                  "another CPU right after it (no spinning lock, preempt_disable or migrate_disable held)");
    }
    return current_vcpu();
}

// For the scheduler (ControlledRuntime::set_preemptible): a thread may move
// to another CPU unless it holds a spinning lock of the kernel file's, has
// preemption or migration disabled, or holds a lock of its caller's (the
// zswap user's tree spinlock): `held` counts the sync layer's locks.
extern "C" bool kshim_thread_preemptible(int thread, int held) {
    TsanHidden hidden;
    auto it = world().threads.find(thread);
    if (it == world().threads.end()) return held == 0;
    const ThreadContext& c = it->second;
    return !c.atomic() && c.migrate_disabled == 0 && held == static_cast<int>(c.held.size());
}

// For the scheduler (ControlledRuntime::set_owns_cpu): preemption is off
// on the thread's CPU (a spinning lock held, its caller's too: `held`
// beyond the shim's own; preempt_disable, kmap_atomic, local_lock), so no
// other thread runs there. A thread at a spin_lock's point is not yet: the
// point stands for the instructions before the lock's preempt_disable, where
// the kernel may preempt it (z3fold_alloc's unlock_page, then its
// z3fold_page_lock: K13's window). One that found the lock taken and spins
// for it (`waiting`) is: the kernel spins with preemption off, and a
// qrwlock writer that waits already holds readers off, so letting its CPU
// run a reader that then spins behind it would be a hang the kernel cannot
// have. A waiter for the caller's own spinning locks (zswap's tree lock,
// zram's slot lock) keeps the model's freedom: the sync layer's spinlock
// has no queue (the kernel's qspinlock does), so no thread waits behind it
// and freeing its CPU cannot produce that hang.
extern "C" int kshim_thread_owns_cpu(int thread, int held, bool waiting) {
    TsanHidden hidden;
    auto it = world().threads.find(thread);
    if (it == world().threads.end()) return held > 0 ? KSHIM_CPU_PREEMPT_OFF : KSHIM_CPU_FREE;
    const ThreadContext& c = it->second;
    if (c.preempt_disabled > 0 || c.spinning() || held != static_cast<int>(c.held.size())) return KSHIM_CPU_PREEMPT_OFF;
    return waiting && c.acquiring ? KSHIM_CPU_SPIN_WAIT : KSHIM_CPU_FREE;
}

extern "C" void kshim_enter_caller(gfp_t gfp) {
    TsanHidden hidden;
    ThreadContext& c = current_context();
    c.in_caller = true;
    c.caller_gfp = gfp;
}
extern "C" void kshim_leave_caller(void) {
    TsanHidden hidden;
    current_context().in_caller = false;
}

extern "C" void kshim_might_sleep(const char* what, const char* file, int line) { might_sleep_here(what, loc_of(file, line)); }

extern "C" void kshim_check_returned(const char* what) {
    TsanHidden hidden;
    const ThreadContext& c = current_context();
    if (!c.held.empty())
        fatal(ErrorKind::lock_held_at_return, c.held.back().loc, std::string(what) + " returned holding " + held_text(c.held));
    if (c.preempt_disabled > c.caller_atomic)
        fatal(ErrorKind::lock_held_at_return, c.preempt_loc, std::string(what) + " returned with preemption disabled");
    if (c.migrate_disabled > 0)
        fatal(ErrorKind::lock_held_at_return, SrcLoc{"(migrate_disable)", 0},
              std::string(what) + " returned with migration disabled");
}
