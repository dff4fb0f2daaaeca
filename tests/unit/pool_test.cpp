// Alloc, free, map: errors, the three buddies in every order, headless pages,
// handles and accounting.
#include <algorithm>
#include <array>

#include "test_pool.h"

namespace z3fh::test {
namespace {

TEST(Pool, ZeroSizeIsEinval) {
    TestPool p;
    EXPECT_EQ(p->alloc(0).err, Errno::inval);
}

TEST(Pool, LargerThanPageIsEnospc) {
    TestPool p;
    EXPECT_EQ(p->alloc(PAGE_SIZE + 1).err, Errno::nospc);
    EXPECT_EQ(p->total_pages(), 0u);
}

TEST(Pool, WholePageIsHeadless) {
    TestPool p;
    Handle h = p.alloc_ok(PAGE_SIZE);
    EXPECT_TRUE(handle_is_headless(h));
    EXPECT_EQ(p.buddy_of(h), Buddy::HEADLESS);
    p.fill(h, PAGE_SIZE, 3);
    EXPECT_TRUE(p.verify(h, PAGE_SIZE, 3));
    EXPECT_EQ(p->total_pages(), 1u);
    p->free(h);
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Pool, HeadlessBoundaryIsMaxBuddySizePlusOne) {
    TestPool p;
    Handle a = p.alloc_ok(MAX_BUDDY_SIZE);
    Handle b = p.alloc_ok(MAX_BUDDY_SIZE + 1);
    EXPECT_FALSE(handle_is_headless(a));
    EXPECT_TRUE(handle_is_headless(b));
    p->free(a);
    p->free(b);
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Pool, ThreeObjectsShareOnePage) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(200), c = p.alloc_ok(300);
    EXPECT_EQ(p.page_of(a), p.page_of(b));
    EXPECT_EQ(p.page_of(b), p.page_of(c));
    EXPECT_EQ(p.buddy_of(a), Buddy::FIRST);
    EXPECT_EQ(p.buddy_of(b), Buddy::LAST);
    EXPECT_EQ(p.buddy_of(c), Buddy::MIDDLE);
    EXPECT_EQ(p->total_pages(), 1u);
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u);
    EXPECT_EQ(s.pages[0].refcount, 3);  // one reference per object
    // All three buddies in use: the page is on no unbuddied list.
    EXPECT_EQ(s.pages[0].unbuddied_index, -1);
    p->free(a);
    p->free(b);
    p->free(c);
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Pool, FullPageIsOnNoUnbuddiedList) {
    TestPool p;
    Handle a = p.alloc_ok(64 * 20), b = p.alloc_ok(64 * 20), c = p.alloc_ok(64 * 22);
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u);
    EXPECT_EQ(s.pages[0].unbuddied_cpu, -1);
    EXPECT_TRUE(s.pages[0].on_lru);
    for (Handle h : {a, b, c}) p->free(h);
}

TEST(Pool, LastSizeIsKeptInTheHandle) {
    TestPool p;
    Handle a = p.alloc_ok(64), b = p.alloc_ok(64 * 7);
    ASSERT_EQ(p.buddy_of(b), Buddy::LAST);
    uintptr_t slot = *reinterpret_cast<uintptr_t*>(b);
    EXPECT_EQ((slot & ~PAGE_MASK) >> BUDDY_SHIFT, 7u);
    // LAST ends at the page end.
    auto* addr = static_cast<char*>(p->map(b));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(addr + 64 * 7) & ~PAGE_MASK, 0u);
    p->unmap(b);
    p->free(a);
    p->free(b);
}

TEST(Pool, MappedObjectsDoNotOverlap) {
    TestPool p;
    std::array<Handle, 3> h = {p.alloc_ok(500), p.alloc_ok(700), p.alloc_ok(900)};
    std::array<size_t, 3> sz = {500, 700, 900};
    for (int i = 0; i < 3; i++) p.fill(h[i], sz[i], static_cast<uint8_t>(i * 40));
    for (int i = 0; i < 3; i++) EXPECT_TRUE(p.verify(h[i], sz[i], static_cast<uint8_t>(i * 40)));
    for (Handle x : h) p->free(x);
}

// Every order of freeing the three buddies keeps the others intact and ends
// with no page.
class FreeOrder : public ::testing::TestWithParam<std::array<int, 3>> {};

TEST_P(FreeOrder, ContentsSurviveAndPageIsReleased) {
    TestPool p;
    std::array<size_t, 3> sz = {300, 600, 900};
    std::array<Handle, 3> h{};
    for (int i = 0; i < 3; i++) {
        h[i] = p.alloc_ok(sz[i]);
        p.fill(h[i], sz[i], static_cast<uint8_t>(17 * i + 1));
    }
    ASSERT_EQ(p->total_pages(), 1u);
    std::array<bool, 3> freed{};
    for (int idx : GetParam()) {
        p->free(h[idx]);
        freed[idx] = true;
        p->drain();  // let compaction move what it will
        p.expect_valid();
        for (int j = 0; j < 3; j++)
            if (!freed[j]) {
                EXPECT_TRUE(p.verify(h[j], sz[j], static_cast<uint8_t>(17 * j + 1))) << "object " << j;
            }
    }
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.snap().pages.size(), 0u);
    EXPECT_EQ(p->slots_cache().live(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllOrders, FreeOrder,
                         ::testing::Values(std::array<int, 3>{0, 1, 2}, std::array<int, 3>{0, 2, 1},
                                           std::array<int, 3>{1, 0, 2}, std::array<int, 3>{1, 2, 0},
                                           std::array<int, 3>{2, 0, 1}, std::array<int, 3>{2, 1, 0}));

TEST(Pool, AccountingCountsPagesAndSize) {
    TestPool p;
    std::vector<Handle> hs;
    for (int i = 0; i < 9; i++) hs.push_back(p.alloc_ok(64 * 20));  // three a page
    EXPECT_EQ(p->total_pages(), 3u);
    EXPECT_EQ(p->total_size(), 3 * PAGE_SIZE);
    hs.push_back(p.alloc_ok(PAGE_SIZE));
    EXPECT_EQ(p->total_pages(), 4u);
    for (Handle h : hs) p->free(h);
    p->drain();
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.src->live_pages(), 0u);
}

TEST(Pool, FreedSpaceIsReused) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(100);
    uint32_t page = p.page_of(a);
    p->free(b);
    p->drain();
    Handle c = p.alloc_ok(100);
    EXPECT_EQ(p.page_of(c), page);
    EXPECT_EQ(p->total_pages(), 1u);
    p->free(a);
    p->free(c);
}

TEST(Pool, SlotsObjectIsFreedWithTheLastHandle) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(100);
    EXPECT_EQ(p->slots_cache().live(), 1u);
    EXPECT_EQ(handle_to_slots(a), handle_to_slots(b));
    p->free(a);
    EXPECT_EQ(p->slots_cache().live(), 1u);
    p->free(b);
    p->drain();
    EXPECT_EQ(p->slots_cache().live(), 0u);
}

TEST(Pool, MapOfMiddleSetsMappedFlagUntilUnmap) {
    TestPool p;
    Handle a = p.alloc_ok(64), b = p.alloc_ok(64), c = p.alloc_ok(64);
    ASSERT_EQ(p.buddy_of(c), Buddy::MIDDLE);
    (void)p->map(c);
    auto s = p.snap();
    EXPECT_TRUE((s.pages[0].flags >> MIDDLE_CHUNK_MAPPED) & 1UL);
    EXPECT_EQ(s.pages[0].mapped_count, 1);
    p->unmap(c);
    s = p.snap();
    EXPECT_FALSE((s.pages[0].flags >> MIDDLE_CHUNK_MAPPED) & 1UL);
    EXPECT_EQ(s.pages[0].mapped_count, 0);
    for (Handle h : {a, b, c}) p->free(h);
}

}  // namespace
}  // namespace z3fh::test
