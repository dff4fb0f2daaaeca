// The kernel target: the adapter's snapshot, validator and handle
// resolution over the kernel's own z3fold.c, the zswap user on it, and the
// diagram of a kernel finding. (The shim's primitives: kernel_shim_test.cpp.)
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
#include "kshim_leftovers.h"
#include "kshim_registry.h"
#include "kshim_series.h"
#include "program/program.h"
#include "run/driver.h"
#include "sched/runtime.h"
#include "sync/sync.h"

// The shim's C entry points these tests drive directly (kshim.h is C, with
// kernel macros such as min/max that a C++ file must not see).
extern "C" {
void kshim_spin_lock(spinlock_t* l, const char* file, int line);
void kshim_put_page(struct page* page, const char* file, int line);
}

namespace z3fh::fuzz {
namespace {

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
                       [](void* ctx, z3fh_finding_id id, uint32_t, const char*) {
                           static_cast<std::vector<std::string>*>(ctx)->push_back(z3fh_finding_name(id));
                       },
                       &out) != 0;
        return out;
    }
    std::vector<std::string> violations() {
        std::vector<std::string> out;
        kz_validate(
            kz,
            [](void* ctx, z3fh_finding_id id, uint32_t, const char*) {
                static_cast<std::vector<std::string>*>(ctx)->push_back(z3fh_finding_name(id));
            },
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
    EXPECT_EQ(shared.on_lru, kz_has_evict() != 0);  // 6.12 has no pool LRU
    EXPECT_EQ(shared.unbuddied_cpu, 0);
    EXPECT_EQ(shared.unbuddied_index, 62 - 2 - 4);  // NCHUNKS - first - last
    EXPECT_TRUE(pages[1].headless);
    EXPECT_EQ(pages[1].on_lru, kz_has_evict() != 0);
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
// Linux 6.1's: the programs and lines below are 6.1's (reclaim, evict, the
// one-page-at-a-time mm core). 6.12's are in kernel_612_test.cpp.
#if KSHIM_ZPOOL_EVICT

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
    p.schedule = seeded_schedule(2, 175);
    p.schedule_kind = ScheduleKind::pct;
    return p;
}

// K15, found on the file with K1-K13 fixed: z3fold_page_migrate sets
// PAGE_MIGRATED on the old page and unlocks its header (z3fold.c:1528-1529)
// before it locks the new header and re-encodes the handles (1540+), with
// only the (sleeping) page lock held. On the only vCPU, preempted there, it
// leaves the handle naming the old page; zswap's duplicate store frees the
// old entry under tree->lock (preemption off), and get_z3fold_header spins
// (263-275) for a task that can never run again.
Program k15_program() {
    Program p;
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x66;
    p.user = UserKind::zswap;
    p.ops = {
        {OpKind::yield, 0, 0x7a},  // T0: yield
        {OpKind::yield, 0, 0x7a},  // T0: yield
        {OpKind::alloc, 0, 0xfc},  // T0: alloc slot 4 size 4097 (a duplicate store: frees T1's entry)
        {OpKind::alloc, 1, 0xa4},  // T1: alloc slot 4 size 3500
        {OpKind::migrate, 1, 0xa4},  // T1: migrate slot 4
    };
    p.schedule = seeded_schedule(11, 12);
    p.schedule_kind = ScheduleKind::random;
    return p;
}

TEST(KernelZswap, K12ReclaimFreesAHeadlessPageZswapIsStoring) {
    EXPECT_DEATH(run_clean_config(k12_program()),
                 "heap-use-after-free.*WRITE.*Zswap61User::store.*freed by thread.*kshim_put_page.*z3fold_reclaim_page.*"
                 "Zswap61User::shrink_worker");
}

TEST(KernelZswap, K13CompactionIsolatesThePageAnAllocationIsSettingUp) {
    EXPECT_DEATH(run_clean_config(k13_program()),
                 "heap-use-after-free.*kshim_spin_lock.*z3fold_page_lock.*z3fold_alloc.*freed by thread.*kshim_put_page.*"
                 "kz_mm_migrate_one");
}

TEST(KernelZswap, K15ADuplicateStoreSpinsOnAPreemptedMigration) {
    EXPECT_DEATH(run_clean_config(k15_program()),
                 "hang: no progress.*T0 +trylock +page lock 1 +z3fold.c:242.*T0 +test_bit +page flags 1 +z3fold.c:271.*"
                 "T0 +yield +- +z3fold.c:275");
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
        "!! after every thread ended: invariant page-state-at-rest",
    };
    EXPECT_EQ(o.diagram, want);
    EXPECT_LE(o.diagram.size(), kDiagramMaxLines);
    for (const std::string& line : o.diagram) EXPECT_LE(line.size(), kDiagramMaxColumns) << line;
}

// A patch review of the unmodified file (Z3FH_KNOWN_FINDINGS): K1, found at
// rest, is on the known list, so it ends the run and not the process; the
// pool is torn down as after any run and nothing of it is left for the
// next one. A finding not on the list still ends the process, by its
// exact signature.
TEST(KernelKnownFindings, AKnownFindingAtRestEndsTheRunNotTheProcess) {
    Program p;
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.ops = {{OpKind::alloc, 0, 0x81}, {OpKind::migrate, 1, 0x01}};  // K1, as drawn above
    RunConfig cfg;  // findings abort, as in the fuzz target
    cfg.known_findings = {"invariant:slots-accounting", "invariant:page-state-at-rest"};
    for (int run = 0; run < 2; run++) {
        Outcome o = run_program(p, cfg);
        EXPECT_TRUE(o.found && o.known) << o.kind << " " << o.invariant;
        EXPECT_EQ(o.invariant, "page-state-at-rest");
        EXPECT_TRUE(kshim_live_allocations(true).empty());
    }
    cfg.known_findings = {"invariant:slots-accounting"};
    EXPECT_DEATH(run_program(p, cfg), "SUMMARY: z3fold invariant:page-state-at-rest");
}

}  // namespace
}  // namespace z3fh::fuzz
#endif  // KSHIM_ZPOOL_EVICT
