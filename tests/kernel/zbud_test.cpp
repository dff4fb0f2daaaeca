// The kernel target on Linux 6.12's mm/zbud.c (built when z3fh prepares a
// tree with --allocator zbud): the adapter's view of zbud's own structures,
// the shadow model's shared tier and zbud's own at-rest rules on them, and
// programs of both users run clean on the unmodified file.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "harness/runner.h"
#include "program/program.h"
#include "shadow/shadow.h"
#include "target/target.h"
#include "zbud_adapter.h"

namespace z3fh::fuzz {
namespace {

bool reports(const std::vector<ShadowFinding>& v, const std::string& id) {
    return std::any_of(v.begin(), v.end(), [&](const ShadowFinding& f) { return f.invariant == id; });
}

// A zbud pool with the shadow model over it, outside the scheduler (one
// thread: the shim's locks never contend).
struct ZbudWorld {
    std::unique_ptr<TargetPool> target = make_target(1, nullptr, nullptr);
    SlotState slots[kSlots];
    Shadow shadow{*target, slots};

    int add(size_t size) {
        for (int s = 0; s < kSlots; s++) {
            if (slots[s].state != SlotState::State::empty) continue;
            AllocResult r = target->alloc(size, Gfp{});
            EXPECT_EQ(r.err, Errno::ok);
            slots[s] = {SlotState::State::live, r.handle, size, 1, true};
            auto* p = static_cast<uint8_t*>(target->map(r.handle));
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
    PageSnapshot page_of(int s) {
        ResolvedHandle r;
        EXPECT_TRUE(target->resolve(slots[s].handle, &r));
        const PoolSnapshot snap = target->snapshot();
        const PageSnapshot* p = snap.page(r.page);
        return p ? *p : PageSnapshot{};
    }
};

TEST(Zbud, ChunksAndListsAreZbuds) {
    ZbudWorld w;
    EXPECT_STREQ(w.target->allocator(), "zbud");
    EXPECT_EQ(zb_nchunks(), 63);  // (PAGE_SIZE - ZHDR_SIZE_ALIGNED) >> CHUNK_SHIFT
    int a = w.add(100);           // 2 chunks of 64 bytes, FIRST
    EXPECT_EQ(w.page_of(a).first_chunks, 2);
    EXPECT_EQ(w.page_of(a).unbuddied_index, 63 - 2);
    int b = w.add(1000);  // 16 chunks, LAST of the same page
    EXPECT_EQ(w.page_of(a).serial, w.page_of(b).serial);
    EXPECT_EQ(w.page_of(b).last_chunks, 16);
    EXPECT_EQ(w.page_of(a).unbuddied_index, 0);  // buddied
    ResolvedHandle r;
    ASSERT_TRUE(w.target->resolve(w.slots[b].handle, &r));
    EXPECT_EQ(r.bud, Buddy::LAST);
    EXPECT_EQ(r.offset, 4096u - 16 * 64);
    EXPECT_EQ(r.refcount, -1);
    EXPECT_TRUE(w.shadow.check_at_rest().empty());
    w.remove(a);
    EXPECT_EQ(w.page_of(b).unbuddied_index, 63 - 16);
    EXPECT_TRUE(w.shadow.check_at_rest().empty());
    w.remove(b);
    EXPECT_EQ(w.target->snapshot().pages.size(), 0u);  // an empty zbud page is freed at once
    EXPECT_TRUE(w.shadow.check_teardown().empty());
}

// zbud's own rule fires: a header whose chunk count disagrees with its
// objects (written behind the pool's back).
TEST(Zbud, ChunksThatDisagreeWithTheObjectsAreAFinding) {
    ZbudWorld w;
    int a = w.add(100);
    auto* first_chunks = reinterpret_cast<unsigned int*>((w.slots[a].handle & ~4095ul) + 16);  // after the list_head
    ASSERT_EQ(*first_chunks, 2u);
    *first_chunks = 3;
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "zbud-chunks"));
    *first_chunks = 2;
}

// The shared tier on zbud: a handle that no longer names an allocated buddy.
TEST(Zbud, AFreedBuddyDoesNotResolve) {
    ZbudWorld w;
    int a = w.add(100);
    int b = w.add(200);
    Handle h = w.slots[a].handle;
    w.remove(a);
    ResolvedHandle r;
    EXPECT_FALSE(w.target->resolve(h, &r));
    w.remove(b);
}

Outcome run_clean(const Program& p) {
    RunConfig cfg;
    return run_program(p, cfg);
}

// Both users on the unmodified file, with no race to find: nothing found.
TEST(Zbud, ZswapAndTheBroadUserRunClean) {
    for (UserKind user : {UserKind::zswap, UserKind::zpool}) {
        Program p;
        p.threads = 2;
        p.vcpus = 2;
        p.user = user;
        p.evict_policy = 0x00;
        p.ops = {
            {OpKind::alloc, 0, (11 << 3) | 0}, {OpKind::alloc, 0, (20 << 3) | 1}, {OpKind::verify, 0, 0x01},
            {OpKind::reclaim, 0, 0x07},        {OpKind::free, 0, 0x00},           {OpKind::alloc, 1, (5 << 3) | 2},
            {OpKind::verify, 1, 0x42},         {OpKind::migrate, 1, 0x08},        {OpKind::free, 1, 0x02},
        };
        Outcome o = run_clean(p);
        EXPECT_FALSE(o.found) << user_kind_name(user) << ": " << o.kind << " " << o.invariant << ": " << o.message;
        EXPECT_EQ(o.status, sched::RunStatus::completed);
    }
}

}  // namespace
}  // namespace z3fh::fuzz
