// z3fold-harden: reclaim. Walk the LRU from its tail, claim a page, encode its
// objects' handles into a stack-local slots object, and call the evict
// callback on each; then either the page is freed or it goes back on the LRU
// and its unbuddied list. The callback may free the handle it is given, or any
// other (the zpool evict contract), so everything after it re-checks state.
#include <cstring>

#include "check.h"
#include "mutants.h"
#include "pool.h"

namespace z3fh {

// The objects whose evict freed them were freed through the stack handles
// (HANDLES_NOFREE), so their real slots still point at this page: free those.
// A real slot already zero means the object was freed through its real handle.
void Pool::release_evicted_handles(Z3foldHeader* zhdr, const BuddySlots&, const Handle (&evicted)[BUDDIES]) {
    zhdr->page_lock.assert_held();
    for (int b = static_cast<int>(Buddy::FIRST); b <= static_cast<int>(Buddy::LAST); b++) {
        if (!evicted[b] || buddy_chunks(zhdr, static_cast<Buddy>(b)) != 0 || !zhdr->slots) continue;
        uintptr_t* real = &zhdr->slots->slot[slot_index(zhdr, static_cast<Buddy>(b))];
        if (*real != 0) free_handle(reinterpret_cast<Handle>(real), zhdr);
    }
}

Errno Pool::reclaim_page(unsigned retries) Z3FH_TSA_ESCAPE("page locks taken in the LRU walk") {
    BuddySlots slots{};  // stack-local, like upstream's: never freed by free_handle
    slots.lock.init({sync::ObjClass::slots_lock, 0});
    slots.pool = pool_word() | (uintptr_t{1} << HANDLES_NOFREE);
    Errno ret = Errno::again;
    int evict_ret = -1;

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    Z3foldHeader* previous_try = nullptr;  // reclaim-retry-stale-header
#endif
    lock_.lock();
    for (unsigned i = 0; i < retries; i++) {
        if (list_empty(&lru_)) {
            lock_.unlock();
            return Errno::inval;
        }
        PageDesc* page = nullptr;
        Z3foldHeader* zhdr = nullptr;
        for (ListNode* pos = lru_.prev; pos != &lru_; pos = pos->prev) {
            PageDesc* cand = page_of_lru(pos);
            Z3foldHeader* czhdr = page_header(cand);
            if (cand->flags.test(PAGE_HEADLESS)) {
                // No page lock to take: the claim alone keeps free away.
                if (cand->flags.test_and_set(PAGE_CLAIMED)) continue;
                page = cand;
                zhdr = czhdr;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
                // stale-pointer (before "z3fold: fix retry mechanism in page
                // reclaim"): zhdr was assigned only for pages with a header,
                // so a headless pick keeps the one from the previous try.
                if (Z3FH_MUTANT_ON(reclaim_retry_stale_header) && previous_try) zhdr = previous_try;
#endif
                break;
            }
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (Z3FH_MUTANT_ON(under_reclaim_bit)) {
                // Review #3: "set_bit(UNDER_RECLAIM, &page->private)" under the pool lock, tested
                // by free under the page lock: a test and a later set, under different locks.
                if (czhdr->foreign_handles || cand->flags.test(PAGE_CLAIMED)) continue;
                cand->flags.set(PAGE_CLAIMED);
                list_del_init(&czhdr->buddy, lock_);
                czhdr->cpu = -1;
                list_del_init(&cand->lru, lock_);
                lock_.unlock();
                czhdr->page_lock.lock();
                kref_get_locked(czhdr);
                lock_.lock();
                page = cand;
                zhdr = czhdr;
                break;
            }
#endif
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (Z3FH_MUTANT_ON(reclaim_lock_order)) {
                // lock-order-inversion: wait for the page lock under the pool lock;
                // alloc and free hold a page lock when they take the pool lock.
                czhdr->page_lock.lock();
            } else
#endif
                if (!czhdr->page_lock.try_lock()) continue;  // can't evict it now
            // test_and_set is atomic, but it must also be under the page lock,
            // or the test of PAGE_CLAIMED in the unbuddied lookup means nothing.
            if (czhdr->foreign_handles || cand->flags.test_and_set(PAGE_CLAIMED)) {
                czhdr->page_lock.unlock();
                continue;  // can't evict such a page
            }
            list_del_init(&czhdr->buddy, lock_);
            czhdr->cpu = -1;
            kref_get_locked(czhdr);  // reclaim's reference, under the page lock
            page = cand;
            zhdr = czhdr;
            break;
        }
        if (!zhdr) break;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        previous_try = zhdr;
#endif

        list_del_init(&page->lru, lock_);
        lock_.unlock();

        const bool headless = page->flags.test(PAGE_HEADLESS);
        Handle handles[BUDDIES] = {};
        if (!headless) {
            std::memset(slots.slot, 0, sizeof(slots.slot));
            if (zhdr->first_chunks) handles[static_cast<int>(Buddy::FIRST)] = encode_handle_in(zhdr, &slots, Buddy::FIRST);
            if (zhdr->middle_chunks) handles[static_cast<int>(Buddy::MIDDLE)] = encode_handle_in(zhdr, &slots, Buddy::MIDDLE);
            if (zhdr->last_chunks) handles[static_cast<int>(Buddy::LAST)] = encode_handle_in(zhdr, &slots, Buddy::LAST);
            // Safe to unlock: we hold a reference and the claim.
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            // evict-with-lock-held: the callback runs under the page lock, and the
            // free it calls needs that lock (upstream drops it first, as here).
            if (!Z3FH_MUTANT_ON(evict_under_page_lock))
#endif
                zhdr->page_lock.unlock();
        } else {
            handles[static_cast<int>(Buddy::FIRST)] = encode_handle(zhdr, Buddy::HEADLESS);
        }

        // Issue the evict callbacks: MIDDLE, FIRST, LAST, as upstream.
        evict_ret = -1;
        for (Buddy b : {Buddy::MIDDLE, Buddy::FIRST, Buddy::LAST}) {
            Handle h = handles[static_cast<int>(b)];
            if (!h) continue;
            evict_ret = evict_ ? evict_(*this, h, evict_ctx_) : -1;
            if (evict_ret != 0) break;
        }

        if (headless) {
            // Evict's 0 does not prove the object freed: zswap returns 0 for an
            // entry it cannot find, as for one whose store has not inserted it
            // yet (K12 in docs/findings.md; upstream frees the page on 0). The
            // free's mark does: it came while we held the claim, and the page
            // is ours to free. Otherwise the page goes back on the LRU.
            lock_.lock();
            if (page->flags.test(HEADLESS_FREED)) {
                lock_.unlock();
                free_z3fold_page(page, true);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
                // accounting-drift: the evicted headless page is freed but still counted.
                if (Z3FH_MUTANT_ON(reclaim_headless_count)) return Errno::ok;
#endif
                pages_nr_add(-1);
                return Errno::ok;
            }
            list_add(&page->lru, &lru_, lock_);
            page->flags.clear(PAGE_CLAIMED);
            lock_.unlock();
        } else {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (!Z3FH_MUTANT_ON(evict_under_page_lock))
#endif
                zhdr->page_lock.lock();
            release_evicted_handles(zhdr, slots, handles);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (Z3FH_MUTANT_ON(reclaim_put_then_lru)) {
                // Review #4: "you can't put the zhdr above, and then go on to add the page to
                // the lru list; you don't have the kref anymore to allow you to do that."
                bool released = put_z3fold_locked(zhdr);
                if (!released) {
                    if (list_empty(&zhdr->buddy)) add_to_unbuddied(zhdr);
                    page->flags.clear(PAGE_CLAIMED);
                    zhdr->page_lock.unlock();
                }
                lock_.lock();
                list_add(&page->lru, &lru_, lock_);
                lock_.unlock();
                if (released) return Errno::ok;
                lock_.lock();
                continue;
            }
#endif
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (Z3FH_MUTANT_ON(reclaim_leaks_ref) && evict_ret != 0) {
                // refcount-leak: the page is still in use, so it goes back on its lists
                // "as it was" -- and reclaim's own reference goes back with it.
                lock_.lock();
                list_add(&page->lru, &lru_, lock_);
                lock_.unlock();
                if (list_empty(&zhdr->buddy)) add_to_unbuddied(zhdr);
                page->flags.clear(PAGE_CLAIMED);
                zhdr->page_lock.unlock();
                lock_.lock();
                continue;
            }
#endif
            if (put_z3fold_locked(zhdr)) return Errno::ok;  // reclaim's reference was the last
            // Still in use: back on the LRU and its unbuddied list. We still
            // hold the page lock, which every put holds, so nobody can release
            // the page before it is back; then unclaim and unlock.
            lock_.lock();
            list_add(&page->lru, &lru_, lock_);
            lock_.unlock();
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            // page-lost-from-lists (before "mm/z3fold: put z3fold page back into
            // unbuddied list when reclaim or migration fails"): LRU only.
            if (!Z3FH_MUTANT_ON(failed_reclaim_not_unbuddied))
#endif
                if (list_empty(&zhdr->buddy)) add_to_unbuddied(zhdr);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            // flag-under-wrong-lock (before "mm/z3fold: always clear PAGE_CLAIMED
            // under z3fold page lock"): a free between the two sees the claim.
            if (Z3FH_MUTANT_ON(reclaim_unclaims_after_unlock)) {
                zhdr->page_lock.unlock();
                page->flags.clear(PAGE_CLAIMED);
                lock_.lock();
                continue;
            }
#endif
            page->flags.clear(PAGE_CLAIMED);
            zhdr->page_lock.unlock();
        }
        lock_.lock();  // we started the loop holding the pool lock
    }
    lock_.unlock();
    return ret;
}

}  // namespace z3fh
