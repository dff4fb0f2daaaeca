// The kernel shim's primitives: kref, lists and their lock guard,
// spinlocks, work queues and the kernel's context rules under the scheduler.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/diagram.h"
#include "harness/runner.h"
#include "target/target.h"
#include "kernel_adapter.h"
#include "kernel_target_base.h"
#include "kshim_registry.h"
#include "program/program.h"
#include "run/driver.h"
#include "sched/runtime.h"
#include "sync/sync.h"

// The shim's C entry points these tests drive directly (kshim.h is C, with
// kernel macros such as min/max that a C++ file must not see).
extern "C" {
void kshim_spin_init(spinlock_t* l, const char* name);
void kshim_spin_lock(spinlock_t* l, const char* file, int line);
void kshim_spin_lock_nested(spinlock_t* l, int subclass, const char* file, int line);
int kshim_spin_trylock(spinlock_t* l, const char* file, int line);
void kshim_spin_unlock(spinlock_t* l, const char* file, int line);
void kshim_rw_init(rwlock_t* l, const char* name);
void kshim_read_lock(rwlock_t* l, const char* file, int line);
void kshim_read_unlock(rwlock_t* l, const char* file, int line);
void kshim_write_lock(rwlock_t* l, const char* file, int line);
void kshim_write_unlock(rwlock_t* l, const char* file, int line);
void kshim_kref_init(struct kref* k, const char* file, int line);
void* kshim_kmem_cache_alloc(struct kmem_cache* c, gfp_t gfp, const char* file, int line);
struct kmem_cache* kshim_kmem_cache_create(const char* name, size_t size, size_t align);
void kshim_kmem_cache_free(struct kmem_cache* c, void* obj, const char* file, int line);
void kshim_cond_resched(const char* file, int line);
void kshim_kmem_cache_destroy(struct kmem_cache* c, const char* file, int line);
void kshim_kref_get(struct kref* k, const char* file, int line);
int kshim_kref_get_unless_zero(struct kref* k, const char* file, int line);
int kshim_kref_put(struct kref* k, void (*release)(struct kref*), const char* file, int line);
void kshim_list_added(const struct list_head* n, const struct list_head* prev, const struct list_head* next,
                      const char* file, int line);
void kshim_list_deleted(const struct list_head* entry, const char* file, int line);
void kshim_init_work(struct work_struct* w, work_func_t fn);
bool kshim_queue_work(int cpu, struct workqueue_struct* wq, struct work_struct* w, const char* file, int line);
bool kshim_cancel_work_sync(struct work_struct* w, const char* file, int line);
struct workqueue_struct* kshim_create_workqueue(const char* name);
void kshim_destroy_workqueue(struct workqueue_struct* wq, const char* file, int line);
bool kshim_work_pending(const struct work_struct* w);
void kshim_preempt_disable(const char* file, int line);
void kshim_preempt_enable(const char* file, int line);
void kshim_migrate_disable(const char* file, int line);
void kshim_migrate_enable(const char* file, int line);
int kshim_checked_cpu(const char* what, const char* file, int line);
void* kshim_alloc_percpu(size_t size, size_t align);
size_t kshim_percpu_unit(const void* p);
void kshim_free_percpu(void* p);
void kshim_list_check_head(const struct list_head* head, const char* file, int line);
void kshim_yield(const char* file, int line);
int kshim_current_cpu(void);
struct page* kshim_alloc_page(gfp_t gfp, const char* file, int line);
void kshim_put_page(struct page* page, const char* file, int line);
}

namespace z3fh::fuzz {
namespace {

int g_released = 0;
void count_release(struct kref*) { g_released++; }

TEST(KernelShim, KrefFollowsTheKernelsRules) {
    kshim_reset(1);
    struct kref k;
    kshim_kref_init(&k, __FILE__, __LINE__);
    kshim_kref_get(&k, __FILE__, __LINE__);
    g_released = 0;
    EXPECT_EQ(kshim_kref_put(&k, &count_release, __FILE__, __LINE__), 0);
    EXPECT_EQ(g_released, 0);
    EXPECT_EQ(kshim_kref_put(&k, &count_release, __FILE__, __LINE__), 1);
    EXPECT_EQ(g_released, 1);
    EXPECT_EQ(kshim_kref_get_unless_zero(&k, __FILE__, __LINE__), 0);
    // refcount_t: an increment from zero is a use after free.
    EXPECT_DEATH(kshim_kref_get(&k, "mm/z3fold.c", 42), "addition on 0");
    EXPECT_DEATH(kshim_kref_put(&k, &count_release, "mm/z3fold.c", 43), "underflow");
}

TEST(KernelShim, GuardedListNeedsItsLock) {
    kshim_reset(1);
    spinlock_t lock;
    kshim_spin_init(&lock, "&pool->lock");
    struct list_head head = {&head, &head}, node = {nullptr, nullptr};
    kshim_guard_list(&head, &lock);
    // Under the lock: fine, and the node becomes a guarded member.
    kshim_spin_lock(&lock, __FILE__, __LINE__);
    kshim_list_added(&node, &head, head.next, __FILE__, __LINE__);
    node.next = &head;
    node.prev = &head;
    head.next = head.prev = &node;
    kshim_spin_unlock(&lock, __FILE__, __LINE__);
    // Without it: a lock-not-held finding naming the lock's class.
    EXPECT_DEATH(kshim_list_deleted(&node, "mm/z3fold.c", 486), "lock-not-held.*pool lock");
    kshim_spin_lock(&lock, __FILE__, __LINE__);
    kshim_list_deleted(&node, __FILE__, __LINE__);
    kshim_spin_unlock(&lock, __FILE__, __LINE__);
    // Unguarded lists are the kernel's own business.
    struct list_head other = {&other, &other}, n2 = {nullptr, nullptr};
    kshim_list_added(&n2, &other, &other, __FILE__, __LINE__);
    kshim_list_deleted(&n2, __FILE__, __LINE__);
}

// lockdep's recursive-locking check: a lock taken while another of its
// class (its spin_lock_init expression) is held, unless annotated with a
// subclass. z3fold's pages get their header lock from init_z3fold_page's
// spin_lock_init, and a migrated page from z3fold_page_migrate's: two
// classes, so a first migration may nest them, a second (a migrated page
// migrated again) may not without spin_lock_nested. A trylock is never
// checked (it cannot deadlock).
TEST(KernelShim, ASecondLockOfAHeldClassIsRecursiveLocking) {
    kshim_reset(1);
    spinlock_t first, migrated, again;
    kshim_spin_init(&first, "&zhdr->page_lock");
    kshim_spin_init(&migrated, "&new_zhdr->page_lock");
    kshim_spin_init(&again, "&new_zhdr->page_lock");
    kshim_spin_lock(&first, __FILE__, __LINE__);
    kshim_spin_lock(&migrated, __FILE__, __LINE__);  // another class: fine
    kshim_spin_unlock(&migrated, __FILE__, __LINE__);
    kshim_spin_unlock(&first, __FILE__, __LINE__);
    kshim_spin_lock(&migrated, __FILE__, __LINE__);
    EXPECT_DEATH(kshim_spin_lock(&again, "mm/z3fold.c", 1581),
                 "recursive-locking.*possible recursive locking detected: a lock of class &new_zhdr->page_lock");
    kshim_spin_lock_nested(&again, 1, __FILE__, __LINE__);  // SINGLE_DEPTH_NESTING: fine
    kshim_spin_unlock(&again, __FILE__, __LINE__);
    ASSERT_EQ(kshim_spin_trylock(&again, __FILE__, __LINE__), 1);  // a trylock: fine
    kshim_spin_unlock(&again, __FILE__, __LINE__);
    kshim_spin_unlock(&migrated, __FILE__, __LINE__);
}

TEST(KernelShim, SleepingWithASpinlockHeldIsAFinding) {
    kshim_reset(1);
    spinlock_t lock;
    kshim_spin_init(&lock, "&pool->lock");
    struct kmem_cache* c = kshim_kmem_cache_create("t", 64, 64);
    // GFP_ATOMIC under a spinlock is fine; a blocking allocation is not.
    kshim_spin_lock(&lock, __FILE__, __LINE__);
    void* obj = kshim_kmem_cache_alloc(c, 0x20u /* GFP_ATOMIC-like */, __FILE__, __LINE__);
    EXPECT_DEATH(kshim_kmem_cache_alloc(c, KSHIM_GFP_DIRECT_RECLAIM, "mm/z3fold.c", 7),
                 "might-sleep.*kmem_cache_alloc.*pool lock");
    EXPECT_DEATH(kshim_cond_resched("mm/z3fold.c", 8), "might-sleep.*cond_resched");
    // An operation may not return with it held either.
    EXPECT_DEATH(kshim_check_returned("z3fold_free"), "lock-held-at-return.*z3fold_free.*pool lock");
    kshim_spin_unlock(&lock, __FILE__, __LINE__);
    kshim_check_returned("z3fold_free");
    void* obj2 = kshim_kmem_cache_alloc(c, KSHIM_GFP_DIRECT_RECLAIM, __FILE__, __LINE__);
    kshim_cond_resched(__FILE__, __LINE__);
    kshim_kmem_cache_free(c, obj, __FILE__, __LINE__);
    kshim_kmem_cache_free(c, obj2, __FILE__, __LINE__);
    EXPECT_DEATH(kshim_kmem_cache_free(c, obj2, "mm/z3fold.c", 9), "double free");
    kshim_kmem_cache_destroy(c, __FILE__, __LINE__);
}

// Threads of a toy program on the scheduler.
struct Toy {
    std::vector<std::function<void()>> bodies;
    static void entry(void* p) { (*static_cast<std::function<void()>*>(p))(); }
};

int g_work_runs = 0;
spinlock_t g_lock;
int g_in_section = 0;
int g_max_in_section = 0;

void count_work(struct work_struct*) {
    sync::TsanHidden hidden;
    g_work_runs++;
}

TEST(KernelShim, SpinlockExcludesAndWorkRunsOnAWorkerFiber) {
    kshim_reset(1);
    g_work_runs = 0;
    g_in_section = g_max_in_section = 0;
    kshim_spin_init(&g_lock, "&zhdr->page_lock");
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sched::RandomStrategy strategy(seed, 2);
        sched::Runtime rt(strategy);
        sync::install_runtime(&rt);
        struct workqueue_struct* wq = kshim_create_workqueue("test");
        struct work_struct work;
        kshim_init_work(&work, &count_work);
        Toy toy;
        for (int t = 0; t < 3; t++)
            toy.bodies.push_back([&] {
                kshim_spin_lock(&g_lock, __FILE__, __LINE__);
                {
                    sync::TsanHidden hidden;
                    g_in_section++;
                    g_max_in_section = std::max(g_max_in_section, g_in_section);
                }
                sync::cpu_relax();  // another thread may run here, but not enter
                {
                    sync::TsanHidden hidden;
                    g_in_section--;
                }
                kshim_spin_unlock(&g_lock, __FILE__, __LINE__);
                kshim_queue_work(0, wq, &work, __FILE__, __LINE__);
            });
        for (size_t i = 0; i < toy.bodies.size(); i++) rt.spawn("T" + std::to_string(i), &Toy::entry, &toy.bodies[i]);
        sched::RunResult r = rt.run();
        EXPECT_EQ(r.status, sched::RunStatus::completed);
        // A run ends with its workers idle: queued work has run.
        EXPECT_FALSE(kshim_work_pending(&work));
        kshim_destroy_workqueue(wq, __FILE__, __LINE__);
        kshim_free_leftovers();  // the destroyed queue is kept until the run ends
        sync::install_runtime(nullptr);
    }
    EXPECT_EQ(g_max_in_section, 1);
    EXPECT_GE(g_work_runs, 20);
}

// `body` as the one thread of a scheduled run (the context rules apply to
// scheduled threads; the harness's main context is pool setup).
void run_scheduled(const std::function<void()>& body) {
    sched::RandomStrategy strategy(1, 1);
    sched::Runtime rt(strategy);
    sync::install_runtime(&rt);
    std::function<void()> b = body;
    rt.spawn("T0", &Toy::entry, &b);
    sched::RunResult r = rt.run();
    sync::install_runtime(nullptr);
    EXPECT_EQ(r.status, sched::RunStatus::completed);
}

// Each context rule fires on its planted violation, with the kernel's words
// and the caller's line, and is silent where the kernel allows the call.
TEST(KernelShim, CpuIdNeedsPreemptionOrMigrationDisabled) {
    kshim_reset(2);
    spinlock_t lock;
    kshim_spin_init(&lock, "&pool->lock");
    run_scheduled([&] {
        kshim_spin_lock(&lock, __FILE__, __LINE__);
        EXPECT_EQ(kshim_checked_cpu("smp_processor_id()", __FILE__, __LINE__), 0);
        kshim_spin_unlock(&lock, __FILE__, __LINE__);
        kshim_migrate_disable(__FILE__, __LINE__);
        kshim_checked_cpu("this_cpu_ptr()", __FILE__, __LINE__);
        kshim_migrate_enable(__FILE__, __LINE__);
        kshim_preempt_disable(__FILE__, __LINE__);
        kshim_checked_cpu("smp_processor_id()", __FILE__, __LINE__);
        kshim_preempt_enable(__FILE__, __LINE__);
    });
    EXPECT_DEATH(run_scheduled([] { kshim_checked_cpu("smp_processor_id()", "mm/z3fold.c", 1555); }),
                 "ERROR: cpu-id-preemptible: BUG: using smp_processor_id\\(\\) in preemptible.*\n.*at mm/z3fold.c:1555");
}

TEST(KernelShim, SleepingWithPreemptionOffIsAFinding) {
    kshim_reset(1);
    EXPECT_DEATH(run_scheduled([] {
                     kshim_preempt_disable("mm/z3fold.c", 10);
                     kshim_cond_resched("mm/z3fold.c", 11);
                 }),
                 "might-sleep: BUG: sleeping function called from invalid context: cond_resched with preemption "
                 "disabled \\(preempt_disable at mm/z3fold.c:10\\)");
    EXPECT_DEATH(run_scheduled([] {
                     kshim_preempt_disable("mm/z3fold.c", 10);
                     kshim_check_returned("z3fold_alloc");
                 }),
                 "lock-held-at-return: z3fold_alloc returned with preemption disabled");
}

TEST(KernelShim, BlockingAllocationForANonBlockingCallerIsAGfpContractFinding) {
    kshim_reset(1);
    struct kmem_cache* c = kshim_kmem_cache_create("t", 64, 64);
    run_scheduled([&] {
        // A caller that may block: anything goes.
        kshim_enter_caller(KSHIM_GFP_DIRECT_RECLAIM);
        kshim_kmem_cache_free(c, kshim_kmem_cache_alloc(c, KSHIM_GFP_DIRECT_RECLAIM, __FILE__, __LINE__), __FILE__,
                              __LINE__);
        kshim_leave_caller();
        // zswap's gfp (no direct reclaim): GFP_ATOMIC-like allocations only.
        kshim_enter_caller(0x800u);
        kshim_kmem_cache_free(c, kshim_kmem_cache_alloc(c, 0x20u, __FILE__, __LINE__), __FILE__, __LINE__);
        kshim_leave_caller();
    });
    EXPECT_DEATH(run_scheduled([&] {
                     kshim_enter_caller(0x800u);
                     kshim_alloc_page(KSHIM_GFP_DIRECT_RECLAIM, "mm/z3fold.c", 1046);
                 }),
                 "ERROR: gfp-contract: alloc_page may block.*caller's gfp 0x800 does not allow blocking\n.*at "
                 "mm/z3fold.c:1046");
    kshim_kmem_cache_destroy(c, __FILE__, __LINE__);
}

TEST(KernelShim, QueueWorkOnNeedsAPossibleCpu) {
    kshim_reset(2);
    struct workqueue_struct* wq = kshim_create_workqueue("test");
    struct work_struct work;
    kshim_init_work(&work, &count_work);
    EXPECT_DEATH(kshim_queue_work(-1, wq, &work, "mm/z3fold.c", 1555),
                 "ERROR: queue-work-cpu: queue_work_on\\(cpu -1\\) with 2 possible CPU\\(s\\).*\\n.*at mm/z3fold.c:1555");
    EXPECT_DEATH(kshim_queue_work(2, wq, &work, "mm/z3fold.c", 1180), "queue-work-cpu: queue_work_on\\(cpu 2\\)");
    EXPECT_TRUE(kshim_queue_work(KSHIM_WORK_CPU_UNBOUND, wq, &work, __FILE__, __LINE__));
    EXPECT_TRUE(kshim_work_pending(&work));
    kshim_destroy_workqueue(wq, __FILE__, __LINE__);
    EXPECT_FALSE(kshim_work_pending(&work));
    EXPECT_DEATH(kshim_queue_work(0, wq, &work, "mm/z3fold.c", 469), "ERROR: queue-destroyed: queue_work on a destroyed");
    kshim_free_leftovers();
}

// A preempted thread may resume on another virtual CPU, but not while the
// kernel keeps it on its CPU (a spinning lock held).
TEST(KernelShim, PreemptedThreadsMoveCpusOnlyWherePreemptible) {
    kshim_reset(2);
    spinlock_t lock;
    kshim_spin_init(&lock, "&pool->lock");
    bool moved_free = false, moved_locked = false;
    for (uint64_t seed = 1; seed <= 30; seed++) {
        sched::RandomStrategy strategy(seed, 2);
        sched::Runtime rt(strategy);
        sync::install_runtime(&rt);
        rt.set_preemptible(&kshim_thread_preemptible);
        std::function<void()> t0 = [&] {
            for (int i = 0; i < 20; i++) {
                int before = kshim_current_cpu();
                kshim_yield(__FILE__, __LINE__);
                sync::TsanHidden hidden;
                moved_free = moved_free || kshim_current_cpu() != before;
            }
            kshim_spin_lock(&lock, __FILE__, __LINE__);
            for (int i = 0; i < 20; i++) {
                int before = kshim_current_cpu();
                kshim_yield(__FILE__, __LINE__);
                sync::TsanHidden hidden;
                moved_locked = moved_locked || kshim_current_cpu() != before;
            }
            kshim_spin_unlock(&lock, __FILE__, __LINE__);
        };
        std::function<void()> t1 = [] {
            for (int i = 0; i < 40; i++) kshim_yield(__FILE__, __LINE__);
        };
        rt.spawn("T0", &Toy::entry, &t0, 0);
        rt.spawn("T1", &Toy::entry, &t1, 1);
        EXPECT_EQ(rt.run().status, sched::RunStatus::completed);
        sync::install_runtime(nullptr);
    }
    EXPECT_TRUE(moved_free);
    EXPECT_FALSE(moved_locked);
}

// Per-CPU units are apart, with a redzone between them: a list head one
// past a CPU's array (K2's unbuddied[NCHUNKS]) is a finding, in every build.
TEST(KernelShim, PerCpuHeadPastTheUnitIsAFinding) {
    kshim_reset(2);
    constexpr size_t kHeads = 62;
    auto* heads = static_cast<struct list_head*>(kshim_alloc_percpu(kHeads * sizeof(struct list_head), 8));
    size_t stride = kshim_percpu_unit(heads);
    EXPECT_GT(stride, kHeads * sizeof(struct list_head));
    auto* cpu1 = reinterpret_cast<struct list_head*>(reinterpret_cast<char*>(heads) + stride);
    kshim_list_check_head(&heads[kHeads - 1], __FILE__, __LINE__);
    kshim_list_check_head(&cpu1[0], __FILE__, __LINE__);
    EXPECT_DEATH(kshim_list_check_head(&heads[kHeads], "mm/z3fold.c", 555),
                 "ERROR: percpu-out-of-bounds: list head at byte 992 of CPU 0's per-CPU unit of 992 bytes.*next CPU");
    EXPECT_DEATH(kshim_list_check_head(&cpu1[kHeads], "mm/z3fold.c", 555), "percpu-out-of-bounds.*CPU 1's");
    kshim_free_percpu(heads);
}

// A writer that waits for a qrwlock holds new readers off and spins with
// preemption off: its CPU runs no one else meanwhile. Were it to give its
// CPU away, a reader there could take a spinlock (owning the CPU) and spin
// behind the writer, which could then never run again while another CPU
// stays busy: a hang the kernel cannot have (zram's slot lock, then
// zs_map_object's read_lock, behind zs_page_migrate's write_lock). The old
// rule (a waiting spinner keeps no CPU) is run beside it, so the test also
// shows its schedules reach that state.
int hangs_with(sync::ControlledRuntime::OwnsCpuFn owns_cpu, bool expect_completed) {
    rwlock_t rw;
    spinlock_t slot;
    int hangs = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        kshim_reset(2);
        kshim_rw_init(&rw, "&pool->migrate_lock");
        kshim_spin_init(&slot, "&zram->slot_lock");
        sched::RandomStrategy strategy(seed, 2);
        sched::Runtime rt(strategy);
        sync::install_runtime(&rt);
        rt.set_preemptible(&kshim_thread_preemptible);
        rt.set_owns_cpu(owns_cpu, 2);
        bool reader_done = false;
        auto busy_until_read = [&] {
            for (;;) {
                {
                    sync::TsanHidden hidden;
                    if (reader_done) break;
                }
                kshim_yield(__FILE__, __LINE__);
            }
        };
        // CPU 1: a reader, then busy (two threads, so that a yield there
        // always has a thread of CPU 1 to go to) until the slot's reader is through.
        std::function<void()> holder = [&] {
            kshim_read_lock(&rw, __FILE__, __LINE__);
            for (int i = 0; i < 4; i++) kshim_yield(__FILE__, __LINE__);
            kshim_read_unlock(&rw, __FILE__, __LINE__);
            busy_until_read();
        };
        std::function<void()> busy = busy_until_read;
        std::function<void()> writer = [&] {  // CPU 0
            kshim_write_lock(&rw, __FILE__, __LINE__);
            kshim_write_unlock(&rw, __FILE__, __LINE__);
        };
        std::function<void()> slot_reader = [&] {  // CPU 0
            kshim_spin_lock(&slot, __FILE__, __LINE__);
            kshim_read_lock(&rw, __FILE__, __LINE__);
            kshim_read_unlock(&rw, __FILE__, __LINE__);
            kshim_spin_unlock(&slot, __FILE__, __LINE__);
            sync::TsanHidden hidden;
            reader_done = true;
        };
        rt.spawn("T0", &Toy::entry, &holder, 1);
        rt.spawn("T1", &Toy::entry, &writer, 0);
        rt.spawn("T2", &Toy::entry, &slot_reader, 0);
        rt.spawn("T3", &Toy::entry, &busy, 1);
        sched::RunResult r = rt.run();
        EXPECT_NE(r.status, sched::RunStatus::deadlock) << r.report;
        hangs += r.status == sched::RunStatus::hang;
        if (expect_completed) EXPECT_EQ(r.status, sched::RunStatus::completed) << "seed " << seed << ": " << r.report;
        sync::install_runtime(nullptr);
    }
    return hangs;
}

TEST(KernelShim, AWriterWaitingForAQrwlockKeepsItsCpu) {
    const int old_rule =
        hangs_with([](int thread, int held, bool) { return KernelTargetBase::cpu_claim(thread, held, false); }, false);
    EXPECT_GT(old_rule, 0);
    EXPECT_EQ(hangs_with(&KernelTargetBase::cpu_claim, true), 0);
}

// A worker made during the run (the first work queued on a CPU) owns its
// CPU like any thread while it holds a spinning lock: the program's thread
// on that CPU never runs inside the worker's critical section.
bool g_worker_in_section = false;
spinlock_t g_worker_lock;
void locked_work(struct work_struct*) {
    kshim_spin_lock(&g_worker_lock, __FILE__, __LINE__);
    {
        sync::TsanHidden hidden;
        g_worker_in_section = true;
    }
    for (int i = 0; i < 3; i++) kshim_yield(__FILE__, __LINE__);
    {
        sync::TsanHidden hidden;
        g_worker_in_section = false;
    }
    kshim_spin_unlock(&g_worker_lock, __FILE__, __LINE__);
}

TEST(KernelShim, AWorkerMadeMidRunOwnsItsCpuUnderASpinlock) {
    int worker_sections_seen = 0, seen_on_its_cpu = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        kshim_reset(2);
        kshim_spin_init(&g_worker_lock, "&pool->lock");
        sched::RandomStrategy strategy(seed, 2);
        sched::Runtime rt(strategy);
        sync::install_runtime(&rt);
        rt.set_preemptible(&kshim_thread_preemptible);
        rt.set_owns_cpu(&KernelTargetBase::cpu_claim, 2);
        struct workqueue_struct* wq = nullptr;
        struct work_struct work;
        kshim_init_work(&work, &locked_work);
        auto watch = [&](int cpu) {
            for (int i = 0; i < 30; i++) {
                kshim_yield(__FILE__, __LINE__);
                sync::TsanHidden hidden;
                if (g_worker_in_section) (kshim_current_cpu() == cpu ? seen_on_its_cpu : worker_sections_seen)++;
            }
        };
        std::function<void()> t0 = [&] {
            kshim_yield(__FILE__, __LINE__);
            wq = kshim_create_workqueue("test");  // its workers made now, mid-run
            kshim_queue_work(0, wq, &work, __FILE__, __LINE__);
            watch(0);
        };
        std::function<void()> t1 = [&] { watch(0); };
        std::function<void()> t2 = [&] { watch(0); };
        rt.spawn("T0", &Toy::entry, &t0, 0);
        rt.spawn("T1", &Toy::entry, &t1, 0);
        rt.spawn("T2", &Toy::entry, &t2, 1);
        EXPECT_EQ(rt.run().status, sched::RunStatus::completed);
        kshim_destroy_workqueue(wq, __FILE__, __LINE__);
        kshim_free_leftovers();
        sync::install_runtime(nullptr);
    }
    EXPECT_GT(worker_sections_seen, 0);  // from CPU 1: the section was there to see
    EXPECT_EQ(seen_on_its_cpu, 0);
}

// A thread that finds its CPU owned (here: it moved itself there between
// operations, as a program's set_vcpu does) is preempted at its next point;
// the thread that runs instead must not take its place on that CPU, or it
// would run beside the thread with preemption off there.
TEST(KernelShim, APreemptedThreadsSwapNeverLandsOnAnOwnedCpu) {
    int violations = 0, sections = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        kshim_reset(2);
        sched::RandomStrategy strategy(seed, 2);
        sched::Runtime rt(strategy);
        sync::install_runtime(&rt);
        rt.set_preemptible(&kshim_thread_preemptible);
        rt.set_owns_cpu(&KernelTargetBase::cpu_claim, 2);
        bool in_section = false;
        auto watch = [&] {
            for (int i = 0; i < 20; i++) {
                kshim_yield(__FILE__, __LINE__);
                sync::TsanHidden hidden;
                if (in_section && kshim_current_cpu() == 1) violations++;
            }
        };
        std::function<void()> owner = [&] {  // CPU 1, preemption off for a while
            kshim_preempt_disable(__FILE__, __LINE__);
            {
                sync::TsanHidden hidden;
                in_section = true;
                sections++;
            }
            for (int i = 0; i < 10; i++) kshim_yield(__FILE__, __LINE__);
            {
                sync::TsanHidden hidden;
                in_section = false;
            }
            kshim_preempt_enable(__FILE__, __LINE__);
        };
        std::function<void()> mover = [&] {  // CPU 0, then onto CPU 1
            kshim_yield(__FILE__, __LINE__);
            sync::set_current_vcpu(1);
            for (int i = 0; i < 5; i++) kshim_yield(__FILE__, __LINE__);
        };
        std::function<void()> watcher = watch;
        rt.spawn("T0", &Toy::entry, &mover, 0);
        rt.spawn("T1", &Toy::entry, &watcher, 0);
        rt.spawn("T2", &Toy::entry, &owner, 1);
        EXPECT_EQ(rt.run().status, sched::RunStatus::completed);
        sync::install_runtime(nullptr);
    }
    EXPECT_GT(sections, 0);
    EXPECT_EQ(violations, 0);
}

// A kernel pool in the main context (no scheduler: plain sync).
}  // namespace
}  // namespace z3fh::fuzz
