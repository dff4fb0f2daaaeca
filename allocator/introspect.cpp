// z3fold-harden: the pool snapshot and the structural validator. Every list
// walk checks that a node belongs to a live page before reading through it,
// so a freed page still linked is reported, not dereferenced.
#include "introspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <utility>

namespace z3fh {

const PageSnapshot* PoolSnapshot::page(uint32_t serial) const {
    for (const PageSnapshot& p : pages)
        if (p.serial == serial) return &p;
    return nullptr;
}

namespace {

// Walk one list, calling visit(node) for each node that lies in a live page;
// reports broken links and freed pages. `data_of` maps a node to its page's
// data address. Returns the number of nodes visited.
template <typename DataOf, typename Visit>
size_t walk_list(Pool& pool, ListNode* head, const char* list_name, DataOf data_of, Visit visit,
                 std::vector<Violation>* out) {
    size_t n = 0;
    ListNode* prev = head;
    for (ListNode* node = head->next; node != head; node = node->next) {
        const void* data = data_of(node);
        if (!pool.page_source().is_live(data)) {
            if (out) out->push_back({finding_name(FindingId::listed_page_freed), 0, fmt::format("a freed page is linked on {}", list_name)});
            return n;
        }
        if (node->prev != prev) {
            if (out)
                out->push_back({finding_name(FindingId::list_link), virt_to_page(data)->serial,
                                fmt::format("{}: node->prev does not point back to its predecessor", list_name)});
            return n;
        }
        visit(node);
        prev = node;
        if (++n > 1000000) {
            if (out) out->push_back({finding_name(FindingId::list_link), 0, fmt::format("{}: cycle", list_name)});
            return n;
        }
    }
    if (head->prev != prev && out)
        out->push_back({finding_name(FindingId::list_link), 0, fmt::format("{}: head->prev is not the last node", list_name)});
    return n;
}

// The indices of the non-empty heads among `n`. The vcpus x 62 unbuddied
// heads are read at every scheduling point and nearly all are empty; the
// pool owns the array, so ASan's and UBSan's checks on each read can find
// nothing there, and they were most of the validator's time.
#if defined(__clang__)
__attribute__((no_sanitize("address", "undefined")))
#endif
void nonempty_heads(const ListNode* heads, size_t n, std::vector<uint32_t>& out) {
    out.clear();
    for (size_t i = 0; i < n; i++)
        if (heads[i].next != &heads[i] || heads[i].prev != &heads[i]) out.push_back(static_cast<uint32_t>(i));
}

const void* lru_data(ListNode* n) { return page_address(page_of_lru(n)); }
const void* buddy_data(ListNode* n) {
    return reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(n) & PAGE_MASK);
}

}  // namespace

PageDesc* PoolInspector::find_page(Pool& pool, uint32_t serial) {
    static thread_local std::vector<PageDesc*> live;  // reused: the step checks look pages up by number
    pool.src_->live_pages_ordered(live);
    for (PageDesc* p : live)
        if (p->serial == serial) return p;
    return nullptr;
}

PoolSnapshot PoolInspector::snapshot(Pool& pool) {
    PoolSnapshot snap;
    // (page, its position in snap.pages), sorted by address after the loop:
    // one allocation where a hash map took one a page.
    std::vector<std::pair<const PageDesc*, size_t>> index;
    const std::vector<PageDesc*> live = pool.src_->live_pages_ordered();
    index.reserve(live.size());
    snap.pages.reserve(live.size());
    for (PageDesc* page : live) {
        PageSnapshot ps;
        ps.serial = page->serial;
        ps.flags = page->flags.peek();
        ps.headless = (ps.flags >> PAGE_HEADLESS) & 1UL;
        ps.page_refs = page->refs.peek();
        // A page whose z3fold reference is gone but that the mm core still
        // holds has no header to read beyond its flags.
        const bool has_header = !ps.headless && page_header(page)->pool == &pool;
        if (has_header) {
            Z3foldHeader* z = page_header(page);
            ps.refcount = z->refcount.peek();
            ps.first_chunks = z->first_chunks;
            ps.middle_chunks = z->middle_chunks;
            ps.last_chunks = z->last_chunks;
            ps.start_middle = z->start_middle;
            ps.first_num = z->first_num;
            ps.mapped_count = z->mapped_count;
            ps.foreign_handles = z->foreign_handles;
            ps.cpu = z->cpu;
            // A released page may still name a slots object that its foreign
            // handle's free has since freed: check before reading through it.
            ps.slots_serial = z->slots && pool.c_handle_.is_live(z->slots) ? z->slots->serial : 0;
            ps.page_locked = z->page_lock.is_locked();
            ps.work_pending = z->work.pending;
        }
        index.emplace_back(page, snap.pages.size());
        snap.pages.push_back(ps);
    }
    std::sort(index.begin(), index.end(),
              [](const auto& a, const auto& b) { return std::less<const PageDesc*>()(a.first, b.first); });
    auto mark = [&](const void* data, auto f) {
        const PageDesc* page = virt_to_page(data);
        auto it = std::lower_bound(index.begin(), index.end(), page, [](const auto& e, const PageDesc* p) {
            return std::less<const PageDesc*>()(e.first, p);
        });
        if (it != index.end() && it->first == page) f(snap.pages[it->second]);
    };
    snap.lru_length = walk_list(pool, &pool.lru_, "the LRU", lru_data,
                                [&](ListNode* n) { mark(lru_data(n), [](PageSnapshot& p) { p.on_lru = true; }); },
                                nullptr);
    for (int cpu = 0; cpu < pool.vcpus_; cpu++)
        for (int i = 0; i < NCHUNKS; i++)
            walk_list(pool, pool.unbuddied(cpu, i), "an unbuddied list", buddy_data,
                      [&](ListNode* n) {
                          mark(buddy_data(n), [&](PageSnapshot& p) {
                              p.unbuddied_cpu = cpu;
                              p.unbuddied_index = i;
                          });
                      },
                      nullptr);
    snap.stale_length = walk_list(pool, &pool.stale_, "the stale list", buddy_data,
                                  [&](ListNode* n) { mark(buddy_data(n), [](PageSnapshot& p) { p.on_stale = true; }); },
                                  nullptr);
    for (BuddySlots* s : pool.c_handle_.live_ordered()) {
        snap.slots_objects++;
        for (int i = 0; i < BUDDIES; i++) {
            uintptr_t v = s->slot[i];
            if (!v) continue;
            SlotSnapshot ss;
            ss.slots_serial = s->serial;
            ss.index = i;
            const void* data = reinterpret_cast<const void*>(v & PAGE_MASK);
            ss.page_serial = pool.src_->is_live(data) ? virt_to_page(data)->serial : 0;
            ss.raw_index = static_cast<int>(v & BUDDY_MASK);
            ss.last_chunks = static_cast<int>((v & ~PAGE_MASK) >> BUDDY_SHIFT);
            ss.handle = reinterpret_cast<Handle>(&s->slot[i]);
            snap.slots.push_back(ss);
        }
    }
    snap.pages_nr = pool.pages_nr_.peek();
    return snap;
}

std::vector<Violation> PoolInspector::validate(Pool& pool) {
    std::vector<Violation> out;
    validate(pool, out);
    return out;
}

namespace {

// The rules for a page found on a list, shared by the walk of every list
// (validate) and the check of the pages one step touched (validate_pages).
void check_listed(PageDesc* page, const char* list, std::vector<Violation>& out) {
    unsigned long flags = page->flags.peek();
    if (!((flags >> PAGE_HEADLESS) & 1UL)) {
        Z3foldHeader* z = page_header(page);
        if (z->refcount.peek() < 1)
            out.push_back({finding_name(FindingId::listed_page_zero_ref), page->serial,
                           fmt::format("page {} on {} has refcount {}", page->serial, list, z->refcount.peek())});
    }
    if ((flags >> PAGE_STALE) & 1UL)
        out.push_back({finding_name(FindingId::listed_page_stale), page->serial, fmt::format("released page {} is on {}", page->serial, list)});
}

void check_on_unbuddied(PageDesc* page, int cpu, int i, std::vector<Violation>& out) {
    unsigned long flags = page->flags.peek();
    if ((flags >> PAGE_HEADLESS) & 1UL) {
        out.push_back({finding_name(FindingId::headless_on_unbuddied), page->serial,
                       fmt::format("headless page {} on unbuddied[{}][{}]", page->serial, cpu, i)});
        return;
    }
    check_listed(page, "an unbuddied list", out);
    // A claim holder takes the page off its list under the page lock it
    // still holds; otherwise a claimed page must not be findable by alloc.
    if (((flags >> PAGE_CLAIMED) & 1UL) && !page_header(page)->page_lock.is_locked())
        out.push_back({finding_name(FindingId::claimed_page_listed), page->serial,
                       fmt::format("claimed page {} is on unbuddied[{}][{}] and unlocked", page->serial, cpu, i)});
}

void check_on_stale(PageDesc* page, std::vector<Violation>& out) {
    unsigned long flags = page->flags.peek();
    if (!((flags >> PAGE_STALE) & 1UL) || page_header(page)->refcount.peek() != 0)
        out.push_back({finding_name(FindingId::stale_page_state), page->serial,
                       fmt::format("page {} on the stale list is not released", page->serial)});
}

// Rules about one live page's own state, listed or not.
void check_page_state(const Pool* pool, PageDesc* page, std::vector<Violation>& out) {
    const unsigned long flags = page->flags.peek();
    // Isolation claims the page before it marks it isolated, and migration
    // and putback unmark it before they unclaim it: an isolated page is
    // always claimed. An unclaimed one is fair game to compaction and alloc,
    // which re-list a page the migration caller will put back itself.
    if (page->isolated && !((flags >> PAGE_CLAIMED) & 1UL))
        out.push_back({finding_name(FindingId::isolated_page_unclaimed), page->serial,
                       fmt::format("page {} is isolated for migration but not claimed", page->serial)});
    // MIDDLE_CHUNK_MAPPED tells compaction not to move MIDDLE: under the
    // page lock it changes with the count of live MIDDLE mappings, so
    // whenever the lock is free the two agree.
    if ((flags >> PAGE_HEADLESS) & 1UL) return;
    Z3foldHeader* z = page_header(page);
    if (z->pool != pool || z->page_lock.is_locked()) return;  // no header yet, or mid-update
    const bool flag = (flags >> MIDDLE_CHUNK_MAPPED) & 1UL;
    if (flag != (z->middle_mapped > 0))
        out.push_back({finding_name(FindingId::middle_mapped_flag), page->serial,
                       fmt::format("page {} has {} live MIDDLE mapping(s) but MIDDLE_CHUNK_MAPPED is {}",
                                   page->serial, z->middle_mapped, flag ? "set" : "clear")});
}

}  // namespace

void PoolInspector::validate(Pool& pool, std::vector<Violation>& out) {
    // Pages whose buddy link was seen on a list, to catch one link on two
    // lists. Reused across calls: this runs at every scheduling point, and an
    // allocation per call costs more than the checks under ASan.
    static thread_local std::vector<const PageDesc*> buddy_seen;
    buddy_seen.clear();
    auto note_buddy = [&](const PageDesc* page) {
        if (std::find(buddy_seen.begin(), buddy_seen.end(), page) != buddy_seen.end())
            out.push_back({finding_name(FindingId::page_on_two_lists), page->serial,
                           fmt::format("page {} is linked on two lists through one link", page->serial)});
        else
            buddy_seen.push_back(page);
    };
    walk_list(pool, &pool.lru_, "the LRU", lru_data, [&](ListNode* n) { check_listed(page_of_lru(n), "the LRU", out); },
              &out);
    static thread_local std::vector<uint32_t> listed;
    nonempty_heads(pool.unbuddied_.data(), pool.unbuddied_.size(), listed);
    for (uint32_t at : listed) {
        const int cpu = static_cast<int>(at / NCHUNKS), i = static_cast<int>(at % NCHUNKS);
        ListNode* head = pool.unbuddied_.data() + at;
        walk_list(pool, head, "an unbuddied list", buddy_data,
                  [&](ListNode* n) {
                      PageDesc* page = virt_to_page(buddy_data(n));
                      note_buddy(page);
                      check_on_unbuddied(page, cpu, i, out);
                  },
                  &out);
    }
    static thread_local std::vector<PageDesc*> live;
    pool.src_->live_pages_ordered(live);
    for (PageDesc* page : live) check_page_state(&pool, page, out);
    walk_list(pool, &pool.stale_, "the stale list", buddy_data,
              [&](ListNode* n) {
                  PageDesc* page = virt_to_page(buddy_data(n));
                  note_buddy(page);
                  check_on_stale(page, out);
              },
              &out);
}

bool PoolInspector::validate_pages(Pool& pool, const void* const* addresses, size_t n, uint32_t page_serial,
                                   std::vector<Violation>& out) {
    const PageSource& src = *pool.src_;
    struct Touched {
        PageDesc* page;
        bool data;  // a store into the data page (a buddy link), not only the descriptor
    };
    static thread_local std::vector<Touched> pages;  // reused: this runs at most scheduling points
    pages.clear();
    auto add = [&](PageDesc* page, bool data) {
        for (Touched& t : pages)
            if (t.page == page) {
                t.data = t.data || data;
                return;
            }
        pages.push_back({page, data});
    };
    for (size_t k = 0; k < n; k++) {
        // A buddy link lies in the data page, an LRU link or PageIsolated in
        // the descriptor before it; a list head lies in neither.
        const uintptr_t a = reinterpret_cast<uintptr_t>(addresses[k]) & PAGE_MASK;
        const void* data = reinterpret_cast<const void*>(a);
        const void* data_after = reinterpret_cast<const void*>(a + PAGE_SIZE);
        if (src.is_live(data)) add(virt_to_page(data), true);
        else if (src.is_live(data_after)) add(virt_to_page(data_after), false);
    }
    if (page_serial)
        if (PageDesc* p = find_page(pool, page_serial)) add(p, false);
    const ListNode* unbuddied = pool.unbuddied_.data();
    const size_t n_unbuddied = pool.unbuddied_.size();
    auto is_head = [&](const ListNode* x) {
        return x == &pool.lru_ || x == &pool.stale_ || (x >= unbuddied && x < unbuddied + n_unbuddied);
    };
    // A link that may be followed: a list head, or a node in a live page.
    auto reachable = [&](ListNode* x, auto data_of) { return is_head(x) || src.is_live(data_of(x)); };
    // Whether `node` is linked (`*linked`), its links and its neighbours'
    // back-links checked; false if they do not check out (a freed page, a
    // broken or stale link).
    auto links_of = [&](ListNode* node, auto data_of, bool* linked) {
        *linked = false;
        if (node->next == node || node->next == kListPoison1)
            return node->prev == node || node->prev == kListPoison2;
        if (!reachable(node->prev, data_of) || node->prev->next != node) return false;
        if (!reachable(node->next, data_of) || node->next->prev != node) return false;
        *linked = true;
        return true;
    };
    // The head of the list `node` is on (nullptr: none), found by walking
    // forward with every link checked both ways, as links_of.
    auto head_of = [&](ListNode* node, auto data_of, ListNode** head) {
        *head = nullptr;
        bool linked;
        if (!links_of(node, data_of, &linked)) return false;
        if (!linked) return true;
        ListNode* at = node;
        for (int steps = 0; steps < 1000000; steps++) {
            ListNode* x = at->next;
            if (!reachable(x, data_of) || x->prev != at) return false;
            if (is_head(x)) {
                *head = x;
                return true;
            }
            at = x;
        }
        return false;
    };
    const size_t reported = out.size();
    auto undecided = [&] {
        out.resize(reported);
        return false;
    };
    for (const Touched& t : pages) {
        PageDesc* page = t.page;
        // An LRU link can only be on the LRU (the walk at the next operation
        // boundary would see it elsewhere): no walk to its head, which is
        // the longest list.
        bool on_lru;
        if (!links_of(&page->lru, lru_data, &on_lru)) return undecided();
        if (on_lru) check_listed(page, "the LRU", out);
        ListNode* head;
        const bool headless = (page->flags.peek() >> PAGE_HEADLESS) & 1UL;
        Z3foldHeader* z = page_header(page);
        if (headless || z->pool != &pool) {
            // No header (yet): its first bytes are an object's or garbage,
            // so a link stored there is something only the walk can judge.
            if (t.data) return undecided();
        } else {
            if (!head_of(&z->buddy, buddy_data, &head)) return undecided();
            if (head == &pool.lru_) return undecided();
            if (head == &pool.stale_) {
                check_on_stale(page, out);
            } else if (head) {
                const auto at = static_cast<size_t>(head - unbuddied);
                check_on_unbuddied(page, static_cast<int>(at / NCHUNKS), static_cast<int>(at % NCHUNKS), out);
            }
        }
        check_page_state(&pool, page, out);
    }
    return true;
}

bool PoolInspector::resolve(Pool& pool, Handle h, uint32_t* page_serial, Buddy* bud, size_t* offset,
                            const uint8_t** object) {
    if (h == 0) return false;
    if (handle_is_headless(h)) {
        const void* data = reinterpret_cast<const void*>(h & PAGE_MASK);
        if (!pool.src_->is_live(data)) return false;
        *page_serial = virt_to_page(data)->serial;
        *bud = Buddy::HEADLESS;
        *offset = 0;
        if (object) *object = static_cast<const uint8_t*>(data);
        return true;
    }
    uintptr_t v = *reinterpret_cast<uintptr_t*>(h);
    if (!v) return false;
    const void* data = reinterpret_cast<const void*>(v & PAGE_MASK);
    if (!pool.src_->is_live(data)) return false;
    auto* z = static_cast<const Z3foldHeader*>(data);
    *page_serial = virt_to_page(data)->serial;
    *bud = static_cast<Buddy>((v - z->first_num) & BUDDY_MASK);
    switch (*bud) {
    case Buddy::FIRST: *offset = ZHDR_SIZE_ALIGNED; break;
    case Buddy::MIDDLE: *offset = static_cast<size_t>(z->start_middle) << CHUNK_SHIFT; break;
    case Buddy::LAST: *offset = PAGE_SIZE - (((v & ~PAGE_MASK) >> BUDDY_SHIFT) << CHUNK_SHIFT); break;
    default: return false;
    }
    if (object) *object = static_cast<const uint8_t*>(data) + *offset;
    return true;
}

void PoolInspector::corrupt_lru_link_for_test(Pool& pool) {
    if (!list_empty(&pool.lru_)) pool.lru_.next->prev = pool.lru_.next;
}

void PoolInspector::set_refcount_for_test(Pool& pool, uint32_t serial, int refcount) {
    if (PageDesc* p = find_page(pool, serial)) {
        Z3foldHeader* z = page_header(p);
        z->refcount.init(refcount, z->refcount.id());
    }
}

void PoolInspector::set_claimed_for_test(Pool& pool, uint32_t serial) {
    if (PageDesc* p = find_page(pool, serial)) p->flags.init(p->flags.peek() | (1UL << PAGE_CLAIMED), p->flags.id());
}

void PoolInspector::move_to_wrong_unbuddied_for_test(Pool& pool, uint32_t serial) {
    PageDesc* p = find_page(pool, serial);
    if (!p) return;
    Z3foldHeader* z = page_header(p);
    if (list_empty(&z->buddy)) return;
    // Relink without the lock on purpose: this simulates a defect.
    z->buddy.prev->next = z->buddy.next;
    z->buddy.next->prev = z->buddy.prev;
    ListNode* head = pool.unbuddied(0, 0);
    z->buddy.next = head->next;
    z->buddy.prev = head;
    head->next->prev = &z->buddy;
    head->next = &z->buddy;
}

void PoolInspector::set_flag_for_test(Pool& pool, uint32_t serial, int bit) {
    if (PageDesc* p = find_page(pool, serial)) p->flags.init(p->flags.peek() | (1UL << bit), p->flags.id());
}

void PoolInspector::clear_flag_for_test(Pool& pool, uint32_t serial, int bit) {
    if (PageDesc* p = find_page(pool, serial)) p->flags.init(p->flags.peek() & ~(1UL << bit), p->flags.id());
}

void PoolInspector::set_field_for_test(Pool& pool, uint32_t serial, Field f, int value) {
    PageDesc* p = find_page(pool, serial);
    if (!p) return;
    Z3foldHeader* z = page_header(p);
    switch (f) {
    case Field::foreign_handles: z->foreign_handles = static_cast<uint8_t>(value) & 3U; break;
    case Field::mapped_count: z->mapped_count = static_cast<uint8_t>(value); break;
    case Field::cpu: z->cpu = static_cast<int16_t>(value); break;
    }
}

void PoolInspector::unlink_lru_for_test(Pool& pool, uint32_t serial) {
    PageDesc* p = find_page(pool, serial);
    if (!p || list_empty(&p->lru)) return;
    p->lru.prev->next = p->lru.next;
    p->lru.next->prev = p->lru.prev;
    list_init(&p->lru);
}

void PoolInspector::add_pages_nr_for_test(Pool& pool, int64_t delta) {
    pool.pages_nr_.init(pool.pages_nr_.peek() + delta, pool.pages_nr_.id());
}

void PoolInspector::leak_slots_for_test(Pool& pool) { (void)pool.c_handle_.alloc(pool.pool_word()); }

void PoolInspector::forget_page_for_test(Pool& pool, uint32_t serial) {
    if (PageDesc* p = find_page(pool, serial)) pool.src_->forget_for_test(p);
}

}  // namespace z3fh
