// Every -ENOMEM path: no page, no slots object for a new page, no slots
// object for a page whose slots were freed.
#include "test_pool.h"

namespace z3fh::test {
namespace {

TEST(Enomem, NoPageForABuddyObject) {
    TestPool p;
    p.src->fail_nth(1);
    EXPECT_EQ(p->alloc(100).err, Errno::nomem);
    EXPECT_EQ(p->total_pages(), 0u);
    Handle h = p.alloc_ok(100);  // the next one succeeds
    p->free(h);
}

TEST(Enomem, NoPageForAHeadlessObject) {
    TestPool p;
    p.src->fail_always(true);
    EXPECT_EQ(p->alloc(PAGE_SIZE).err, Errno::nomem);
    p.src->fail_always(false);
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

TEST(Enomem, NoSlotsObjectForANewPage) {
    TestPool p;
    p->slots_cache().fail_nth(1);
    EXPECT_EQ(p->alloc(100).err, Errno::nomem);
    EXPECT_EQ(p->total_pages(), 0u);
    EXPECT_EQ(p.src->live_pages(), 0u) << "the page is given back";
}

TEST(Enomem, SlotsFailureLeavesExistingObjectsIntact) {
    TestPool p;
    Handle a = p.alloc_ok(64 * 61);  // fills a page's FIRST: the next object needs a new page
    p.fill(a, 64 * 61, 4);
    p->slots_cache().fail_always(true);
    EXPECT_EQ(p->alloc(100).err, Errno::nomem);
    p->slots_cache().fail_always(false);
    EXPECT_TRUE(p.verify(a, 64 * 61, 4));
    EXPECT_EQ(p->total_pages(), 1u);
    p.expect_valid();
    p->free(a);
}

TEST(Enomem, PoolStaysUsableAfterFailures) {
    TestPool p;
    std::vector<Handle> hs;
    for (int i = 0; i < 20; i++) {
        if (i % 3 == 0) p.src->fail_nth(1);
        AllocResult r = p->alloc(static_cast<size_t>(64 * (1 + i % 30)));
        if (r.err == Errno::ok) hs.push_back(r.handle);
        else EXPECT_EQ(r.err, Errno::nomem);
    }
    p.expect_valid();
    for (Handle h : hs) p->free(h);
    p->drain();
    EXPECT_EQ(p.snap().pages.size(), 0u);
}

}  // namespace
}  // namespace z3fh::test
