// z3fold-harden: pool creation and teardown, alloc, free, map and unmap, the
// unbuddied lookup (__z3fold_alloc) and the handle-to-header lookup.
#include "pool.h"

#include <cstring>
#include <new>

#include "check.h"
#include "mutants.h"

namespace z3fh {

using sync::ObjClass;

const char* buddy_name(Buddy b) {
    switch (b) {
    case Buddy::HEADLESS: return "HEADLESS";
    case Buddy::FIRST: return "FIRST";
    case Buddy::MIDDLE: return "MIDDLE";
    case Buddy::LAST: return "LAST";
    }
    return "?";
}

const char* errno_name(Errno e) {
    switch (e) {
    case Errno::ok: return "0";
    case Errno::again: return "-EAGAIN";
    case Errno::nomem: return "-ENOMEM";
    case Errno::busy: return "-EBUSY";
    case Errno::inval: return "-EINVAL";
    case Errno::nospc: return "-ENOSPC";
    }
    return "?";
}

namespace {
// Empty list heads, without list_init: its note of a write (for the step
// checks) means nothing before a run starts. The array was just allocated
// with exactly `n` heads, so ASan's and UBSan's checks on these stores can
// find nothing; with them, this loop was a tenth of an empty run.
#if defined(__clang__)
__attribute__((no_sanitize("address", "undefined")))
#endif
void init_list_heads(ListNode* heads, size_t n) {
    for (size_t i = 0; i < n; i++) heads[i].next = heads[i].prev = &heads[i];
}
}  // namespace

Pool::Pool(const PoolConfig& cfg)
    : vcpus_(cfg.vcpus < 1 ? 1 : cfg.vcpus),
      src_(cfg.page_source),
      evict_(cfg.evict),
      evict_ctx_(cfg.evict_ctx),
      unbuddied_(new ListNode[static_cast<size_t>(vcpus_) * NCHUNKS]),  // not zeroed: initialised below
      unbuddied_n_(static_cast<size_t>(vcpus_) * NCHUNKS),
      release_wq_({ObjClass::work_queue, 1}),
      compact_wq_({ObjClass::work_queue, 0}) {
    if (!src_) {
        owned_src_.reset(make_default_page_source());
        src_ = owned_src_.get();
    }
    lock_.init({ObjClass::pool_lock, 0});
    stale_lock_.init({ObjClass::stale_lock, 0});
    init_list_heads(unbuddied_.get(), unbuddied_n_);
    list_init(&lru_);
    list_init(&stale_);
    pages_nr_.init(0, {ObjClass::pages_nr, 0});
    release_work_.item.init(&Pool::free_pages_work);
    release_work_.pool = this;
}

Pool::~Pool() { drain(); }

void Pool::drain() {
    sync::might_sleep("flush_workqueue");  // waits for the workers
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // lifecycle (upstream before "z3fold: fix z3fold_destroy_pool() ordering",
    // 2019): release work first; compaction that runs after it can free a
    // page and queue release work again, left queued at destroy.
    if (Z3FH_MUTANT_ON(destroy_release_first)) {
        release_wq_.flush();
        compact_wq_.flush();
        return;
    }
#endif
    // Compaction can queue release work (a page it empties): compaction first.
    compact_wq_.flush();
    release_wq_.flush();
}

uint64_t Pool::total_pages() const { return static_cast<uint64_t>(pages_nr_.load()); }

void Pool::pages_nr_add(int64_t d, sync::SrcLoc loc) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // lost-update (before "z3fold: make pages_nr atomic"): a read and a write
    // back, which was safe only while one lock covered every update.
    if (Z3FH_MUTANT_ON(pages_nr_not_atomic)) {
        pages_nr_.store(pages_nr_.load(loc) + d, loc);
        return;
    }
#endif
    pages_nr_.fetch_add(d, loc);
}

// init_z3fold_page: a fresh page gets its header and its own slots object.
Z3foldHeader* Pool::init_z3fold_page(PageDesc* page, bool headless)
    Z3FH_TSA_ESCAPE("initialises a header no other thread can reach yet") {
    auto* zhdr = page_header(page);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // slab-leak (before "z3fold: fix memory leak in kmem cache"): the slots
    // object is allocated before the headless test, and a headless page never
    // uses or frees it.
    if (Z3FH_MUTANT_ON(headless_slots_leak) && headless) return c_handle_.alloc(pool_word()) ? zhdr : nullptr;
#endif
    if (headless) return zhdr;
    BuddySlots* slots = c_handle_.alloc(pool_word());
    if (!slots) return nullptr;
    zhdr = new (page_address(page)) Z3foldHeader{};
    zhdr->page_lock.init({ObjClass::page_lock, page->serial});
    zhdr->refcount.init(1, {ObjClass::refcount, page->serial});  // kref_init: the first object's reference
    zhdr->cpu = -1;
    zhdr->slots = slots;
    zhdr->pool = this;
    list_init(&zhdr->buddy);
    zhdr->work.init(&Pool::compact_page_work);
    return zhdr;
}

void Pool::put_page(PageDesc* page) {
    if (page->refs.fetch_sub(1) == 1) src_->free_page(page);
}

// free_z3fold_page: clear movable under the struct page lock, then drop
// z3fold's page reference.
void Pool::free_z3fold_page(PageDesc* page, bool headless) {
    if (!headless) {
        page->page_mutex.lock();
        page->movable = false;
        page->page_mutex.unlock();
    }
    put_page(page);
}

void Pool::add_to_unbuddied(Z3foldHeader* zhdr) {
    zhdr->page_lock.assert_held();
    // An empty page is on no list: whoever holds its last reference releases
    // it. Upstream lists it at unbuddied[NCHUNKS], one past the array: reclaim
    // re-adds a page whose objects its evict calls all freed while queued
    // compaction still holds a reference (found by this harness, see
    // docs/findings.md).
    if (zhdr->first_chunks == 0 && zhdr->middle_chunks == 0 && zhdr->last_chunks == 0) return;
    if (zhdr->first_chunks == 0 || zhdr->last_chunks == 0 || zhdr->middle_chunks == 0) {
        int freechunks = num_free_chunks(zhdr);
        int cpu = sync::current_vcpu();  // migrate_disable(): vCPUs change only between operations
        {
            sync::SpinGuard g(lock_);
            list_add(&zhdr->buddy, unbuddied(cpu, freechunks), lock_);
        }
        zhdr->cpu = static_cast<int16_t>(cpu);
    }
}

// __z3fold_alloc: find a page with room for `size` on this vCPU's lists (any
// list with at least as many free chunks), else an exact fit on any vCPU.
// Returns the page locked and with a reference taken for the new object.
Z3foldHeader* Pool::z3fold_alloc_existing(size_t size, bool can_sleep) Z3FH_TSA_ESCAPE("returns page locked") {
    const int chunks = size_to_chunks(size);
    Z3foldHeader* zhdr = nullptr;
lookup:
    {
        const int cpu = sync::current_vcpu();
        lock_.lock();
        // Upstream peeks with READ_ONCE and re-checks under the lock; we scan
        // under the lock, which is the same decision without a data race.
        zhdr = nullptr;
        for (int i = chunks; i < NCHUNKS; i++) {
            ListNode* l = unbuddied(cpu, i);
            if (!list_empty(l)) {
                zhdr = header_of_buddy(l->next);
                break;
            }
        }
        if (zhdr) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            if (Z3FH_MUTANT_ON(get_unless_zero)) {
                // Review #2: "if (!zhdr || !kref_get_unless_zero(&zhdr->refcount))" under the
                // pool lock: "if we can't rely on the kref to be safe under the pool lock, the
                // kref isn't very useful". The refcount is guarded by the page lock, not this one.
                int r = zhdr->refcount.load();
                while (r > 0 && !zhdr->refcount.compare_exchange(r, r + 1)) {
                }
                if (r == 0) {
                    lock_.unlock();
                    sync::cpu_relax();
                    goto lookup;
                }
                list_del_init(&zhdr->buddy, lock_);
                zhdr->cpu = -1;
                lock_.unlock();
                zhdr->page_lock.lock();
                PageDesc* mpage = virt_to_page(zhdr);
                if (mpage->flags.test(NEEDS_COMPACTING) || mpage->flags.test(PAGE_CLAIMED)) {
                    if (!put_z3fold_locked(zhdr)) zhdr->page_lock.unlock();
                    sync::cpu_relax();
                    goto lookup;
                }
                goto found;
            }
#endif
            if (!zhdr->page_lock.try_lock()) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
                // might-sleep: "back off before letting go" -- cond_resched may
                // sleep, and the pool lock spins.
                if (Z3FH_MUTANT_ON(resched_under_pool_lock) && can_sleep) sync::cond_resched();
#endif
                lock_.unlock();
                // Upstream spins here (cond_resched only if it may sleep); a
                // yield lets whoever holds the page lock finish.
                if (can_sleep) sync::cond_resched(); else sync::cpu_relax();
                goto lookup;
            }
            list_del_init(&zhdr->buddy, lock_);
            zhdr->cpu = -1;
            lock_.unlock();

            PageDesc* page = virt_to_page(zhdr);
            if (page->flags.test(NEEDS_COMPACTING) || page->flags.test(PAGE_CLAIMED)) {
                // Compaction or a claim holder will put it back.
                zhdr->page_lock.unlock();
                if (can_sleep) sync::cond_resched(); else sync::cpu_relax();
                goto lookup;
            }
            // We hold the page lock and took the page off its list under the
            // pool lock: no put can race with this get.
            kref_get_locked(zhdr);
        } else {
            lock_.unlock();
        }
    }

    if (!zhdr) {
        // Look for an exact fit on every vCPU's list.
        for (int cpu = 0; cpu < vcpus_; cpu++) {
            lock_.lock();
            ListNode* l = unbuddied(cpu, chunks);
            zhdr = list_empty(l) ? nullptr : header_of_buddy(l->next);
            if (!zhdr || !zhdr->page_lock.try_lock()) {
                lock_.unlock();
                zhdr = nullptr;
                continue;
            }
            list_del_init(&zhdr->buddy, lock_);
            zhdr->cpu = -1;
            lock_.unlock();
            PageDesc* page = virt_to_page(zhdr);
            if (page->flags.test(NEEDS_COMPACTING) || page->flags.test(PAGE_CLAIMED)) {
                zhdr->page_lock.unlock();
                zhdr = nullptr;
                if (can_sleep) sync::cond_resched();
                continue;
            }
            kref_get_locked(zhdr);
            break;
        }
    }
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
found:
#endif
    if (zhdr && !zhdr->slots) {
        // All of this page's handles were freed with its slots object; it
        // needs a new one (GFP_ATOMIC upstream: we hold a spinlock).
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // might-sleep, as upstream had it for a while (can_sleep ? GFP_NOIO :
        // GFP_ATOMIC): a gfp that may block, under the page lock.
        if (Z3FH_MUTANT_ON(lazy_slots_may_sleep) && can_sleep)
            sync::might_sleep("slots allocation with a blocking gfp");
#endif
        zhdr->slots = c_handle_.alloc(pool_word());
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // null-dereference ("mm/z3fold: fix possible null pointer dereferencing"):
        // the allocation is assumed to succeed; encode_handle writes through it.
        if (Z3FH_MUTANT_ON(lazy_slots_unchecked)) return zhdr;
#endif
        if (!zhdr->slots) {
            if (!put_z3fold_locked(zhdr)) {
                add_to_unbuddied(zhdr);
                zhdr->page_lock.unlock();
            }
            return nullptr;
        }
    }
    return zhdr;
}

AllocResult Pool::alloc(size_t size, Gfp gfp) Z3FH_TSA_ESCAPE("page lock taken via z3fold_alloc_existing") {
    if (size == 0) return {Errno::inval, 0};
    if (size > PAGE_SIZE) return {Errno::nospc, 0};
    const int chunks = size_to_chunks(size);
    Z3foldHeader* zhdr = nullptr;
    PageDesc* page = nullptr;
    Buddy bud;
    Handle handle;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    bool list_first = false;
#endif

    if (size > MAX_BUDDY_SIZE) {
        bud = Buddy::HEADLESS;
    } else {
        zhdr = z3fold_alloc_existing(size, gfp.can_sleep);
        if (zhdr) {
            bud = get_free_buddy(zhdr, chunks);
            // A page on unbuddied[i] with i >= chunks always has room.
            Z3FH_CHECK_KIND(ErrorKind::warn, bud != Buddy::HEADLESS, "No free chunks in unbuddied page {}",
                            virt_to_page(zhdr)->serial);
            page = virt_to_page(zhdr);
            goto found;
        }
        bud = Buddy::FIRST;
    }

    // alloc_page and the slots object's kmem_cache_alloc take the caller's
    // gfp: with a blocking one they may sleep.
    if (gfp.can_sleep) sync::might_sleep("page allocation with a blocking gfp");
    page = src_->alloc_page();
    if (!page) return {Errno::nomem, 0};
    zhdr = init_z3fold_page(page, bud == Buddy::HEADLESS);
    if (!zhdr) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // fault: an error path nobody exercised -- the fresh page is not given back.
        if (Z3FH_MUTANT_ON(enomem_leaks_page)) return {Errno::nomem, 0};
#endif
        put_page(page);
        return {Errno::nomem, 0};
    }
    pages_nr_add(1);

    if (bud == Buddy::HEADLESS) {
        page->flags.set(PAGE_HEADLESS);
        goto headless;
    }
    page->page_mutex.lock();
    page->movable = true;  // __SetPageMovable
    page->page_mutex.unlock();
    zhdr->page_lock.lock();

found:
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // list-stale-after-state-change: the page is re-listed by the free chunks it
    // had before this object, and stays on that (now wrong) list.
    list_first = Z3FH_MUTANT_ON(stale_unbuddied_index) && !page->flags.test(PAGE_HEADLESS) &&
                 (zhdr->first_chunks || zhdr->middle_chunks || zhdr->last_chunks);
    if (list_first) add_to_unbuddied(zhdr);
#endif
    if (bud == Buddy::FIRST) {
        zhdr->first_chunks = static_cast<uint16_t>(chunks);
    } else if (bud == Buddy::LAST) {
        zhdr->last_chunks = static_cast<uint16_t>(chunks);
    } else {
        zhdr->middle_chunks = static_cast<uint16_t>(chunks);
        zhdr->start_middle = static_cast<uint16_t>(zhdr->first_chunks + ZHDR_CHUNKS);
    }
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (!list_first)
#endif
        add_to_unbuddied(zhdr);

headless:
    lock_.lock();
    // Add or move the page to the head of the LRU.
    if (!list_empty(&page->lru)) list_del(&page->lru, lock_);
    list_add(&page->lru, &lru_, lock_);
    // Encoded under the pool lock (and the page lock): first_num is stable.
    handle = encode_handle(zhdr, bud);
    lock_.unlock();
    if (bud != Buddy::HEADLESS) zhdr->page_lock.unlock();
    return {Errno::ok, handle};
}

// get_z3fold_header: the page of a handle, locked (unless headless). Retries
// while the page lock is busy or the page was migrated under us.
Z3foldHeader* Pool::get_z3fold_header(Handle handle) Z3FH_TSA_ESCAPE("returns page locked") {
    if (handle_is_headless(handle)) return reinterpret_cast<Z3foldHeader*>(handle & PAGE_MASK);
    BuddySlots* slots = handle_to_slots(handle);
    for (;;) {
        slots->lock.read_lock();
        uintptr_t addr = *reinterpret_cast<uintptr_t*>(handle);
        if (addr == 0) {
            slots->lock.read_unlock();
            report_fatal(ErrorKind::check, sync::SrcLoc::here(), "handle used after it was freed (slot is zero)");
        }
        auto* zhdr = reinterpret_cast<Z3foldHeader*>(addr & PAGE_MASK);
        bool locked = zhdr->page_lock.try_lock();
        slots->lock.read_unlock();
        if (locked) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            // use-after-migrate ("mm/z3fold: fix z3fold_page_migrate races with
            // z3fold_map"): the old page, which migration frees once it lets go.
            if (Z3FH_MUTANT_ON(migrated_header_used)) return zhdr;
#endif
            if (!virt_to_page(zhdr)->flags.test(PAGE_MIGRATED)) return zhdr;
            zhdr->page_lock.unlock();
        }
        sync::cpu_relax();
    }
}

void Pool::put_z3fold_header(Z3foldHeader* zhdr) Z3FH_TSA_ESCAPE("releases the lock get_z3fold_header took") {
    if (!virt_to_page(zhdr)->flags.test(PAGE_HEADLESS)) zhdr->page_lock.unlock();
}

void Pool::free(Handle handle) Z3FH_TSA_ESCAPE("page lock from get_z3fold_header; conditional unlock in puts") {
    Z3foldHeader* zhdr = get_z3fold_header(handle);
    PageDesc* page = virt_to_page(zhdr);

    if (page->flags.test(PAGE_HEADLESS)) {
        // Headless pages have no lock and no kref: whoever wins the
        // test_and_set of PAGE_CLAIMED frees the page. Here it is taken under
        // the pool lock, with a mark left if reclaim holds the claim; reclaim,
        // if its evict calls fail, checks the mark under the same lock before
        // it gives the page back. So the page is never kept with its object
        // gone (upstream keeps it: reclaim re-lists a headless page whose
        // free already returned).
        lock_.lock();
        if (!page->flags.test_and_set(PAGE_CLAIMED)) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
            // page-freed-while-listed: the headless page is freed still on the LRU.
            if (!Z3FH_MUTANT_ON(headless_free_keeps_lru))
#endif
                list_del(&page->lru, lock_);
            lock_.unlock();
            free_z3fold_page(page, true);
            pages_nr_add(-1);
            return;
        }
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        if (Z3FH_MUTANT_ON(headless_freed_unlocked)) {
            // reclaim-races-free: the mark is left after the pool lock is dropped;
            // reclaim, checking it under that lock, can miss it and keep the page.
            lock_.unlock();
            page->flags.set(HEADLESS_FREED);
            return;
        }
#endif
        page->flags.set(HEADLESS_FREED);
        lock_.unlock();
        return;
    }

    bool page_claimed;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (Z3FH_MUTANT_ON(under_reclaim_bit)) {
        // Review #3: "z3fold_free and z3fold_reclaim can race to set/check this bit anyway
        // (it's set under the pool lock, but checked under the page lock)". Test now, set later.
        page_claimed = page->flags.test(PAGE_CLAIMED);
        if (!page_claimed) page->flags.set(PAGE_CLAIMED);
    } else
#endif
        page_claimed = page->flags.test_and_set(PAGE_CLAIMED);

    Buddy bud = handle_to_buddy(handle);
    switch (bud) {
    case Buddy::FIRST: zhdr->first_chunks = 0; break;
    case Buddy::MIDDLE: zhdr->middle_chunks = 0; break;
    case Buddy::LAST: zhdr->last_chunks = 0; break;
    default:
        report_fatal(ErrorKind::warn, sync::SrcLoc::here(), fmt::format("free: unknown buddy {}", static_cast<int>(bud)));
    }
    // The handle we were given is dead either way. (Upstream keeps it while
    // the page is claimed; reclaim here frees the real handles of what its
    // evict calls freed, see release_evicted_handles.)
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // handle-leak, as 5.x has it: "if (!page_claimed) free_handle(handle, zhdr);"
    // -- the claim holder is trusted to free it, and a failing reclaim does not.
    if (!(Z3FH_MUTANT_ON(free_claimed_keeps_handle) && page_claimed))
#endif
        free_handle(handle, zhdr);

    if (put_z3fold_locked(zhdr)) return;  // the object's reference; the last one releases the page
    if (page_claimed) {
        // Reclaim or isolation holds the page; it re-lists and unclaims it.
        zhdr->page_lock.unlock();
        return;
    }
    if (page->flags.test_and_set(NEEDS_COMPACTING)) {
        page->flags.clear(PAGE_CLAIMED);
        zhdr->page_lock.unlock();
        return;
    }
    if (zhdr->cpu < 0) {
        // Not on any vCPU's list: compact inline.
        zhdr->cpu = -1;
        kref_get_locked(zhdr);  // the compaction's reference, put first thing in do_compact_page
        page->flags.clear(PAGE_CLAIMED);
        do_compact_page(zhdr, true);
        return;
    }
    kref_get_locked(zhdr);  // the work item's reference, put first thing in do_compact_page
    page->flags.clear(PAGE_CLAIMED);
    compact_wq_.queue(&zhdr->work, zhdr->cpu);
    zhdr->page_lock.unlock();
}

void* Pool::map(Handle handle) Z3FH_TSA_ESCAPE("page lock from get_z3fold_header") {
    Z3foldHeader* zhdr = get_z3fold_header(handle);
    char* addr = reinterpret_cast<char*>(zhdr);
    PageDesc* page = virt_to_page(zhdr);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    // headless-as-buddied: the headless object is addressed like a FIRST buddy,
    // past a header it does not have.
    if (Z3FH_MUTANT_ON(map_headless_as_first) && page->flags.test(PAGE_HEADLESS)) return addr + ZHDR_SIZE_ALIGNED;
    bool mark_after_unlock = false;
#endif
    if (page->flags.test(PAGE_HEADLESS)) return addr;

    switch (handle_to_buddy(handle)) {
    case Buddy::FIRST: addr += ZHDR_SIZE_ALIGNED; break;
    case Buddy::MIDDLE:
        addr += static_cast<size_t>(zhdr->start_middle) << CHUNK_SHIFT;
        zhdr->middle_mapped++;
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // flag-under-wrong-lock: set once the page lock is gone, compaction (which
        // tests it under that lock) can move MIDDLE from under the mapping.
        if (Z3FH_MUTANT_ON(middle_mapped_after_unlock)) {
            mark_after_unlock = true;
            break;
        }
#endif
        page->flags.set(MIDDLE_CHUNK_MAPPED);  // compaction must not move it now
        break;
    case Buddy::LAST:
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // reclaim-maps-freed (before "z3fold: fix possible reclaim races"): the
        // size from the header, which a free zeroes while reclaim's stack
        // handle still names the object; the handle carries it for that reason.
        if (Z3FH_MUTANT_ON(map_last_from_header)) {
            addr += PAGE_SIZE - (static_cast<size_t>(zhdr->last_chunks) << CHUNK_SHIFT);
            break;
        }
#endif
        addr += PAGE_SIZE - (static_cast<size_t>(handle_to_chunks(handle)) << CHUNK_SHIFT);
        break;
    default:
        report_fatal(ErrorKind::warn, sync::SrcLoc::here(), "map: unknown buddy");
    }
    Z3FH_CHECK_KIND(ErrorKind::warn, zhdr->mapped_count < UINT8_MAX, "page {} mapped 255 times at once", page->serial);
    zhdr->mapped_count++;
    put_z3fold_header(zhdr);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    if (mark_after_unlock) page->flags.set(MIDDLE_CHUNK_MAPPED);
#endif
    return addr;
}

void Pool::unmap(Handle handle) Z3FH_TSA_ESCAPE("page lock from get_z3fold_header") {
    Z3foldHeader* zhdr = get_z3fold_header(handle);
    PageDesc* page = virt_to_page(zhdr);
    if (page->flags.test(PAGE_HEADLESS)) return;
    if (handle_to_buddy(handle) == Buddy::MIDDLE) {
        // Another mapping of MIDDLE may still be in use (zswap: a load beside
        // writeback's evict): only the last unmap lets compaction move it.
        Z3FH_CHECK_KIND(ErrorKind::warn, zhdr->middle_mapped != 0, "unmap of MIDDLE in page {} not mapped", page->serial);
        if (--zhdr->middle_mapped == 0) page->flags.clear(MIDDLE_CHUNK_MAPPED);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // compaction-moves-mapped, as upstream has it: one bit for any number of mappings.
        if (Z3FH_MUTANT_ON(middle_mapped_bit)) page->flags.clear(MIDDLE_CHUNK_MAPPED);
#endif
    }
    Z3FH_CHECK_KIND(ErrorKind::warn, zhdr->mapped_count != 0, "unmap of page {} with mapped_count 0", page->serial);
    zhdr->mapped_count--;
    put_z3fold_header(zhdr);
}

// Explicit compaction entry point: what free does after clearing a buddy.
void Pool::compact_handle_page(Handle handle) Z3FH_TSA_ESCAPE("page lock from get_z3fold_header") {
    Z3foldHeader* zhdr = get_z3fold_header(handle);
    PageDesc* page = virt_to_page(zhdr);
    if (page->flags.test(PAGE_HEADLESS)) return;
    if (page->flags.test_and_set(PAGE_CLAIMED)) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // lockdep: an early return that forgets the page lock it holds.
        if (Z3FH_MUTANT_ON(compact_claimed_keeps_lock)) return;
#endif
        zhdr->page_lock.unlock();
        return;
    }
    if (page->flags.test_and_set(NEEDS_COMPACTING)) {
        page->flags.clear(PAGE_CLAIMED);
        zhdr->page_lock.unlock();
        return;
    }
    kref_get_locked(zhdr);  // the work item's reference
    page->flags.clear(PAGE_CLAIMED);
    if (zhdr->cpu < 0) {
        do_compact_page(zhdr, true);
        return;
    }
    compact_wq_.queue(&zhdr->work, zhdr->cpu);
    zhdr->page_lock.unlock();
}

}  // namespace z3fh
