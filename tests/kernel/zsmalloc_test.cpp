// The kernel target on Linux 6.12's mm/zsmalloc.c (built when z3fh prepares
// a tree with --allocator zsmalloc): the adapter's view of zsmalloc's own
// structures (classes, zspages, objects that span pages, the huge class),
// the shadow model's shared tier and zsmalloc's own rules at rest, and
// programs of both users, with the mm core and compaction, run clean on the
// unmodified file.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/runner.h"
#include "program/program.h"
#include "shadow/shadow.h"
#include "target/target.h"
#include "harness/zram_user.h"
#include "zsmalloc_adapter.h"

namespace z3fh::fuzz {
namespace {

bool reports(const std::vector<ShadowFinding>& v, const std::string& id) {
    return std::any_of(v.begin(), v.end(), [&](const ShadowFinding& f) { return f.invariant == id; });
}

std::string names(const std::vector<ShadowFinding>& v) {
    std::string s;
    for (const ShadowFinding& f : v) s += f.invariant + " (" + f.message + ") ";
    return s;
}

// A zsmalloc pool with the shadow model over it, outside the scheduler (one
// thread: the shim's locks never contend).
struct ZsWorld {
    std::unique_ptr<TargetPool> target = make_target(1, nullptr, nullptr);
    SlotState slots[kSlots];
    Shadow shadow{*target, slots};

    int add(size_t size) {
        for (int s = 0; s < kSlots; s++) {
            if (slots[s].state != SlotState::State::empty) continue;
            AllocResult r = target->alloc(size, Gfp{});
            EXPECT_EQ(r.err, Errno::ok);
            slots[s] = {SlotState::State::live, r.handle, size, 1, true};
            auto* p = static_cast<uint8_t*>(target->map_for(r.handle, TargetPool::MapMode::wo));
            for (size_t i = 0; i < size; i++) p[i] = pattern_byte(s, 1, i);
            target->unmap(r.handle);
            return s;
        }
        return -1;
    }
    void remove(int s) {
        target->free(slots[s].handle);
        slots[s] = SlotState{};
    }
    ResolvedHandle resolved(int s) {
        ResolvedHandle r;
        EXPECT_TRUE(target->resolve(slots[s].handle, &r));
        return r;
    }
};

// Objects of a class whose slots cross page boundaries (900 bytes and the
// handle: class 912, 31 slots in 7 pages): the fifth slot starts at 3648 in
// the first page and runs into the second, and its bytes are read from both pages,
// through the per-CPU buffer when mapped.
TEST(Zsmalloc, AnObjectThatSpansPagesIsReadFromBoth) {
    ZsWorld w;
    EXPECT_STREQ(w.target->allocator(), "zsmalloc");
    int s[5];
    for (int& x : s) x = w.add(900);
    const ResolvedHandle first = w.resolved(s[0]);
    EXPECT_EQ(first.offset, 8u);  // the handle comes first in the slot
    EXPECT_EQ(first.object2, nullptr);
    const ResolvedHandle spans = w.resolved(s[4]);
    ASSERT_NE(spans.object2, nullptr);
    EXPECT_EQ(spans.first_len, 4096u - 4 * 912 - 8);
    EXPECT_NE(spans.page, 0u);
    EXPECT_TRUE(w.shadow.check_at_rest().empty()) << names(w.shadow.check_at_rest());
    // Read through a read-only mapping: the per-CPU buffer holds the bytes.
    const auto* p = static_cast<const uint8_t*>(w.target->map_for(w.slots[s[4]].handle, TargetPool::MapMode::ro));
    EXPECT_NE(p, spans.object);
    bool same = true;
    for (size_t i = 0; i < 900; i++) same = same && p[i] == pattern_byte(s[4], 1, i);
    w.target->unmap(w.slots[s[4]].handle);
    EXPECT_TRUE(same);
    for (int x : s) w.remove(x);
    w.target->drain();
    EXPECT_TRUE(w.shadow.check_teardown().empty()) << names(w.shadow.check_teardown());
}

// The huge class: one object a page, no handle in front of it (the handle
// is kept in the page's index).
TEST(Zsmalloc, AHugeObjectHasAPageOfItsOwn) {
    ZsWorld w;
    int a = w.add(4000);
    int b = w.add(4000);
    const ResolvedHandle ra = w.resolved(a), rb = w.resolved(b);
    EXPECT_EQ(ra.bud, Buddy::HEADLESS);
    EXPECT_EQ(ra.offset, 0u);
    EXPECT_NE(ra.page, rb.page);
    EXPECT_TRUE(w.shadow.check_at_rest().empty()) << names(w.shadow.check_at_rest());
    w.remove(a);
    w.remove(b);
}

// zsmalloc's own rule fires: a zspage whose inuse disagrees with its live
// objects (written behind the pool's back).
TEST(Zsmalloc, AnInuseThatDisagreesWithTheObjectsIsAFinding) {
    ZsWorld w;
    int a = w.add(100);
    int b = w.add(100);
    w.slots[b] = SlotState{};  // the model forgets one: the zspage holds one object more than it knows
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "zspage-inuse")) << names(w.shadow.check_at_rest());
    w.remove(a);
}

Outcome run_clean(const Program& p) {
    RunConfig cfg;
    return run_program(p, cfg);
}

// Both users on the unmodified file with compaction, the shrinker and the
// mm core's migration, two threads on two CPUs: nothing found.
TEST(Zsmalloc, ZswapAndTheBroadUserRunClean) {
    for (UserKind user : {UserKind::zswap, UserKind::zpool}) {
        Program p;
        p.threads = 2;
        p.vcpus = 2;
        p.user = user;
        p.evict_policy = 0x00;
        p.ops = {
            {OpKind::alloc, 0, (12 << 3) | 0}, {OpKind::alloc, 0, (12 << 3) | 1}, {OpKind::alloc, 0, (25 << 3) | 2},
            {OpKind::verify, 0, 0x01},         {OpKind::free, 0, 0x00},           {OpKind::compact, 0, 0x01},
            {OpKind::alloc, 1, (5 << 3) | 3},  {OpKind::verify, 1, 0x43},         {OpKind::migrate, 1, 0x08},
            {OpKind::reclaim, 1, 0x07},        {OpKind::free, 1, 0x03},
        };
        Outcome o = run_clean(p);
        EXPECT_FALSE(o.found) << user_kind_name(user) << ": " << o.kind << " " << o.invariant << ": " << o.message;
        EXPECT_EQ(o.status, sched::RunStatus::completed);
    }
}

// The counters a campaign reports: an object that spans pages mapped, a
// huge object, a page the mm core migrated.
TEST(Zsmalloc, DepthCountersCountWhatTheRunDid) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.user = UserKind::zpool;
    p.ops = {
        {OpKind::alloc, 0, (12 << 3) | 0}, {OpKind::alloc, 0, (12 << 3) | 1}, {OpKind::alloc, 0, (12 << 3) | 2},
        {OpKind::alloc, 0, (12 << 3) | 3}, {OpKind::alloc, 0, (12 << 3) | 4}, {OpKind::write, 0, 0x04},
        {OpKind::alloc, 0, (25 << 3) | 5}, {OpKind::migrate, 0, 0x08},
    };
    RunConfig cfg;
    cfg.depth_counters = true;
    Outcome o = run_program(p, cfg);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
    std::map<std::string, uint64_t> depth(o.depth.begin(), o.depth.end());
    EXPECT_GE(depth["spanning_maps"], 1u);
    EXPECT_GE(depth["huge_objects"], 1u);
    EXPECT_GE(depth["migrations"], 1u);
    EXPECT_TRUE(depth.count("compactions") && depth.count("deferred_frees"));
}

}  // namespace
}  // namespace z3fh::fuzz

namespace z3fh::fuzz {
namespace {

// zram as zsmalloc's user: the fake compressor's lengths cover 1..PAGE_SIZE
// (every class, the lengths that span pages, the huge class), and writes,
// reads, slot-free notifications, compaction and the mm core run clean.
// A zram program's run: it ends with no finding; its depth counters.
std::map<std::string, uint64_t> depth_of_a_clean_run(const Program& p) {
    RunConfig cfg;
    cfg.depth_counters = true;
    Outcome o = run_program(p, cfg);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
    EXPECT_EQ(o.status, sched::RunStatus::completed);
    return {o.depth.begin(), o.depth.end()};
}

TEST(Zram, TheFakeCompressorReachesEveryLength) {
    size_t lo = SIZE_MAX, hi = 0;
    int spans_classes = 0;
    for (uint32_t g = 1; g < 400; g++)
        for (int s = 0; s < kSlots; s++) {
            const size_t n = ZramUser::compressed_length(s, g, size_classes()[g % size_classes().size()]);
            lo = std::min(lo, n);
            hi = std::max(hi, n);
            spans_classes += n > 3000 ? 1 : 0;
        }
    EXPECT_LE(lo, 16u);
    EXPECT_GE(hi, 4080u);
    EXPECT_GT(spans_classes, 100);
}

TEST(Zram, WritesReadsFreesAndCompactionRunClean) {
    Program p;
    p.threads = 2;
    p.vcpus = 2;
    p.user = UserKind::zram;
    p.ops = {
        {OpKind::alloc, 0, (12 << 3) | 0}, {OpKind::alloc, 0, (3 << 3) | 1},  {OpKind::alloc, 0, (25 << 3) | 2},
        {OpKind::verify, 0, 0x01},         {OpKind::alloc, 0, (12 << 3) | 1}, {OpKind::free, 0, 0x00},
        {OpKind::reclaim, 0, 0x01},        {OpKind::alloc, 1, (7 << 3) | 3},  {OpKind::verify, 1, 0x03},
        {OpKind::migrate, 1, 0x08},        {OpKind::verify, 1, 0x02},         {OpKind::free, 1, 0x03},
        {OpKind::reclaim, 1, 0x00},
    };
    std::map<std::string, uint64_t> depth = depth_of_a_clean_run(p);
    EXPECT_TRUE(depth.count("zram_slow_writes") && depth.count("zram_missed_frees"));
}

// zram's post-processing: writeback (idle slots, after `echo all > idle`)
// frees the objects it wrote to the backing device and reads of those slots
// go to the device; recompression replaces objects by smaller ones with the
// slot locked; one write in sixteen is a same-filled page with no object.
TEST(Zram, WritebackRecompressionAndSameFilledPagesRunClean) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.user = UserKind::zram;
    for (int round = 0; round < 10; round++)
        for (int s = 0; s < kSlots; s++)
            p.ops.push_back({OpKind::alloc, 0, static_cast<uint8_t>(((5 + 3 * s + 7 * round) % 32) << 3 | s)});
    p.ops.push_back({OpKind::reclaim, 0, 0x0b});  // writeback, every slot idle first
    for (int s = 0; s < kSlots; s++) p.ops.push_back({OpKind::verify, 0, static_cast<uint8_t>(s)});
    for (int s = 0; s < kSlots; s += 2) p.ops.push_back({OpKind::alloc, 0, static_cast<uint8_t>(20 << 3 | s)});
    p.ops.push_back({OpKind::reclaim, 0, 0x02});  // recompress every slot
    for (int s = 0; s < kSlots; s++) p.ops.push_back({OpKind::verify, 0, static_cast<uint8_t>(s)});
    for (int s = 0; s < kSlots; s++) p.ops.push_back({OpKind::free, 0, static_cast<uint8_t>(s)});
    std::map<std::string, uint64_t> depth = depth_of_a_clean_run(p);
    EXPECT_GE(depth["zram_writebacks"], 1u);
    EXPECT_GE(depth["recompressions"], 1u);
    EXPECT_GE(depth["zram_same_pages"], 1u);
    EXPECT_EQ(depth["zram_writeback_aborts"], 0u);  // one thread: nothing touches a slot during its I/O
}

}  // namespace
}  // namespace z3fh::fuzz
