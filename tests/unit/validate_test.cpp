// Each structural invariant of validate() is broken on purpose through the
// introspection layer and seen reported.
#include <algorithm>

#include "test_pool.h"

namespace z3fh::test {
namespace {

bool has(const std::vector<Violation>& v, const std::string& id) {
    return std::any_of(v.begin(), v.end(), [&](const Violation& x) { return x.id == id; });
}

TEST(Validate, CleanPoolHasNoViolations) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(PAGE_SIZE);
    EXPECT_TRUE(PoolInspector::validate(*p).empty());
    p->free(a);
    p->free(b);
}

TEST(Validate, BrokenLruLinkIsReported) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(PAGE_SIZE);
    PoolInspector::corrupt_lru_link_for_test(*p);
    EXPECT_TRUE(has(PoolInspector::validate(*p), "list-link"));
    (void)a;
    (void)b;
    // The pool is corrupt: keep it rather than free through broken links.
    p.abandon();
}

TEST(Validate, ListedPageWithZeroRefcountIsReported) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    PoolInspector::set_refcount_for_test(*p, p.page_of(a), 0);
    EXPECT_TRUE(has(PoolInspector::validate(*p), "listed-page-zero-ref"));
    PoolInspector::set_refcount_for_test(*p, p.page_of(a), 1);
    p->free(a);
}

TEST(Validate, ClaimedPageOnUnbuddiedListIsReported) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    PoolInspector::set_claimed_for_test(*p, p.page_of(a));
    EXPECT_TRUE(has(PoolInspector::validate(*p), "claimed-page-listed"));
    p.abandon();
}

TEST(Validate, IsolatedPageThatLostItsClaimIsReported) {
    TestPool p;
    Handle a = p.alloc_ok(300);
    PageDesc* page = virt_to_page(reinterpret_cast<void*>(*reinterpret_cast<uintptr_t*>(a) & PAGE_MASK));
    ASSERT_TRUE(p->isolate_page(page));
    EXPECT_FALSE(has(PoolInspector::validate(*p), "isolated-page-unclaimed"));  // isolation claims it
    PoolInspector::clear_flag_for_test(*p, page->serial, PAGE_CLAIMED);
    EXPECT_TRUE(has(PoolInspector::validate(*p), "isolated-page-unclaimed"));
    PoolInspector::set_claimed_for_test(*p, page->serial);
    p->putback_page(page);
    EXPECT_FALSE(has(PoolInspector::validate(*p), "isolated-page-unclaimed"));
    p->free(a);
}

TEST(Validate, MiddleMappedFlagAgreesWithTheMappingCount) {
    TestPool p;
    Handle a = p.alloc_ok(300);
    Handle b = p.alloc_ok(300);
    Handle c = p.alloc_ok(300);  // three in one page: one of them is MIDDLE
    for (Handle h : {a, b, c}) {
        (void)p->map(h);
        EXPECT_FALSE(has(PoolInspector::validate(*p), "middle-mapped-flag"));
        p->unmap(h);
    }
    EXPECT_FALSE(has(PoolInspector::validate(*p), "middle-mapped-flag"));
    PoolInspector::set_flag_for_test(*p, p.page_of(a), MIDDLE_CHUNK_MAPPED);  // set with no mapping
    EXPECT_TRUE(has(PoolInspector::validate(*p), "middle-mapped-flag"));
    PoolInspector::clear_flag_for_test(*p, p.page_of(a), MIDDLE_CHUNK_MAPPED);
    p->free(a);
    p->free(b);
    p->free(c);
}

TEST(Validate, FreedPageStillLinkedIsReportedWithoutTouchingIt) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    Handle b = p.alloc_ok(3000);  // second page
    uint32_t pa = p.page_of(a);
    // Drop page a from the page source's registry as if it had been freed
    // while its links stayed in the LRU and the unbuddied list.
    for (PageDesc* d : p.src->live_pages_ordered())
        if (d->serial == pa) p.src->free_page(d);
    auto v = PoolInspector::validate(*p);
    EXPECT_TRUE(has(v, "listed-page-freed"));
    (void)b;
    p.abandon();
}

TEST(Validate, PageOnWrongUnbuddiedListIsSeenInTheSnapshot) {
    TestPool p;
    Handle a = p.alloc_ok(64 * 10);
    PoolInspector::move_to_wrong_unbuddied_for_test(*p, p.page_of(a));
    auto s = PoolInspector::snapshot(*p);
    EXPECT_EQ(s.pages[0].unbuddied_index, 0);
    EXPECT_NE(s.pages[0].unbuddied_index, NCHUNKS - s.pages[0].first_chunks);
    p.abandon();
}


// validate_pages: the same rules for the pages one scheduling step touched
// (named by a page number or by the address of a link it stores), and
// "undecided" (false, nothing reported) whenever a link of theirs does not
// check out, so that the caller walks every list as validate() does.
std::vector<Violation> on_page(Pool& pool, uint32_t serial, bool* decided) {
    std::vector<Violation> out;
    *decided = PoolInspector::validate_pages(pool, nullptr, 0, serial, out);
    return out;
}

TEST(ValidatePages, CleanPagesDecideWithNoViolations) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(PAGE_SIZE), c = p.alloc_ok(3000);
    for (Handle h : {a, b, c}) {
        bool decided = false;
        EXPECT_TRUE(on_page(*p, p.page_of(h), &decided).empty());
        EXPECT_TRUE(decided);
    }
    for (Handle h : {a, b, c}) p->free(h);
}

TEST(ValidatePages, ReportsWhatTheWalkReportsForTheTouchedPage) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    Handle b = p.alloc_ok(PAGE_SIZE);  // another page (headless), left intact
    const uint32_t pa = p.page_of(a), pb = p.page_of(b);
    bool decided = false;
    PoolInspector::set_refcount_for_test(*p, pa, 0);
    EXPECT_TRUE(has(on_page(*p, pa, &decided), "listed-page-zero-ref"));
    EXPECT_TRUE(decided);
    EXPECT_TRUE(on_page(*p, pb, &decided).empty()) << "only the touched page is looked at";
    PoolInspector::set_refcount_for_test(*p, pa, 1);
    PoolInspector::set_flag_for_test(*p, pa, PAGE_STALE);
    EXPECT_TRUE(has(on_page(*p, pa, &decided), "listed-page-stale"));
    PoolInspector::clear_flag_for_test(*p, pa, PAGE_STALE);
    PoolInspector::set_flag_for_test(*p, pa, MIDDLE_CHUNK_MAPPED);
    EXPECT_TRUE(has(on_page(*p, pa, &decided), "middle-mapped-flag"));
    PoolInspector::clear_flag_for_test(*p, pa, MIDDLE_CHUNK_MAPPED);
    PoolInspector::set_claimed_for_test(*p, pa);
    EXPECT_TRUE(has(on_page(*p, pa, &decided), "claimed-page-listed"));
    EXPECT_TRUE(decided);
    p.abandon();
}

TEST(ValidatePages, ALinkAddressNamesItsPage) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    const uint32_t pa = p.page_of(a);
    PageDesc* page = nullptr;
    for (PageDesc* d : p.src->live_pages_ordered())
        if (d->serial == pa) page = d;
    ASSERT_NE(page, nullptr);
    PoolInspector::set_refcount_for_test(*p, pa, 0);
    // The LRU link lies in the descriptor, the buddy link in the data page.
    for (const void* at : {static_cast<const void*>(&page->lru), static_cast<const void*>(&page_header(page)->buddy)}) {
        std::vector<Violation> out;
        EXPECT_TRUE(PoolInspector::validate_pages(*p, &at, 1, 0, out));
        EXPECT_TRUE(has(out, "listed-page-zero-ref"));
    }
    // The pool's list heads lie in the pool, in no page: nothing to look at.
    std::vector<Violation> out;
    const void* head = &*p;
    EXPECT_TRUE(PoolInspector::validate_pages(*p, &head, 1, 0, out));
    EXPECT_TRUE(out.empty());
    PoolInspector::set_refcount_for_test(*p, pa, 1);
    p->free(a);
}

TEST(ValidatePages, ABrokenLinkLeavesTheVerdictToTheWalk) {
    TestPool p;
    Handle a = p.alloc_ok(100), b = p.alloc_ok(PAGE_SIZE);
    (void)a;
    PoolInspector::corrupt_lru_link_for_test(*p);  // the LRU's first node points back to itself
    bool decided = true;
    // The first node on the LRU is the last page added: b's.
    EXPECT_TRUE(on_page(*p, p.page_of(b), &decided).empty());
    EXPECT_FALSE(decided);
    EXPECT_TRUE(has(PoolInspector::validate(*p), "list-link"));
    p.abandon();
}

TEST(ValidatePages, AFreedNeighbourLeavesTheVerdictToTheWalk) {
    TestPool p;
    Handle a = p.alloc_ok(100);
    Handle b = p.alloc_ok(PAGE_SIZE);  // its own page, next to a's on the LRU
    const uint32_t pa = p.page_of(a), pb = p.page_of(b);
    for (PageDesc* d : p.src->live_pages_ordered())
        if (d->serial == pa) p.src->free_page(d);  // freed while linked
    bool decided = true;
    EXPECT_TRUE(on_page(*p, pb, &decided).empty());
    EXPECT_FALSE(decided) << "b's LRU neighbour is a freed page";
    EXPECT_TRUE(has(PoolInspector::validate(*p), "listed-page-freed"));
    p.abandon();
}

}  // namespace
}  // namespace z3fh::test
