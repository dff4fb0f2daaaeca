// z3fold-harden: page lifetimes. The refcount (kref) counts one reference per
// object in the page plus one per holder working on the page off its lists
// (compaction work, reclaim, isolation). Every get and every put holds the
// page lock, so under the page lock the count is stable: a put that will be
// the last one unlinks the page from every list first (under the pool lock),
// and release asserts the page is on no list (review points 1 and 2).
#include "check.h"
#include "mutants.h"
#include "pool.h"

namespace z3fh {

void Pool::kref_get_locked(Z3foldHeader* zhdr, sync::SrcLoc loc) {
    zhdr->page_lock.assert_held(loc);
    int old = zhdr->refcount.fetch_add(1, loc);
    if (old < 1)
        report_fatal(ErrorKind::refcount, loc,
                     fmt::format("kref_get on page {} with refcount {}", virt_to_page(zhdr)->serial, old));
}

// Unlink from the unbuddied list and the LRU, under the lock that guards them.
void Pool::unlink_from_lists(Z3foldHeader* zhdr) {
    PageDesc* page = virt_to_page(zhdr);
    sync::SpinGuard g(lock_);
    list_del_init(&zhdr->buddy, lock_);
    list_del_init(&page->lru, lock_);
    zhdr->cpu = -1;
}

// put_z3fold_locked: drop one reference with the page lock held. Returns true
// if that released the page (the page lock is then dropped too).
bool Pool::put_z3fold_locked(Z3foldHeader* zhdr, sync::SrcLoc loc) Z3FH_TSA_ESCAPE("unlocks only on release") {
    zhdr->page_lock.assert_held(loc);
    const bool last = zhdr->refcount.load(loc) == 1;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (Z3FH_MUTANT_ON(release_unlinks)) {
        // Review #1: the release function unlinks ("relying on the release function to
        // remove a page from its buddy and/or lru list ... seems very error-prone").
    } else
#endif
        if (last) unlink_from_lists(zhdr);
    int old = zhdr->refcount.fetch_sub(1, loc);
    if (old < 1)
        report_fatal(ErrorKind::refcount, loc,
                     fmt::format("kref_put on page {} with refcount {}", virt_to_page(zhdr)->serial, old));
    if (last && old != 1)
        report_fatal(ErrorKind::refcount, loc,
                     fmt::format("refcount of page {} changed from 1 to {} under the page lock: a reference was "
                                 "taken without the page lock",
                                 virt_to_page(zhdr)->serial, old));
    if (old != 1) return false;
    release_z3fold_page_locked(zhdr);
    return true;
}

// __release_z3fold_page: refcount reached zero with the page lock held. Mark
// the page stale and hand it to the release worker, which frees it once any
// compaction work on it has finished (cancel_work_sync).
void Pool::release_z3fold_page_locked(Z3foldHeader* zhdr) Z3FH_TSA_ESCAPE("drops the caller's page lock") {
    PageDesc* page = virt_to_page(zhdr);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (Z3FH_MUTANT_ON(release_unlinks)) {
        // Review #1, as the patch had it: "if (!list_empty(&zhdr->buddy)) list_del(&zhdr->buddy);
        // if (!list_empty(&page->lru)) list_del(&page->lru);" -- here under the page lock the
        // put holds, not the pool lock that guards both lists.
        if (!list_empty(&zhdr->buddy)) list_del(&zhdr->buddy, lock_);
        if (!list_empty(&page->lru)) list_del(&page->lru, lock_);
        list_init(&zhdr->buddy);
        list_init(&page->lru);
    }
#endif
    if (!list_empty(&zhdr->buddy) || !list_empty(&page->lru))
        report_fatal(ErrorKind::released_page_listed, sync::SrcLoc::here(),
                     fmt::format("page {} reached refcount 0 while still on {}", page->serial,
                                 !list_empty(&zhdr->buddy) ? "an unbuddied list" : "the LRU"));
    // A page can own an empty slots object: compaction's lookup gives a page
    // new slots lazily even though the moved object's handle stays in the old
    // page's slots. Free it here; slots still holding foreign handles belong
    // to those handles (free_handle frees them).
    if (BuddySlots* slots = zhdr->slots) {
        slots->lock.write_lock();
        bool empty = true;
        for (uintptr_t v : slots->slot) empty = empty && v == 0;
        slots->lock.write_unlock();
        if (empty) {
            zhdr->slots = nullptr;
            c_handle_.free(slots);
        }
    }
    page->flags.set(PAGE_STALE);
    page->flags.clear(NEEDS_COMPACTING);
    zhdr->page_lock.unlock();

    stale_lock_.lock();
    list_add(&zhdr->buddy, &stale_, stale_lock_);
    release_wq_.queue(&release_work_.item, 0);
    stale_lock_.unlock();
    pages_nr_add(-1);
}

// free_pages_work: the release worker frees stale pages.
void Pool::free_pages_work(sync::WorkItem* w) {
    Pool* pool = reinterpret_cast<ReleaseWork*>(w)->pool;
    pool->stale_lock_.lock();
    while (!list_empty(&pool->stale_)) {
        Z3foldHeader* zhdr = header_of_buddy(pool->stale_.next);
        PageDesc* page = virt_to_page(zhdr);
        list_del(&zhdr->buddy, pool->stale_lock_);
        Z3FH_CHECK_KIND(ErrorKind::warn, page->flags.test(PAGE_STALE), "page {} on the stale list is not stale",
                        page->serial);
        pool->stale_lock_.unlock();
        sync::might_sleep("cancel_work_sync");  // waits for a running item
        pool->compact_wq_.cancel_sync(&zhdr->work);
        pool->free_z3fold_page(page, false);
        sync::cond_resched();
        pool->stale_lock_.lock();
    }
    pool->stale_lock_.unlock();
}

}  // namespace z3fh
