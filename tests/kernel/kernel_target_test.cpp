// The kernel target: the shim's primitives (kref, lists and their lock
// guard, spinlocks and work queues under the scheduler), and the adapter's
// snapshot, validator and handle resolution over the kernel's own z3fold.c.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "harness/diagram.h"
#include "harness/runner.h"
#include "harness/target.h"
#include "kernel_adapter.h"
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
void kshim_spin_unlock(spinlock_t* l, const char* file, int line);
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

// A kernel pool in the main context (no scheduler: plain sync).
struct KernelPool {
    kz_pool* kz = kz_create(1, nullptr, nullptr);
    ~KernelPool() { kz_destroy(kz); }
    unsigned long alloc(size_t size) {
        unsigned long h = 0;
        EXPECT_EQ(kz_alloc(kz, size, 1, &h), 0);
        return h;
    }
    std::vector<kz_page_info> pages() {
        std::vector<kz_page_info> v(64);
        v.resize(kz_snapshot_pages(kz, v.data(), v.size()));
        return v;
    }
    // kz_validate_pages for one page; *decided is its return.
    std::vector<std::string> page_violations(uint32_t serial, bool* decided) {
        std::vector<std::string> out;
        *decided = kz_validate_pages(
                       kz, nullptr, 0, serial,
                       [](void* ctx, const char* id, uint32_t, const char*) {
                           static_cast<std::vector<std::string>*>(ctx)->push_back(id);
                       },
                       &out) != 0;
        return out;
    }
    std::vector<std::string> violations() {
        std::vector<std::string> out;
        kz_validate(
            kz, [](void* ctx, const char* id, uint32_t, const char*) { static_cast<std::vector<std::string>*>(ctx)->push_back(id); },
            &out);
        return out;
    }
};

TEST(KernelAdapter, SnapshotShowsTheKernelsState) {
    ASSERT_NE(std::string(kz_source_path()).find("z3fold.c"), std::string::npos);
    KernelPool p;
    unsigned long a = p.alloc(100), b = p.alloc(200), big = p.alloc(4000);
    std::vector<kz_page_info> pages = p.pages();
    ASSERT_EQ(pages.size(), 2u);  // a and b share a page; big is headless
    const kz_page_info& shared = pages[0];
    EXPECT_FALSE(shared.headless);
    EXPECT_EQ(shared.refcount, 2);        // one per object
    EXPECT_EQ(shared.first_chunks, 2);    // 100 bytes in 64-byte chunks
    EXPECT_EQ(shared.last_chunks, 4);     // 200 bytes
    EXPECT_TRUE(shared.on_lru);
    EXPECT_EQ(shared.unbuddied_cpu, 0);
    EXPECT_EQ(shared.unbuddied_index, 62 - 2 - 4);  // NCHUNKS - first - last
    EXPECT_TRUE(pages[1].headless);
    EXPECT_TRUE(pages[1].on_lru);
    EXPECT_EQ(kz_pages_nr(p.kz), 2);
    EXPECT_TRUE(p.violations().empty());

    uint32_t serial = 0, slots = 0;
    int bud = -1, refs = 0;
    size_t off = 0;
    const uint8_t* obj = nullptr;
    ASSERT_TRUE(kz_resolve(p.kz, a, &serial, &bud, &off, &obj, &refs, &slots));
    EXPECT_EQ(serial, shared.serial);
    EXPECT_EQ(bud, 1);  // FIRST
    EXPECT_EQ(off, 128u);  // after the two-chunk header
    EXPECT_EQ(refs, 2);
    EXPECT_EQ(slots, shared.slots_serial);
    ASSERT_TRUE(kz_resolve(p.kz, b, &serial, &bud, &off, &obj, &refs, &slots));
    EXPECT_EQ(bud, 3);  // LAST
    EXPECT_EQ(off, 4096u - 4 * 64);
    ASSERT_TRUE(kz_resolve(p.kz, big, &serial, &bud, &off, &obj, &refs, &slots));
    EXPECT_EQ(bud, 0);
    EXPECT_EQ(serial, pages[1].serial);

    auto* mapped = static_cast<uint8_t*>(kz_map(p.kz, a));
    EXPECT_EQ(mapped, obj == nullptr ? mapped : mapped);  // mapping works in the main context
    kz_unmap(p.kz, a);

    kz_free(p.kz, a);
    kz_free(p.kz, b);
    kz_free(p.kz, big);
    kz_drain(p.kz);
    EXPECT_EQ(kz_pages_nr(p.kz), 0);
    EXPECT_EQ(kz_live_pages(p.kz), 0u);
    EXPECT_EQ(kz_live_slots(p.kz), 0u);
}

size_t kref_offset() {
    kz_layout l{};
    kz_get_layout(&l);
    return l.header_kref_offset;
}

// The kernel's structures have the sizes of a non-debug x86-64 build. The
// expected values are derived by hand from 6.1's definitions, not read
// from the shim: struct z3fold_header is buddy (list_head, 16) + page_lock
// (spinlock_t = qspinlock's atomic_t, 4) + refcount (kref = refcount_t =
// atomic_t, 4) + work (work_struct = atomic_long_t 8 + list_head 16 + func
// 8 = 32) + slots and pool (pointers, 8 + 8) + cpu (short) and four
// unsigned shorts (10) + three 2-bit fields (2) = 84, padded to the
// pointers' 8-byte alignment: 88. Then ZHDR_SIZE_ALIGNED = round_up(88, CHUNK_SIZE 64) = 128,
// ZHDR_CHUNKS = 2, NCHUNKS = (4096 - 128) / 64 = 62, and a size above
// 4096 - 128 - 64 = 3904 is headless.
TEST(KernelAdapter, LayoutIsTheKernels) {
    kz_layout l{};
    kz_get_layout(&l);
    EXPECT_EQ(l.header_size, 88u);
    EXPECT_EQ(l.header_kref_offset, 20u);
    EXPECT_EQ(l.zhdr_size_aligned, 128u);
    EXPECT_EQ(l.zhdr_chunks, 2);
    EXPECT_EQ(l.nchunks, 62);
    EXPECT_EQ(l.headless_above, 3904u);
    EXPECT_EQ(sizeof(spinlock_t), 4u);
    EXPECT_EQ(sizeof(rwlock_t), 8u);
    EXPECT_EQ(sizeof(struct work_struct), 32u);
    EXPECT_EQ(sizeof(struct page), 64u);
}

TEST(KernelAdapter, ValidatorReportsABrokenList) {
    auto run = [] {
        KernelPool p;
        unsigned long a = p.alloc(100);
        std::vector<kz_page_info> pages = p.pages();
        uint32_t serial = 0, slots = 0;
        int bud = 0, refs = 0;
        size_t off = 0;
        const uint8_t* obj = nullptr;
        kz_resolve(p.kz, a, &serial, &bud, &off, &obj, &refs, &slots);
        // Break the header's refcount (a listed page at zero, unlocked).
        auto* header = const_cast<uint8_t*>(obj - off);
        *reinterpret_cast<int*>(header + kref_offset()) = 0;
        std::vector<std::string> v = p.violations();
        bool found = false;
        for (const std::string& id : v) found = found || id == "listed-page-zero-ref";
        EXPECT_TRUE(found);
        *reinterpret_cast<int*>(header + kref_offset()) = 1;
        kz_free(p.kz, a);
        kz_drain(p.kz);
    };
    run();
}

// The per-page form the step checks use after a step that touched a few
// pages: the same verdict for the touched page, nothing about the others,
// and "undecided" when a link does not check out.
TEST(KernelAdapter, PageValidatorJudgesTheTouchedPageOnly) {
    KernelPool p;
    unsigned long a = p.alloc(100), big = p.alloc(4000);
    std::vector<kz_page_info> pages = p.pages();
    ASSERT_EQ(pages.size(), 2u);
    bool decided = false;
    for (const kz_page_info& info : pages) {
        EXPECT_TRUE(p.page_violations(info.serial, &decided).empty());
        EXPECT_TRUE(decided);
    }
    uint32_t serial = 0, slots = 0;
    int bud = 0, refs = 0;
    size_t off = 0;
    const uint8_t* obj = nullptr;
    ASSERT_TRUE(kz_resolve(p.kz, a, &serial, &bud, &off, &obj, &refs, &slots));
    auto* header = const_cast<uint8_t*>(obj - off);
    *reinterpret_cast<int*>(header + kref_offset()) = 0;  // as in ValidatorReportsABrokenList
    std::vector<std::string> v = p.page_violations(serial, &decided);
    EXPECT_TRUE(decided);
    EXPECT_NE(std::find(v.begin(), v.end(), "listed-page-zero-ref"), v.end());
    EXPECT_TRUE(p.page_violations(pages[1].serial, &decided).empty()) << "the headless page is intact";
    *reinterpret_cast<int*>(header + kref_offset()) = 1;
    // The buddy link's back link broken: only the walk can say what is wrong.
    auto* buddy = reinterpret_cast<struct list_head*>(header);
    struct list_head* saved = buddy->next->prev;
    buddy->next->prev = buddy->next;
    EXPECT_TRUE(p.page_violations(serial, &decided).empty());
    EXPECT_FALSE(decided);
    EXPECT_FALSE(p.violations().empty());
    buddy->next->prev = saved;
    kz_free(p.kz, a);
    kz_free(p.kz, big);
    kz_drain(p.kz);
}

TEST(KernelAdapter, SeedProgramsReplayIdentically) {
    ASSERT_STREQ(target_name(), "kernel");
    // Same input, same schedule, same trace and the same outcome on the
    // kernel's own code (whatever 6.1's races make of it: docs/findings.md).
    RunConfig cfg;
    cfg.abort_on_finding = false;
    cfg.trace_ring = 0;
    int completed = 0;
    for (const Program& p : run::seed_programs(24)) {
        Outcome a = run_program(p, cfg), b = run_program(p, cfg);
        ASSERT_EQ(a.trace, b.trace) << to_text(p);
        ASSERT_EQ(a.schedule, b.schedule);
        ASSERT_EQ(a.found, b.found);
        ASSERT_EQ(a.invariant, b.invariant);
        completed += a.status == sched::RunStatus::completed;
    }
    EXPECT_GT(completed, 0);
}


TEST(KernelAdapter, FailAllocReachesTheKernelsEnomemPaths) {
    for (bool slots : {false, true}) {
        Program p = run::fault_injection_program(slots);
        RunConfig c;
        c.abort_on_finding = false;
        c.trace_ring = 0;
        Outcome o = run_program(p, c);
        EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
        // The kernel's own line of the failing allocation.
        EXPECT_NE(o.trace.find("fault_injected"), std::string::npos);
        EXPECT_NE(o.trace.find("z3fold.c"), std::string::npos);
    }
}

}  // namespace
}  // namespace z3fh::fuzz

// ---- the zswap user and the mm core on the kernel's own (unmodified) file ----

namespace z3fh::fuzz {
namespace {

Outcome run_clean_config(const Program& p) {
    RunConfig cfg;
    return run_program(p, cfg);
}

// K12, found by a zswap-user campaign: the shrink worker evicts a headless
// object whose store has not inserted its entry yet; zswap's writeback
// finds no entry and returns 0 (zswap.c:975-981), and reclaim frees the
// page on that 0 (z3fold.c:1338-1341); the store then writes into it.
Program k12_program() {
    Program p;
    p.threads = 1;
    p.vcpus = 2;
    p.evict_policy = 0xd1;
    p.user = UserKind::zswap;
    p.ops = {
        {OpKind::reclaim, 0, 0xbb},  // T0: reclaim (queues the shrink work)
        {OpKind::alloc, 0, 0xcb},    // T0: alloc  slot 3 size 4000 (headless)
    };
    p.schedule = seeded_schedule(237, 0x38f6e9cb);
    p.schedule_kind = ScheduleKind::pct;
    return p;
}

// K13, found by the scanning mm core: compaction isolates and migrates the
// page z3fold_alloc has just made movable (z3fold.c:1061-1069), before
// z3fold_alloc takes its header lock (z3fold.c:1070); the old page is freed
// when the migration completes, and z3fold_alloc then locks its header.
Program k13_program() {
    Program p;
    p.threads = 4;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.user = UserKind::zswap;
    p.ops = {
        {OpKind::alloc, 0, 0x59},  {OpKind::alloc, 0, 0x5a},   {OpKind::write, 0, 0x00}, {OpKind::yield, 0, 0xfe},
        {OpKind::yield, 0, 0xda},  {OpKind::migrate, 1, 0x00}, {OpKind::migrate, 1, 0x02},
        {OpKind::verify, 2, 0x01}, {OpKind::write, 2, 0x01},   {OpKind::free, 2, 0x02},  {OpKind::alloc, 3, 0x51},
    };
    p.schedule = seeded_schedule(2, 190);
    p.schedule_kind = ScheduleKind::pct;
    return p;
}

TEST(KernelZswap, K12ReclaimFreesAHeadlessPageZswapIsStoring) {
    EXPECT_DEATH(run_clean_config(k12_program()),
                 "heap-use-after-free.*WRITE.*ZswapUser::store.*freed by thread.*kshim_put_page.*z3fold_reclaim_page.*"
                 "ZswapUser::shrink_worker");
}

TEST(KernelZswap, K13CompactionIsolatesThePageAnAllocationIsSettingUp) {
    EXPECT_DEATH(run_clean_config(k13_program()),
                 "heap-use-after-free.*kshim_spin_lock.*z3fold_page_lock.*z3fold_alloc.*freed by thread.*kshim_put_page.*"
                 "kz_mm_migrate_one");
}

// The zswap user's own rules, on a program with no race: stores, a
// duplicate store, a load and an invalidation leave nothing behind, and the
// shrink worker's writeback of an entry frees the entry's own handle.
TEST(KernelZswap, StoreLoadInvalidateAndWritebackRunClean) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.user = UserKind::zswap;
    p.evict_policy = 0x00;  // every writeback succeeds
    p.ops = {
        {OpKind::alloc, 0, (11 << 3) | 0}, {OpKind::alloc, 0, (11 << 3) | 1}, {OpKind::alloc, 0, (4 << 3) | 1},
        {OpKind::verify, 0, 1},            {OpKind::reclaim, 0, 0},           {OpKind::free, 0, 0},
        {OpKind::alloc, 0, (27 << 3) | 2}, {OpKind::verify, 0, 2},
    };
    Outcome o = run_clean_config(p);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
    EXPECT_EQ(o.status, sched::RunStatus::completed);
}

// K1 drawn as thread columns (harness/diagram.h), step by step: isolation
// claims page 1 (1481); migration copies its header, flags included, to
// page 2 (1547 sets a bit there: PAGE_CLAIMED came with the copy), marks
// page 1 migrated (1528) and queues page 2's compaction (1555), which runs
// and never clears the claim: page 2 rests claimed. Each statement is the
// kernel's own, read from the file the trace names.
TEST(KernelDiagram, K1DrawnAsThreadColumns) {
    Program p;
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.ops = {
        {OpKind::alloc, 0, 0x81},    // T0: alloc  slot 1 size 1984
        {OpKind::migrate, 1, 0x01},  // T1: migrate slot 1
    };
    RunConfig cfg;
    cfg.trace_ring = 0;
    cfg.abort_on_finding = false;
    Outcome o = run_program(p, cfg);
    ASSERT_TRUE(o.found);
    ASSERT_EQ(o.invariant, "page-state-at-rest");
    const std::vector<std::string> want = {
        "T0             T1             T2 work",
        "[alloc slot 1 size 1984]",
        "               [migrate slot 1]",
        "init_z3fold_page()",
        " 339 [p1] clear_bit(PAGE_HEADLESS, &page->private) (x6)",
        "               z3fold_page_isolate()",
        "                1481 [p1] test_and_set_bit(PAGE_CLAIMED, &page->private)",
        "                1491 [p1] kref_get(&zhdr->refcount)",
        "               z3fold_page_migrate()",
        "                1528 [p1] set_bit(PAGE_MIGRATED, &page->private)",
        "                1547 [p2] set_bit(NEEDS_COMPACTING, &newpage->private)",
        "                1555 queue_work_on(new_zhdr->cpu,..)",
        "                              [work item runs]",
        "                              do_compact_page()",
        "                               750 [p2] test_and_clear_bit(..)",
        "                               758 [p2] kref_put(&zhdr->refcount,..)",
        "                               762 [p2] test_and_set_bit(PAGE_CLAIMED,..)",
        "                               248 [p2] spin_unlock(&zhdr->page_lock)",
        "!! T2: invariant page-state-at-rest",
    };
    EXPECT_EQ(o.diagram, want);
    EXPECT_LE(o.diagram.size(), kDiagramMaxLines);
    for (const std::string& line : o.diagram) EXPECT_LE(line.size(), kDiagramMaxColumns) << line;
}

}  // namespace
}  // namespace z3fh::fuzz
