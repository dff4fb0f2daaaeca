// z3fold-harden: a read-only view of the whole pool for the shadow model and
// tests (valid while no thread runs), and validate(): the structural
// invariants the allocator can check about itself.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "pool.h"

namespace z3fh {

struct PageSnapshot {
    uint32_t serial = 0;
    bool headless = false;
    unsigned long flags = 0;
    int refcount = 0;  // 0 for headless pages (no kref)
    int first_chunks = 0, middle_chunks = 0, last_chunks = 0, start_middle = 0;
    int first_num = 0, mapped_count = 0, foreign_handles = 0, cpu = -1;
    uint32_t slots_serial = 0;  // the page's own slots object, 0 if none
    bool page_locked = false;
    bool work_pending = false;
    bool on_lru = false;
    bool on_stale = false;
    int unbuddied_cpu = -1;    // which list the page is on (-1: none)
    int unbuddied_index = -1;
    int page_refs = 0;         // struct page references
    // The allocation unit the page belongs to, by the serial of its first
    // page (zsmalloc's zspage; 0: the page is a unit of its own): a unit
    // holding an object keeps all its pages.
    uint32_t unit = 0;
};

struct SlotSnapshot {
    uint32_t slots_serial = 0;
    int index = 0;
    uint32_t page_serial = 0;  // page the slot points into (0 if the page is not live)
    int raw_index = 0;         // (bud + first_num) & 3 as stored
    int last_chunks = 0;       // LAST's size kept in the slot
    Handle handle = 0;         // the slot's address: the handle that names it
};

struct PoolSnapshot {
    std::vector<PageSnapshot> pages;   // live pages in allocation order
    std::vector<SlotSnapshot> slots;   // every non-zero slot of every live slots object
    size_t slots_objects = 0;
    int64_t pages_nr = 0;
    size_t lru_length = 0;
    size_t stale_length = 0;

    const PageSnapshot* page(uint32_t serial) const;
};

struct Violation {
    std::string id;        // stable invariant id, e.g. "listed-page-freed"
    uint32_t page = 0;     // page serial involved (0 if none)
    std::string message;
};

class PoolInspector {
public:
    static PoolSnapshot snapshot(Pool& pool);
    // Structural invariants that hold at every scheduling point.
    static std::vector<Violation> validate(Pool& pool);
    static void validate(Pool& pool, std::vector<Violation>& out);
    // The same invariants for the pages that `addresses` (list nodes, page
    // descriptors) lie in and the page numbered `page_serial` (0: none), for
    // a step that changed nothing else. Returns false, having reported
    // nothing, when a link of theirs does not check out: only a walk of
    // every list from its head (validate) can say what is wrong then.
    static bool validate_pages(Pool& pool, const void* const* addresses, size_t n, uint32_t page_serial,
                               std::vector<Violation>& out);
    // Whether `x` is one of the pool's list heads (LRU, stale, an unbuddied).
    static bool is_list_head(Pool& pool, const void* x);
    // Resolve a handle to (page serial, buddy) without locking (quiescent only).
    static bool resolve(Pool& pool, Handle h, uint32_t* page_serial, Buddy* bud, size_t* offset,
                        const uint8_t** object = nullptr);

    // Test-only hooks that break an invariant on purpose, so each check is
    // shown to fire (tests/unit/validate_test.cpp).
    static void corrupt_lru_link_for_test(Pool& pool);
    static void set_refcount_for_test(Pool& pool, uint32_t page_serial, int refcount);
    static void set_claimed_for_test(Pool& pool, uint32_t page_serial);
    static void move_to_wrong_unbuddied_for_test(Pool& pool, uint32_t page_serial);
    static void set_flag_for_test(Pool& pool, uint32_t page_serial, int bit);
    static void clear_flag_for_test(Pool& pool, uint32_t page_serial, int bit);
    enum class Field { foreign_handles, mapped_count, cpu };
    static void set_field_for_test(Pool& pool, uint32_t page_serial, Field f, int value);
    static void unlink_lru_for_test(Pool& pool, uint32_t page_serial);
    static void add_pages_nr_for_test(Pool& pool, int64_t delta);
    static void leak_slots_for_test(Pool& pool);
    // Drop a page from the page source's registry (as if freed) without
    // unlinking it: the lists now reach a "freed" page.
    static void forget_page_for_test(Pool& pool, uint32_t page_serial);

private:
    static PageDesc* find_page(Pool& pool, uint32_t serial);
};

}  // namespace z3fh
