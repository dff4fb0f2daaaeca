// z3fold-harden: page migration (movable_operations): isolate, migrate,
// putback, and the mm core's sequence around them for one handle's page.
#include <cstring>
#include <new>

#include "check.h"
#include "mutants.h"
#include "pool.h"

namespace z3fh {

bool Pool::isolate_page(PageDesc* page) Z3FH_TSA_ESCAPE("page lock of a page found by address") {
    if (page->flags.test(PAGE_HEADLESS)) return false;
    Z3foldHeader* zhdr = page_header(page);
    zhdr->page_lock.lock();
    bool ok = false;
    // Already isolated by another migration: the mm core skips such pages
    // (isolate_movable_page tests PageIsolated before calling us).
    if (!page->isolated && !page->flags.test(NEEDS_COMPACTING) && !page->flags.test(PAGE_STALE) && zhdr->mapped_count == 0 &&
        zhdr->foreign_handles == 0 && !page->flags.test_and_set(PAGE_CLAIMED)) {
        {
            sync::SpinGuard g(lock_);
            list_del_init(&zhdr->buddy, lock_);
            list_del_init(&page->lru, lock_);
        }
        zhdr->cpu = -1;
        kref_get_locked(zhdr);  // isolation's reference; putback puts it, migrate hands it on
        sync::shared_write(page);
        page->isolated = true;  // PageIsolated, under the page lock that compaction reads it under
        ok = true;
    }
    zhdr->page_lock.unlock();
    return ok;
}

Errno Pool::migrate_page(PageDesc* newpage, PageDesc* page) Z3FH_TSA_ESCAPE("two page locks by address") {
    Z3FH_CHECK(page->isolated);
    Z3FH_CHECK(page->flags.test(PAGE_CLAIMED));
    Z3foldHeader* zhdr = page_header(page);
    if (!zhdr->page_lock.try_lock()) return Errno::again;
    if (zhdr->mapped_count != 0 || zhdr->foreign_handles != 0) {
        // The page stays isolated and claimed: putback unclaims it. Upstream
        // clears PAGE_CLAIMED here, so compaction re-lists the isolated page,
        // an alloc puts it on the LRU, and putback adds it there a second
        // time (found by the real-thread baseline, docs/findings.md).
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        if (Z3FH_MUTANT_ON(migrate_busy_unclaims)) page->flags.clear(PAGE_CLAIMED);  // as upstream
#endif
        zhdr->page_lock.unlock();
        return Errno::busy;
    }
    if (compact_wq_.is_pending(&zhdr->work)) {
        zhdr->page_lock.unlock();
        return Errno::again;
    }
    Z3foldHeader* new_zhdr = nullptr;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // lock-dropped-too-early: "the checks passed, the copy needs no lock" -- a map
    // between the unlock and PAGE_MIGRATED writes to the page being copied.
    const bool unlock_early = Z3FH_MUTANT_ON(migrate_unlock_early);
    if (unlock_early) zhdr->page_lock.unlock();
#endif
    // Field by field, then the objects: upstream copies the whole page, lock
    // word included, while other CPUs may trylock the old lock (a race TSan
    // reports on real threads; the copy is re-initialised anyway).
    new_zhdr = new (page_address(newpage)) Z3foldHeader{};
    new_zhdr->page_lock.init({sync::ObjClass::page_lock, newpage->serial});
    new_zhdr->refcount.init(zhdr->refcount.load(), {sync::ObjClass::refcount, newpage->serial});  // incl. isolation's
    new_zhdr->work.init(&Pool::compact_page_work);
    list_init(&new_zhdr->buddy);  // isolate left the old one empty
    new_zhdr->slots = zhdr->slots;
    new_zhdr->pool = zhdr->pool;
    new_zhdr->cpu = zhdr->cpu;
    new_zhdr->first_chunks = zhdr->first_chunks;
    new_zhdr->middle_chunks = zhdr->middle_chunks;
    new_zhdr->last_chunks = zhdr->last_chunks;
    new_zhdr->start_middle = zhdr->start_middle;
    new_zhdr->first_num = zhdr->first_num;
    new_zhdr->foreign_handles = zhdr->foreign_handles;
    new_zhdr->mapped_count = zhdr->mapped_count;
    new_zhdr->middle_mapped = zhdr->middle_mapped;
    std::memcpy(reinterpret_cast<char*>(new_zhdr) + ZHDR_SIZE_ALIGNED,
                reinterpret_cast<const char*>(zhdr) + ZHDR_SIZE_ALIGNED, PAGE_SIZE - ZHDR_SIZE_ALIGNED);
    newpage->flags.store_all(page->flags.load_all());
    page->flags.set(PAGE_MIGRATED);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (!unlock_early)
#endif
        zhdr->page_lock.unlock();

    // The new refcount carries isolation's reference, which the queued work puts.
    page->page_mutex.assert_held();
    page->movable = false;

    newpage->refs.fetch_add(1);  // get_page: z3fold's reference to its new page
    new_zhdr->page_lock.lock();
    if (new_zhdr->first_chunks) (void)encode_handle(new_zhdr, Buddy::FIRST);
    if (new_zhdr->last_chunks) (void)encode_handle(new_zhdr, Buddy::LAST);
    if (new_zhdr->middle_chunks) (void)encode_handle(new_zhdr, Buddy::MIDDLE);
    newpage->flags.set(NEEDS_COMPACTING);
    newpage->flags.clear(PAGE_CLAIMED);
    new_zhdr->cpu = static_cast<int16_t>(sync::current_vcpu());
    {
        sync::SpinGuard g(lock_);
        list_add(&newpage->lru, &lru_, lock_);
    }
    newpage->movable = true;
    // Read under the page lock: once it is dropped, reclaim can claim the
    // page (it is on the LRU now) and write cpu. Upstream reads it after the
    // unlock (a data race TSan found through this harness: docs/findings.md).
    const int cpu = new_zhdr->cpu;
    new_zhdr->page_lock.unlock();
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // missing-requeue: NEEDS_COMPACTING is set but the work that clears it (and
    // puts isolation's reference) is never queued.
    if (!Z3FH_MUTANT_ON(migrate_no_queue))
#endif
        compact_wq_.queue(&new_zhdr->work, cpu);

    // A handle lookup may have read the old address before the slots were
    // rewritten and locked the old page; it sees PAGE_MIGRATED and retries.
    // Taking the old lock once more waits it out before the old page goes.
    zhdr->page_lock.lock();
    zhdr->page_lock.unlock();

    sync::shared_write(page);
    page->isolated = false;
    page->flags.clear(PAGE_CLAIMED);
    put_page(page);  // z3fold's reference to the old page
    return Errno::ok;
}

void Pool::putback_page(PageDesc* page) Z3FH_TSA_ESCAPE("page lock by address; conditional unlock in put") {
    Z3foldHeader* zhdr = page_header(page);
    zhdr->page_lock.lock();
    sync::shared_write(page);
    page->isolated = false;
    {
        sync::SpinGuard g(lock_);
        list_del_init(&zhdr->buddy, lock_);
    }
    if (put_z3fold_locked(zhdr)) return;  // isolation's reference
    {
        sync::SpinGuard g(lock_);
        list_add(&page->lru, &lru_, lock_);
    }
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // page-lost-from-lists: as reclaim's failure path (the same upstream fix).
    if (!Z3FH_MUTANT_ON(failed_reclaim_not_unbuddied))
#endif
        if (list_empty(&zhdr->buddy)) add_to_unbuddied(zhdr);
    page->flags.clear(PAGE_CLAIMED);
    zhdr->page_lock.unlock();
}

Errno Pool::migrate_handle_page(Handle handle) Z3FH_TSA_ESCAPE("page lock from get_z3fold_header") {
    if (handle_is_headless(handle)) return Errno::inval;
    Z3foldHeader* zhdr = get_z3fold_header(handle);
    PageDesc* page = virt_to_page(zhdr);
    page->refs.fetch_add(1);  // the mm core's reference while it works on the page
    zhdr->page_lock.unlock();

    page->page_mutex.lock();
    if (!page->movable || !isolate_page(page)) {
        page->page_mutex.unlock();
        put_page(page);
        return Errno::busy;
    }
    page->page_mutex.unlock();

    Errno ret = Errno::nomem;
    PageDesc* newpage = src_->alloc_page();
    if (newpage) {
        newpage->page_mutex.lock();
        page->page_mutex.lock();
        ret = migrate_page(newpage, page);
        page->page_mutex.unlock();
        newpage->page_mutex.unlock();
    }
    if (ret != Errno::ok) putback_page(page);
    if (newpage) put_page(newpage);  // the mm core's reference to the new page
    put_page(page);                  // the mm core's reference to the old page
    return ret;
}

}  // namespace z3fh
