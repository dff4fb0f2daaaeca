// z3fold-harden: the pool snapshot and the structural validator. Every list
// walk checks that a node belongs to a live page before reading through it,
// so a freed page still linked is reported, not dereferenced.
#include "introspect.h"

#include "z3fold_rules.h"

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

ListNode* node_of(const z3fh_links* n) { return const_cast<ListNode*>(reinterpret_cast<const ListNode*>(n)); }
const z3fh_links* links_of_node(const ListNode* n) { return reinterpret_cast<const z3fh_links*>(n); }

// The pool's pages and heads as the shared list checks (checks/list_check.h)
// ask about them.
z3fh_list_world port_world(Pool& pool) {
    z3fh_list_world w{};
    w.ctx = &pool;
    w.is_live = [](void* ctx, const void* data) -> int { return static_cast<Pool*>(ctx)->page_source().is_live(data); };
    w.serial_of = [](void*, const void* data) -> uint32_t { return virt_to_page(data)->serial; };
    w.is_head = [](void* ctx, const z3fh_links* x) -> int { return PoolInspector::is_list_head(*static_cast<Pool*>(ctx), x); };
    return w;
}

void report_into(void* rctx, z3fh_finding_id id, uint32_t page, const char* message) {
    static_cast<std::vector<Violation>*>(rctx)->push_back({z3fh_finding_name(id), page, message});
}

// Walk one list (checks/list_check.h), calling visit(node) for each node
// that lies in a live page; broken links and freed pages go to `out` (if
// given). Returns the number of nodes visited.
template <typename Visit>
size_t walk_list(Pool& pool, ListNode* head, const char* list_name, z3fh_data_of_fn data_of, Visit visit,
                 std::vector<Violation>* out) {
    const z3fh_list_world w = port_world(pool);
    auto call = [](void* v, const z3fh_links* n) { (*static_cast<Visit*>(v))(node_of(n)); };
    return z3fh_walk_list(&w, head, list_name, data_of, call, &visit, out ? &report_into : nullptr, out);
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

// Calls f(cpu, index, head) for each non-empty head of the pool's
// unbuddied array (`heads`, `n` of them), in order.
template <typename F>
void for_each_listed_unbuddied(ListNode* heads, size_t n, F f) {
    static thread_local std::vector<uint32_t> listed;  // reused: read at every scheduling point
    nonempty_heads(heads, n, listed);
    for (uint32_t at : listed) f(static_cast<int>(at / NCHUNKS), static_cast<int>(at % NCHUNKS), heads + at);
}

const void* lru_data(const z3fh_links* n) { return page_address(page_of_lru(node_of(n))); }
const void* buddy_data(const z3fh_links* n) {
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

PoolSnapshot PoolInspector::snapshot(Pool& pool) Z3FH_TSA_ESCAPE("introspection: read while no thread runs") {
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
                                [&](ListNode* n) { mark(lru_data(links_of_node(n)), [](PageSnapshot& p) { p.on_lru = true; }); },
                                nullptr);
    // Only the non-empty heads: an empty one has nothing to mark (and the
    // validator checks the heads themselves).
    for_each_listed_unbuddied(pool.unbuddied_.get(), pool.unbuddied_n_, [&](int cpu, int i, ListNode* head) {
        walk_list(pool, head, "an unbuddied list", buddy_data,
                  [&](ListNode* n) {
                      mark(buddy_data(links_of_node(n)), [&](PageSnapshot& p) {
                          p.unbuddied_cpu = cpu;
                          p.unbuddied_index = i;
                      });
                  },
                  nullptr);
    });
    snap.stale_length = walk_list(pool, &pool.stale_, "the stale list", buddy_data,
                                  [&](ListNode* n) { mark(buddy_data(links_of_node(n)), [](PageSnapshot& p) { p.on_stale = true; }); },
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

// A page as z3fold's shared rules read it (checks/z3fold_rules.h).
z3fh_z3fold_page page_view(PageDesc* page) {
    const unsigned long flags = page->flags.peek();
    Z3foldHeader* z = page_header(page);
    z3fh_z3fold_page v{};
    v.key = page;
    v.serial = page->serial;
    v.headless = (flags >> PAGE_HEADLESS) & 1UL;
    v.claimed = (flags >> PAGE_CLAIMED) & 1UL;
    v.stale = (flags >> PAGE_STALE) & 1UL;
    v.refcount = z->refcount.peek();
    v.locked = !v.headless && z->page_lock.is_locked();
    return v;
}

// The port takes a page off its lists before the last put: a listed page at
// refcount zero or STALE is never legal here, page lock or not.
void rules_init(z3fh_z3fold_rules& r, std::vector<Violation>& out) {
    z3fh_z3fold_rules_init(&r, /*release_under_page_lock=*/0, &report_into, &out);
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
    static thread_local z3fh_z3fold_rules rules;  // 4 KiB of pages seen: not on the fiber's stack
    rules_init(rules, out);
    walk_list(pool, &pool.lru_, "the LRU", lru_data,
              [&](ListNode* n) {
                  const z3fh_z3fold_page v = page_view(page_of_lru(n));
                  z3fh_z3fold_check_listed(&rules, &v, "the LRU");
              },
              &out);
    for_each_listed_unbuddied(pool.unbuddied_.get(), pool.unbuddied_n_, [&](int cpu, int i, ListNode* head) {
        walk_list(pool, head, "an unbuddied list", buddy_data,
                  [&](ListNode* n) {
                      const z3fh_z3fold_page v = page_view(virt_to_page(buddy_data(links_of_node(n))));
                      z3fh_z3fold_check_unbuddied(&rules, &v, cpu, i);
                  },
                  &out);
    });
    static thread_local std::vector<PageDesc*> live;
    pool.src_->live_pages_ordered(live);
    for (PageDesc* page : live) check_page_state(&pool, page, out);
    walk_list(pool, &pool.stale_, "the stale list", buddy_data,
              [&](ListNode* n) {
                  const z3fh_z3fold_page v = page_view(virt_to_page(buddy_data(links_of_node(n))));
                  z3fh_z3fold_check_stale(&rules, &v);
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
    const ListNode* unbuddied = pool.unbuddied_.get();
    const z3fh_list_world w = port_world(pool);
    const size_t reported = out.size();
    static thread_local z3fh_z3fold_rules rules;
    rules_init(rules, out);
    auto undecided = [&] {
        out.resize(reported);
        return false;
    };
    for (const Touched& t : pages) {
        PageDesc* page = t.page;
        // An LRU link can only be on the LRU (the walk at the next operation
        // boundary would see it elsewhere): no walk to its head, which is
        // the longest list.
        int on_lru;
        if (!z3fh_links_of(&w, &page->lru, lru_data, &on_lru)) return undecided();
        if (on_lru) {
            const z3fh_z3fold_page v = page_view(page);
            z3fh_z3fold_check_listed(&rules, &v, "the LRU");
        }
        const z3fh_links* head;
        const bool headless = (page->flags.peek() >> PAGE_HEADLESS) & 1UL;
        Z3foldHeader* z = page_header(page);
        if (headless || z->pool != &pool) {
            // No header (yet): its first bytes are an object's or garbage,
            // so a link stored there is something only the walk can judge.
            if (t.data) return undecided();
        } else {
            if (!z3fh_head_of(&w, &z->buddy, buddy_data, &head)) return undecided();
            const ListNode* at_head = node_of(head);
            if (at_head == &pool.lru_) return undecided();
            const z3fh_z3fold_page v = page_view(page);
            if (at_head == &pool.stale_) {
                z3fh_z3fold_check_stale(&rules, &v);
            } else if (at_head) {
                const auto at = static_cast<size_t>(at_head - unbuddied);
                z3fh_z3fold_check_unbuddied(&rules, &v, static_cast<int>(at / NCHUNKS), static_cast<int>(at % NCHUNKS));
            }
        }
        check_page_state(&pool, page, out);
    }
    return true;
}

bool PoolInspector::is_list_head(Pool& pool, const void* x) {
    const ListNode* unbuddied = pool.unbuddied_.get();
    const auto* node = static_cast<const ListNode*>(x);
    return node == &pool.lru_ || node == &pool.stale_ || (node >= unbuddied && node < unbuddied + pool.unbuddied_n_);
}

bool PoolInspector::resolve(Pool& pool, Handle h, uint32_t* page_serial, Buddy* bud, size_t* offset,
                            const uint8_t** object) Z3FH_TSA_ESCAPE("introspection: read while no thread runs") {
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

void PoolInspector::corrupt_lru_link_for_test(Pool& pool) Z3FH_TSA_ESCAPE("test hook: the pool is quiescent") {
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

void PoolInspector::set_field_for_test(Pool& pool, uint32_t serial, Field f, int value) Z3FH_TSA_ESCAPE("test hook: the pool is quiescent") {
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
