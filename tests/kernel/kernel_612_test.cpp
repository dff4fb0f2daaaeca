// The kernel target on Linux 6.12's mm/z3fold.c (built when z3fh prepares
// a 6.12 tree: --kernel-version 6.12), with 6.12's zswap as its user and
// 6.12's mm core: the findings of docs/findings.md's 6.12 section, each by
// the exact signature its minimised program fails with, and the zswap
// model's own rules on a program with no race. In a 6.1 build this file
// holds no test.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "harness/runner.h"
#include "kernel_adapter.h"
#include "kshim_series.h"
#include "program/program.h"

#if !KSHIM_ZPOOL_EVICT

namespace z3fh::fuzz {
namespace {

Outcome run_clean_config(const Program& p) {
    RunConfig cfg;
    return run_program(p, cfg);
}

// K14, 6.12 only: compaction in a sync mode (kcompactd's SYNC_LIGHT)
// isolates a page, then zswap's load maps an object of it (z3fold_map does
// not look at PAGE_CLAIMED). z3fold_page_migrate refuses it and clears
// PAGE_CLAIMED (z3fold.c:1301-1304)
// while the page stays isolated; 6.12's migrate_pages_sync retries every
// page the async batch failed, -EBUSY included (migrate.c:1995-2005), and
// the retry meets VM_BUG_ON_PAGE(!test_bit(PAGE_CLAIMED)) (z3fold.c:1293).
// 6.1's mm core never retried -EBUSY. Minimised from a 60-second campaign.
Program k14_program() {
    Program p;
    p.threads = 3;
    p.vcpus = 2;  // kcompactd on one CPU, the load on the other
    p.evict_policy = 0x00;
    p.user = UserKind::zswap;
    p.ops = {
        {OpKind::write, 0, 0x02},   {OpKind::write, 0, 0x01},   {OpKind::compact, 0, 0x01}, {OpKind::write, 0, 0x02},
        {OpKind::verify, 0, 0x02},  {OpKind::verify, 0, 0x01},  {OpKind::free, 0, 0x50},    {OpKind::free, 0, 0xe0},
        {OpKind::free, 0, 0x00},    {OpKind::reclaim, 0, 0x39}, {OpKind::alloc, 0, 0x43},   {OpKind::yield, 0, 0x50},
        {OpKind::verify, 0, 0x53},  {OpKind::alloc, 1, 0xf8},   {OpKind::yield, 1, 0x3d},   {OpKind::compact, 1, 0xb9},
        {OpKind::reclaim, 1, 0x81}, {OpKind::yield, 1, 0xf8},   {OpKind::migrate, 2, 0xc4},
    };
    p.schedule = seeded_schedule(15, 2782);
    p.schedule_kind = ScheduleKind::random;
    return p;
}

TEST(Kernel612, K14SyncCompactionRetriesAPageMigrationRefusedAndUnclaimed) {
    EXPECT_DEATH(run_clean_config(k14_program()),
                 "VM_BUG_ON_PAGE\\(!test_bit\\(PAGE_CLAIMED.*SUMMARY: z3fold check-failed@z3fold.c:1293");
}

// K15 in 6.12 (6.1's, docs/findings.md): z3fold_page_migrate sets
// PAGE_MIGRATED and unlocks the old header (z3fold.c:1313-1314) before it
// locks the new one (1325) and re-encodes the handles. On the only vCPU,
// preempted there, it leaves the handle naming the old page; the swap
// slot's free (__try_to_reclaim_swap, swapfile.c:245-248: zswap_invalidate
// under spin_lock(&si->lock)) frees the entry (zswap.c:1644-1652), and
// get_z3fold_header spins (250-262) for a task that can never run again.
Program k15_program() {
    Program p;
    p.threads = 2;
    p.vcpus = 1;
    p.evict_policy = 0x00;
    p.user = UserKind::zswap;
    p.ops = {
        {OpKind::yield, 0, 0x7a},    // T0: yield
        {OpKind::yield, 0, 0x7a},    // T0: yield
        {OpKind::free, 0, 0x04},     // T0: free slot 4 (zswap_invalidate, atomic)
        {OpKind::alloc, 1, 0xa4},    // T1: alloc slot 4 size 3500
        {OpKind::migrate, 1, 0xa4},  // T1: migrate slot 4
    };
    p.schedule = seeded_schedule(11, 12);
    p.schedule_kind = ScheduleKind::random;
    return p;
}

TEST(Kernel612, K15AnAtomicFreeSpinsOnAPreemptedMigration) {
    EXPECT_DEATH(run_clean_config(k15_program()),
                 "hang: no progress.*T0 +trylock +page lock 1 +z3fold.c:229.*T0 +test_bit +page flags 1 +z3fold.c:258.*"
                 "T0 +yield +- +z3fold.c:262");
}

// zswap 6.12's own rules on a program with no race: stores (a duplicate
// store replaces and frees the offset's entry), a load from the swap cache
// (the entry erased and freed), a direct load (kept), the shrinker's scan on
// this thread (the first pass gives the referenced entries their second
// chance, the second writes back), the shrink worker, an invalidation:
// nothing found, and every object freed by the pool's end.
TEST(Kernel612, ZswapStoreLoadWritebackInvalidateRunClean) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.user = UserKind::zswap;
    p.evict_policy = 0x00;  // every writeback meets no folio in the swap cache
    p.ops = {
        {OpKind::alloc, 0, (11 << 3) | 0}, {OpKind::alloc, 0, (11 << 3) | 1}, {OpKind::alloc, 0, (4 << 3) | 1},
        {OpKind::alloc, 0, (30 << 3) | 2}, {OpKind::verify, 0, 0x41},         {OpKind::verify, 0, 0x00},
        {OpKind::reclaim, 0, 0x07},        {OpKind::reclaim, 0, 0x07},        {OpKind::reclaim, 0, 0x00},
        {OpKind::free, 0, 0x02},           {OpKind::alloc, 0, (27 << 3) | 3}, {OpKind::verify, 0, 0x03},
    };
    Outcome o = run_clean_config(p);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
    EXPECT_EQ(o.status, sched::RunStatus::completed);
}

// The depth counters count what a run did: a page the mm core migrated,
// an entry the shrinker wrote back, a headless object; each counter z3fold
// keeps is there, by name.
TEST(Kernel612, DepthCountersCountWhatTheRunDid) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.user = UserKind::zswap;
    p.evict_policy = 0x00;
    p.ops = {
        {OpKind::alloc, 0, (11 << 3) | 0}, {OpKind::alloc, 0, (25 << 3) | 1}, {OpKind::migrate, 0, 0x08},
        {OpKind::reclaim, 0, 0x07},        {OpKind::reclaim, 0, 0x07},
    };
    RunConfig cfg;
    cfg.abort_on_finding = false;  // K1 rests on the migrated page; the counters are what this test reads
    cfg.depth_counters = true;
    Outcome o = run_program(p, cfg);
    std::map<std::string, uint64_t> depth(o.depth.begin(), o.depth.end());
    EXPECT_EQ(depth.size(), 5u);
    EXPECT_GE(depth["migrations"], 1u);
    EXPECT_GE(depth["writebacks"], 1u);
    EXPECT_GE(depth["huge_objects"], 1u);  // size class 25: 4000 bytes, a headless page
    EXPECT_TRUE(depth.count("compactions") && depth.count("deferred_frees"));
}

// 6.12's zpool asks for the pool's size in pages and has no evict.
TEST(Kernel612, ZpoolHasNoEvictAndNoPoolLru) { EXPECT_EQ(kz_has_evict(), 0); }

}  // namespace
}  // namespace z3fh::fuzz

#endif  // !KSHIM_ZPOOL_EVICT
