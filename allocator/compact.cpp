// z3fold-harden: compaction. Intra-page: move MIDDLE towards FIRST or LAST
// (or into FIRST, relabelling buddies by first_num). Inter-page: move a page's
// single object into another page and rewrite its handle to point there.
// Both run from the compaction work item, with the page lock held and
// PAGE_CLAIMED set.
#include <cstring>

#include "check.h"
#include "mutants.h"
#include "pool.h"

namespace z3fh {

namespace {
void mchunk_memmove(Z3foldHeader* zhdr, unsigned dst_chunk) Z3FH_REQUIRES(zhdr->page_lock) {
    char* beg = reinterpret_cast<char*>(zhdr);
    std::memmove(beg + (static_cast<size_t>(dst_chunk) << CHUNK_SHIFT),
                 beg + (static_cast<size_t>(zhdr->start_middle) << CHUNK_SHIFT),
                 static_cast<size_t>(zhdr->middle_chunks) << CHUNK_SHIFT);
}
}  // namespace

void Pool::compact_page_work(sync::WorkItem* w) {
    Z3foldHeader* zhdr = header_of_work(w);
    zhdr->pool->do_compact_page(zhdr, false);
}

// z3fold_compact_page: returns true if MIDDLE moved. Never while MIDDLE is
// mapped or the page is isolated.
Z3FH_INTENTIONAL_WRAP
bool Pool::z3fold_compact_page(Z3foldHeader* zhdr) {
    PageDesc* page = virt_to_page(zhdr);
    zhdr->page_lock.assert_held();
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // compaction-moves-mapped: the mapped test is skipped; the mapper writes
    // to where MIDDLE was.
    if (!Z3FH_MUTANT_ON(compact_ignores_mapped))
#endif
        if (page->flags.test(MIDDLE_CHUNK_MAPPED)) return false;
    if (page->isolated) return false;
    if (zhdr->middle_chunks == 0) return false;

    if (zhdr->first_chunks == 0 && zhdr->last_chunks == 0) {
        // Move to the beginning: MIDDLE becomes FIRST; first_num++ relabels
        // the existing handle (slot index - first_num now names FIRST).
        mchunk_memmove(zhdr, ZHDR_CHUNKS);
        zhdr->first_chunks = zhdr->middle_chunks;
        zhdr->middle_chunks = 0;
        zhdr->start_middle = 0;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // handle-encoding: without the relabel the existing handle still decodes
        // as MIDDLE, now with start_middle 0 (the header).
        if (!Z3FH_MUTANT_ON(compact_keeps_first_num))
#endif
            zhdr->first_num++;  // 2-bit wrap is the design
        return true;
    }
    // Moving data is expensive: only for a gain of BIG_CHUNK_GAP chunks.
    if (zhdr->first_chunks != 0 && zhdr->last_chunks == 0 &&
        zhdr->start_middle - (zhdr->first_chunks + ZHDR_CHUNKS) >= BIG_CHUNK_GAP) {
        mchunk_memmove(zhdr, zhdr->first_chunks + ZHDR_CHUNKS);
        zhdr->start_middle = static_cast<uint16_t>(zhdr->first_chunks + ZHDR_CHUNKS);
        return true;
    }
    if (zhdr->last_chunks != 0 && zhdr->first_chunks == 0 &&
        TOTAL_CHUNKS - (zhdr->last_chunks + zhdr->start_middle + zhdr->middle_chunks) >= BIG_CHUNK_GAP) {
        auto new_start = static_cast<uint16_t>(TOTAL_CHUNKS - zhdr->last_chunks - zhdr->middle_chunks);
        mchunk_memmove(zhdr, new_start);
        zhdr->start_middle = new_start;
        return true;
    }
    return false;
}

// compact_single_buddy: move this page's only object into another page that
// has room, rewrite the old slot to point there (a foreign handle for the new
// page). Returns the new page (already unlocked) or nullptr.
Z3foldHeader* Pool::compact_single_buddy(Z3foldHeader* zhdr) Z3FH_TSA_ESCAPE("new page locked by lookup") {
    char* p = reinterpret_cast<char*>(zhdr);
    Handle old_handle = 0;
    size_t sz = 0;
    uint16_t* moved_chunks = nullptr;
    const int first_idx = slot_index(zhdr, Buddy::FIRST);
    const int middle_idx = slot_index(zhdr, Buddy::MIDDLE);
    const int last_idx = slot_index(zhdr, Buddy::LAST);

    // The slots are this page's own and we hold its lock: no slots lock to read.
    if (zhdr->first_chunks && zhdr->slots->slot[first_idx]) {
        p += ZHDR_SIZE_ALIGNED;
        sz = static_cast<size_t>(zhdr->first_chunks) << CHUNK_SHIFT;
        old_handle = reinterpret_cast<Handle>(&zhdr->slots->slot[first_idx]);
        moved_chunks = &zhdr->first_chunks;
    } else if (zhdr->middle_chunks && zhdr->slots->slot[middle_idx]) {
        p += static_cast<size_t>(zhdr->start_middle) << CHUNK_SHIFT;
        sz = static_cast<size_t>(zhdr->middle_chunks) << CHUNK_SHIFT;
        old_handle = reinterpret_cast<Handle>(&zhdr->slots->slot[middle_idx]);
        moved_chunks = &zhdr->middle_chunks;
    } else if (zhdr->last_chunks && zhdr->slots->slot[last_idx]) {
        p += PAGE_SIZE - (static_cast<size_t>(zhdr->last_chunks) << CHUNK_SHIFT);
        sz = static_cast<size_t>(zhdr->last_chunks) << CHUNK_SHIFT;
        old_handle = reinterpret_cast<Handle>(&zhdr->slots->slot[last_idx]);
        moved_chunks = &zhdr->last_chunks;
    }
    if (sz == 0) return nullptr;

    const int chunks = size_to_chunks(sz);
    Z3foldHeader* new_zhdr = z3fold_alloc_existing(sz, false);  // takes a ref for the moved object
    if (!new_zhdr) return nullptr;
    Z3FH_CHECK_KIND(ErrorKind::warn, new_zhdr != zhdr, "compaction found its own page");

    Buddy new_bud = get_free_buddy(new_zhdr, chunks);
    char* q = reinterpret_cast<char*>(new_zhdr);
    switch (new_bud) {
    case Buddy::FIRST:
        new_zhdr->first_chunks = static_cast<uint16_t>(chunks);
        q += ZHDR_SIZE_ALIGNED;
        break;
    case Buddy::MIDDLE:
        new_zhdr->middle_chunks = static_cast<uint16_t>(chunks);
        new_zhdr->start_middle = static_cast<uint16_t>(new_zhdr->first_chunks + ZHDR_CHUNKS);
        q += static_cast<size_t>(new_zhdr->start_middle) << CHUNK_SHIFT;
        break;
    case Buddy::LAST:
        new_zhdr->last_chunks = static_cast<uint16_t>(chunks);
        q += PAGE_SIZE - (static_cast<size_t>(new_zhdr->last_chunks) << CHUNK_SHIFT);
        break;
    default:
        if (!put_z3fold_locked(new_zhdr)) {
            add_to_unbuddied(new_zhdr);
            new_zhdr->page_lock.unlock();
        }
        return nullptr;
    }
    new_zhdr->foreign_handles = static_cast<uint8_t>(new_zhdr->foreign_handles + 1) & 3U;
    std::memcpy(q, p, sz);
    zhdr->slots->lock.write_lock();
    uintptr_t v = reinterpret_cast<uintptr_t>(new_zhdr) + static_cast<uintptr_t>(slot_index(new_zhdr, new_bud));
    if (new_bud == Buddy::LAST) v |= static_cast<uintptr_t>(new_zhdr->last_chunks) << BUDDY_SHIFT;
    *reinterpret_cast<uintptr_t*>(old_handle) = v;
    zhdr->slots->lock.write_unlock();
    // The old slots object now holds only the foreign handle, and freeing
    // that handle frees the object without knowing this page: detach it, so
    // this page never reaches it again (a new object here gets new slots).
    // Upstream keeps the pointer (found by this harness: docs/findings.md).
    zhdr->slots = nullptr;
    add_to_unbuddied(new_zhdr);
    new_zhdr->page_lock.unlock();
    *moved_chunks = 0;
    return new_zhdr;
}

// do_compact_page: the compaction work. Its first act is to put the
// reference its queuer took.
void Pool::do_compact_page(Z3foldHeader* zhdr, bool locked) Z3FH_TSA_ESCAPE("conditional page lock") {
    PageDesc* page = virt_to_page(zhdr);
    if (locked) zhdr->page_lock.assert_held(); else zhdr->page_lock.lock();
    if (!page->flags.test_and_clear(NEEDS_COMPACTING))
        report_fatal(ErrorKind::warn, sync::SrcLoc::here(),
                     fmt::format("compaction work on page {} without NEEDS_COMPACTING", page->serial));
    {
        sync::SpinGuard g(lock_);
        list_del_init(&zhdr->buddy, lock_);
    }
    if (put_z3fold_locked(zhdr)) return;  // the work's reference

    if (page->flags.test(PAGE_STALE) || page->flags.test_and_set(PAGE_CLAIMED)) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // double-put: "the claimer re-lists the page, so drop our reference" -- the
        // work's reference was already dropped above.
        if (Z3FH_MUTANT_ON(compact_double_put) && !page->flags.test(PAGE_STALE) && put_z3fold_locked(zhdr)) return;
#endif
        zhdr->page_lock.unlock();
        return;
    }
    if (!zhdr->foreign_handles && buddy_single(zhdr) && zhdr->mapped_count == 0 && compact_single_buddy(zhdr)) {
        // The object moved: put its reference on this page.
        if (!put_z3fold_locked(zhdr)) {
            page->flags.clear(PAGE_CLAIMED);
            zhdr->page_lock.unlock();
        }
        return;
    }
    z3fold_compact_page(zhdr);
    add_to_unbuddied(zhdr);
    page->flags.clear(PAGE_CLAIMED);
    zhdr->page_lock.unlock();
}

}  // namespace z3fh
