// Migration keeps contents and handles, and refuses when it must.
#include "test_pool.h"

namespace z3fh::test {
namespace {

TEST(Migrate, MovesPageAndKeepsHandles) {
    TestPool p;
    Handle a = p.alloc_ok(300), b = p.alloc_ok(500), c = p.alloc_ok(200);
    p.fill(a, 300, 1);
    p.fill(b, 500, 2);
    p.fill(c, 200, 3);
    uint32_t before = p.page_of(a);
    EXPECT_EQ(p->migrate_handle_page(a), Errno::ok);
    p->drain();
    uint32_t after = p.page_of(a);
    EXPECT_NE(before, after);
    EXPECT_EQ(p.page_of(b), after);
    EXPECT_TRUE(p.verify(a, 300, 1));
    EXPECT_TRUE(p.verify(b, 500, 2));
    EXPECT_TRUE(p.verify(c, 200, 3));
    auto s = p.snap();
    ASSERT_EQ(s.pages.size(), 1u) << "the old page is freed";
    EXPECT_EQ(s.pages[0].refcount, 3);
    EXPECT_TRUE(s.pages[0].on_lru);
    p.expect_valid();
    for (Handle h : {a, b, c}) p->free(h);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Migrate, RefusesMappedPage) {
    TestPool p;
    Handle a = p.alloc_ok(300);
    (void)p->map(a);
    EXPECT_EQ(p->migrate_handle_page(a), Errno::busy);
    p->unmap(a);
    EXPECT_EQ(p->migrate_handle_page(a), Errno::ok);
    p->free(a);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Migrate, RefusesHeadless) {
    TestPool p;
    Handle a = p.alloc_ok(PAGE_SIZE);
    EXPECT_EQ(p->migrate_handle_page(a), Errno::inval);
    p->free(a);
}

TEST(Migrate, RefusesPageWithPendingCompaction) {
    TestPool p;
    Handle a = p.alloc_ok(300);
    Handle b = p.alloc_ok(300);
    auto* page = virt_to_page(reinterpret_cast<void*>(*reinterpret_cast<uintptr_t*>(a) & PAGE_MASK));
    page->flags.set(NEEDS_COMPACTING);
    EXPECT_FALSE(p->isolate_page(page));
    page->flags.clear(NEEDS_COMPACTING);
    EXPECT_TRUE(p->isolate_page(page));
    p->putback_page(page);
    p.expect_valid();
    p->free(a);
    p->free(b);
}

TEST(Migrate, FailsCleanlyWithoutANewPage) {
    TestPool p;
    Handle a = p.alloc_ok(300);
    p.fill(a, 300, 5);
    p.src->fail_nth(1);
    EXPECT_EQ(p->migrate_handle_page(a), Errno::nomem);
    EXPECT_TRUE(p.verify(a, 300, 5));
    p.expect_valid();
    auto s = p.snap();
    EXPECT_TRUE(s.pages[0].on_lru);
    EXPECT_EQ(s.pages[0].refcount, 1);
    EXPECT_FALSE((s.pages[0].flags >> PAGE_CLAIMED) & 1UL);
    p->free(a);
}

// migrate_page refusing a page (an object got mapped after isolation) must
// leave it claimed until putback: upstream clears PAGE_CLAIMED there, so a
// free's compaction re-lists the isolated page, an alloc puts it on the LRU,
// and putback adds it to the LRU again (found by the real-thread baseline:
// docs/findings.md).
TEST(Migrate, RefusedPageStaysClaimedUntilPutback) {
    TestPool p;
    Handle a = p.alloc_ok(300), b = p.alloc_ok(300);
    auto* page = virt_to_page(reinterpret_cast<void*>(*reinterpret_cast<uintptr_t*>(a) & PAGE_MASK));
    page->page_mutex.lock();
    const bool isolated = p->isolate_page(page);
    page->page_mutex.unlock();
    ASSERT_TRUE(isolated);
    (void)p->map(b);  // mapped after isolation: migrate must refuse
    PageDesc* newpage = p.src->alloc_page();
    ASSERT_NE(newpage, nullptr);
    newpage->page_mutex.lock();
    page->page_mutex.lock();
    EXPECT_EQ(p->migrate_page(newpage, page), Errno::busy);
    page->page_mutex.unlock();
    newpage->page_mutex.unlock();
    EXPECT_TRUE(page->flags.test(PAGE_CLAIMED)) << "an isolated page must stay claimed until putback";
    p->unmap(b);
    p->free(a);  // would queue compaction, which re-lists an unclaimed page
    p->drain();
    Handle c = p.alloc_ok(300);  // would take the re-listed page and add it to the LRU
    p->putback_page(page);
    p.expect_valid();
    p->free(b);
    p->free(c);
    p.src->free_page(newpage);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

}  // namespace
}  // namespace z3fh::test
