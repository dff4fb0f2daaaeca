// Each shadow-model invariant, broken on purpose through the introspection
// layer, is reported with its id.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "finding.h"
#include "introspect.h"
#include "shadow/shadow.h"

namespace z3fh::fuzz {
namespace {

class TestSource final : public PageSource {
protected:
    void* alloc_frame() override { return std::aligned_alloc(2 * PAGE_SIZE, 2 * PAGE_SIZE); }
    void free_frame(void* f) override { std::free(f); }
};

// A pool in the controlled build's main context (no scheduler: plain
// single-threaded sync), objects registered in a slot table as the harness does.
struct World {
    std::unique_ptr<TestSource> src = std::make_unique<TestSource>();
    std::unique_ptr<Pool> pool = std::make_unique<Pool>(PoolConfig{1, src.get(), nullptr, nullptr});
    SlotState slots[kSlots];
    Shadow shadow{*pool, slots};

    int add(size_t size, bool write = true) {
        for (int s = 0; s < kSlots; s++) {
            if (slots[s].state != SlotState::State::empty) continue;
            AllocResult r = pool->alloc(size);
            EXPECT_EQ(r.err, Errno::ok);
            slots[s] = {SlotState::State::live, r.handle, size, 1, write};
            if (write) {
                auto* p = static_cast<uint8_t*>(pool->map(r.handle));
                for (size_t i = 0; i < size; i++) p[i] = pattern_byte(s, 1, i);
                pool->unmap(r.handle);
            }
            return s;
        }
        return -1;
    }
    uint32_t page(int s) {
        uint32_t serial = 0;
        Buddy b;
        size_t off;
        PoolInspector::resolve(*pool, slots[s].handle, &serial, &b, &off);
        return serial;
    }
    // After a deliberate corruption the pool cannot be torn down safely:
    // keep it reachable until exit (not a leak for LeakSanitizer).
    ~World() {
        static auto* graveyard = new std::vector<std::shared_ptr<void>>();
        graveyard->push_back(std::shared_ptr<void>(pool.release(), [](void*) {}));
        graveyard->push_back(std::shared_ptr<void>(src.release(), [](void*) {}));
    }
};

bool reports(const std::vector<ShadowFinding>& v, const std::string& id) {
    return std::any_of(v.begin(), v.end(), [&](const ShadowFinding& f) { return f.invariant == id; });
}

TEST(Shadow, CleanPoolPassesEveryTier) {
    World w;
    w.add(100);
    w.add(3000);
    w.add(PAGE_SIZE);
    EXPECT_TRUE(w.shadow.check_step().empty());
    EXPECT_TRUE(w.shadow.check_at_rest().empty());
    for (SlotState& s : w.slots)
        if (s.state == SlotState::State::live) w.pool->free(s.handle);
    w.pool->drain();
    EXPECT_TRUE(w.shadow.check_teardown().empty());
}

TEST(Shadow, ListLink) {
    World w;
    w.add(100);
    PoolInspector::corrupt_lru_link_for_test(*w.pool);
    EXPECT_TRUE(reports(w.shadow.check_step(), "list-link"));
}

TEST(Shadow, ListedPageFreed) {
    World w;
    int s = w.add(100);
    PoolInspector::forget_page_for_test(*w.pool, w.page(s));
    EXPECT_TRUE(reports(w.shadow.check_step(), "listed-page-freed"));
}

TEST(Shadow, ListedPageZeroRef) {
    World w;
    int s = w.add(100);
    PoolInspector::set_refcount_for_test(*w.pool, w.page(s), 0);
    EXPECT_TRUE(reports(w.shadow.check_step(), "listed-page-zero-ref"));
}

TEST(Shadow, ListedPageStale) {
    World w;
    int s = w.add(100);
    PoolInspector::set_flag_for_test(*w.pool, w.page(s), PAGE_STALE);
    EXPECT_TRUE(reports(w.shadow.check_step(), "listed-page-stale"));
}

TEST(Shadow, HeadlessOnUnbuddied) {
    World w;
    int s = w.add(100);
    PoolInspector::set_flag_for_test(*w.pool, w.page(s), PAGE_HEADLESS);
    EXPECT_TRUE(reports(w.shadow.check_step(), "headless-on-unbuddied"));
}

TEST(Shadow, ClaimedPageListed) {
    World w;
    int s = w.add(100);
    PoolInspector::set_claimed_for_test(*w.pool, w.page(s));
    EXPECT_TRUE(reports(w.shadow.check_step(), "claimed-page-listed"));
}

TEST(Shadow, HandleUnresolvable) {
    World w;
    int s = w.add(100);
    int t = w.add(100);
    // Point slot t at a zeroed slot: the handle no longer names a page.
    w.slots[t].handle = w.slots[s].handle + sizeof(uintptr_t) * 2;
    *reinterpret_cast<uintptr_t*>(w.slots[t].handle) = 0;
    EXPECT_TRUE(reports(w.shadow.check_step(), "handle-unresolvable"));
}

TEST(Shadow, ObjectContents) {
    World w;
    int s = w.add(300);
    auto* p = static_cast<uint8_t*>(w.pool->map(w.slots[s].handle));
    p[0] ^= 0xff;
    w.pool->unmap(w.slots[s].handle);
    EXPECT_TRUE(reports(w.shadow.check_step(), "object-contents"));
}

TEST(Shadow, RefcountBelowObjects) {
    World w;
    int s = w.add(100);
    w.add(100);
    PoolInspector::set_refcount_for_test(*w.pool, w.page(s), 1);
    EXPECT_TRUE(reports(w.shadow.check_step(), "refcount-below-objects"));
}

TEST(Shadow, RefcountExact) {
    World w;
    int s = w.add(100);
    PoolInspector::set_refcount_for_test(*w.pool, w.page(s), 2);
    EXPECT_TRUE(w.shadow.check_step().empty()) << "an extra reference is legal mid-operation";
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "refcount-exact"));
}

TEST(Shadow, PageStateAtRest) {
    World w;
    int s = w.add(100);
    PoolInspector::set_field_for_test(*w.pool, w.page(s), PoolInspector::Field::mapped_count, 1);
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "page-state-at-rest"));
}

TEST(Shadow, LruMembership) {
    World w;
    int s = w.add(100);
    PoolInspector::unlink_lru_for_test(*w.pool, w.page(s));
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "lru-membership"));
}

TEST(Shadow, UnbuddiedIndex) {
    World w;
    int s = w.add(64 * 10);
    PoolInspector::move_to_wrong_unbuddied_for_test(*w.pool, w.page(s));
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "unbuddied-index"));
}

TEST(Shadow, EmptyPageKept) {
    World w;
    int s = w.add(100);
    w.slots[s].state = SlotState::State::empty;  // the model forgets the object
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "empty-page-kept"));
}

// The shared tier: two live slots the model says hold the same bytes (a
// handle handed out twice) overlap, whatever the allocator.
TEST(Shadow, ObjectsOverlap) {
    World w;
    int s = w.add(100);
    int t = w.add(200);
    EXPECT_TRUE(w.shadow.check_at_rest().empty());
    w.slots[t] = w.slots[s];
    w.slots[t].written = false;  // its bytes are s's pattern, not t's
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "objects-overlap"));
}

TEST(Shadow, AccountingPages) {
    World w;
    w.add(100);
    PoolInspector::add_pages_nr_for_test(*w.pool, 1);
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "accounting-pages"));
}

TEST(Shadow, SlotsAccounting) {
    World w;
    w.add(100);
    PoolInspector::leak_slots_for_test(*w.pool);
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "slots-accounting"));
}

TEST(Shadow, ForeignHandles) {
    World w;
    int s = w.add(100);
    PoolInspector::set_field_for_test(*w.pool, w.page(s), PoolInspector::Field::foreign_handles, 1);
    EXPECT_TRUE(reports(w.shadow.check_at_rest(), "foreign-handles"));
}

// An object never freed: its slots object and page are still allocated at
// teardown, a leak signed by the function that allocated the slots object
// and its caller (or, in a build with no sanitizer runtime to symbolize,
// the allocating call's file and line).
TEST(Shadow, LeakAtTeardownIsSignedByItsAllocationSite) {
    World w;
    w.add(100);
    w.slots[0].state = SlotState::State::empty;  // never freed
    std::vector<ShadowFinding> v = w.shadow.check_teardown();
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].invariant, "leak");
    if (alloc_sites_symbolized())
        EXPECT_EQ(v[0].site, "Pool::init_z3fold_page<-Pool::alloc");
    else
        EXPECT_TRUE(std::regex_match(v[0].site, std::regex("pool\\.cpp:[0-9]+"))) << v[0].site;
    EXPECT_NE(v[0].message.find("a slots object (#1) from " + v[0].site), std::string::npos) << v[0].message;
    EXPECT_NE(v[0].message.find("a page (#1)"), std::string::npos) << v[0].message;
    EXPECT_EQ(finding_signature({FindingId::leak, "", 0, v[0].message, 0, v[0].site}), "leak@" + v[0].site);
}

// A page count that disagrees when nothing is live is the accounting's.
TEST(Shadow, PageCountAtTeardownWithNothingLive) {
    World w;
    PoolInspector::add_pages_nr_for_test(*w.pool, 1);
    EXPECT_TRUE(reports(w.shadow.check_teardown(), "leak-at-teardown"));
    PoolInspector::add_pages_nr_for_test(*w.pool, -1);
}

TEST(Shadow, MapAddress) {
    World w;
    int s = w.add(100);
    PortTarget target(*w.pool);
    auto* p = static_cast<uint8_t*>(w.pool->map(w.slots[s].handle));
    EXPECT_TRUE(mapping_matches_handle(target, w.slots[s].handle, p));
    EXPECT_FALSE(mapping_matches_handle(target, w.slots[s].handle, p + CHUNK_SIZE));
    w.pool->unmap(w.slots[s].handle);
}

// The finding table (checks/findings.def): names unique and well formed,
// each with help, and the name parses back to its own entry.
TEST(Findings, EveryFindingHasAUniqueNameAndHelp) {
    std::set<std::string> names;
    size_t invariants = 0;
    for (const FindingInfo& f : kFindings) {
        EXPECT_TRUE(names.insert(f.name).second) << f.name;
        EXPECT_TRUE(std::regex_match(std::string(f.name), std::regex("[a-z][a-z0-9-]*"))) << f.name;
        EXPECT_NE(std::string(f.help), "") << f.name;
        ASSERT_NE(finding_by_name(f.name), nullptr);
        EXPECT_EQ(finding_by_name(f.name)->id, f.id);
        EXPECT_EQ(&finding_info(f.id), &f);
        if (f.cls == FindingClass::invariant) invariants++;
    }
    EXPECT_EQ(finding_by_name("no-such-finding"), nullptr);
    EXPECT_EQ(invariants, 31u);
    EXPECT_STREQ(Z3FH_FINDING_NAME(list_link), "list-link");
}

// One finding, printed: the signature each class has, and the JSON line.
TEST(Findings, SignatureAndJsonLine) {
    EXPECT_EQ(finding_signature({FindingId::list_link, "", 0, "m", 3}), "invariant:list-link");
    EXPECT_EQ(finding_signature({FindingId::lock_not_held, "/a/b/pool.cpp", 120, "m", 0}), "lock-not-held@pool.cpp:120");
    EXPECT_EQ(finding_signature({FindingId::deadlock, "", 0, "m", 0}), "deadlock");
    char buf[1024] = {};
    std::FILE* f = fmemopen(buf, sizeof buf - 1, "w");
    ASSERT_NE(f, nullptr);
    print_finding_tail(f, {FindingId::claimed_page_listed, "", 0, "page 3 \"x\"\n", 3});
    std::fclose(f);
    EXPECT_EQ(std::string(buf),
              "SUMMARY: z3fold invariant:claimed-page-listed\n"
              "==z3fold== FINDING {\"signature\": \"invariant:claimed-page-listed\", \"kind\": \"invariant\", "
              "\"invariant\": \"claimed-page-listed\", \"where\": \"\", \"page\": 3, "
              "\"message\": \"page 3 \\\"x\\\"\\u000a\"}\n");
}

}  // namespace
}  // namespace z3fh::fuzz
