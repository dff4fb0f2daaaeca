// Reclaim evicts through the callback, frees pages, and handles evict failure.
#include <set>
#include <vector>

#include "test_pool.h"

namespace z3fh::test {
namespace {

struct EvictLog {
    int calls = 0;
    int fail_after = 1 << 30;  // evict calls after this many fail
    std::vector<size_t> sizes_seen;
};

// Free through the handle given (the zpool contract): the handle is a
// stack-local one encoded by reclaim.
int evict_free(Pool& pool, Handle h, void* ctx) {
    auto* log = static_cast<EvictLog*>(ctx);
    if (log->calls++ >= log->fail_after) return -1;
    pool.free(h);
    return 0;
}

TEST(Reclaim, EmptyPoolIsEinval) {
    EvictLog log;
    TestPool p(2, evict_free, &log);
    EXPECT_EQ(p->reclaim_page(8), Errno::inval);
}

TEST(Reclaim, EvictsTheLeastRecentlyUsedPage) {
    EvictLog log;
    TestPool p(2, evict_free, &log);
    Handle old1 = p.alloc_ok(64 * 30), old2 = p.alloc_ok(64 * 30);
    Handle young = p.alloc_ok(PAGE_SIZE);  // headless page, newest on the LRU
    uint32_t old_page = p.page_of(old1);
    EXPECT_EQ(p->reclaim_page(8), Errno::ok);
    EXPECT_EQ(log.calls, 2);
    p->drain();
    auto s = p.snap();
    EXPECT_EQ(s.page(old_page), nullptr) << "the oldest page was reclaimed";
    EXPECT_EQ(s.pages.size(), 1u);
    EXPECT_EQ(p->total_pages(), 1u);
    EXPECT_EQ(p->slots_cache().live(), 0u) << "reclaim freed the real handles of evicted objects";
    (void)old2;
    p->free(young);
}

TEST(Reclaim, HeadlessPageIsFreedWhenEvicted) {
    EvictLog log;
    TestPool p(2, evict_free, &log);
    (void)p.alloc_ok(PAGE_SIZE);
    EXPECT_EQ(p->reclaim_page(1), Errno::ok);
    EXPECT_EQ(log.calls, 1);
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Reclaim, EvictFailurePutsThePageBack) {
    EvictLog log;
    log.fail_after = 1;  // first evict succeeds, the second fails
    TestPool p(2, evict_free, &log);
    Handle a = p.alloc_ok(64 * 10), b = p.alloc_ok(64 * 10), c = p.alloc_ok(64 * 10);
    p.fill(a, 640, 1);
    p.fill(b, 640, 2);
    p.fill(c, 640, 3);
    EXPECT_EQ(p->reclaim_page(1), Errno::again);
    EXPECT_EQ(log.calls, 2);
    p->drain();
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u);
    EXPECT_TRUE(s.pages[0].on_lru);
    EXPECT_FALSE((s.pages[0].flags >> PAGE_CLAIMED) & 1UL);
    EXPECT_EQ(s.pages[0].refcount, 2) << "MIDDLE was evicted; FIRST and LAST remain";
    EXPECT_NE(s.pages[0].unbuddied_cpu, -1) << "back on an unbuddied list";
    EXPECT_TRUE(p.verify(a, 640, 1));
    EXPECT_TRUE(p.verify(b, 640, 2));
    p.expect_valid();
    p->free(a);
    p->free(b);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
    EXPECT_EQ(p->slots_cache().live(), 0u);
}

TEST(Reclaim, HeadlessEvictFailureKeepsThePage) {
    EvictLog log;
    log.fail_after = 0;
    TestPool p(2, evict_free, &log);
    Handle h = p.alloc_ok(PAGE_SIZE);
    EXPECT_EQ(p->reclaim_page(2), Errno::again);
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u);
    EXPECT_TRUE(s.pages[0].on_lru);
    EXPECT_FALSE((s.pages[0].flags >> PAGE_CLAIMED) & 1UL);
    p->free(h);
    EXPECT_EQ(p->total_pages(), 0u);
}

// The evict callback may free a different handle than the one it was given.
struct OtherHandle {
    Handle other = 0;
};
int evict_frees_other(Pool& pool, Handle, void* ctx) {
    auto* o = static_cast<OtherHandle*>(ctx);
    if (o->other) {
        pool.free(o->other);
        o->other = 0;
    }
    return -1;
}

TEST(Reclaim, CallbackMayFreeAnotherObjectOfThePage) {
    OtherHandle other;
    TestPool p(2, evict_frees_other, &other);
    Handle a = p.alloc_ok(64 * 10), b = p.alloc_ok(64 * 10);
    other.other = b;
    p.fill(a, 640, 8);
    EXPECT_EQ(p->reclaim_page(1), Errno::again);
    p->drain();
    EXPECT_TRUE(p.verify(a, 640, 8));
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u);
    EXPECT_EQ(s.pages[0].refcount, 1);
    p.expect_valid();
    p->free(a);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

}  // namespace
}  // namespace z3fh::test
