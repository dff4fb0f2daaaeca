/* z3fold-harden kernel adapter: the mm core's compaction of movable pages,
 * as Debian's 6.1.192 and 6.12.118 do it (our own model, written from
 * mm/compaction.c and mm/migrate.c; cp:N and mg:N are 6.1's lines, and
 * mg612:N 6.12's). One call is one compaction round: scan the pool's pages
 * as isolate_migratepages_block scans pfns, isolate every movable page it
 * can onto a migration list this model owns, migrate the batch (6.1: each
 * page moved as it is unmapped, ten passes; 6.12: kz_mm_batch below), then
 * put back what failed, after the whole batch. The movable operations are
 * the kernel file's (page->mapping), so this file needs nothing of z3fold's.
 *
 * The migration list is guarded (kshim's list-guard check) by a lock only
 * this model takes, around its own list operations: a page's lru is the mm
 * core's while the page is isolated, and the allocator touching it is a
 * lock-not-held finding at the allocator's line. */
#include "kernel_mm.h"

#include "kshim.h"
#include "kshim_registry.h"

enum { KZ_MM_PASSES = 10, KZ_MM_FORCE_AFTER = 2 };

static spinlock_t kz_mm_list_lock;
/* Pages the allocator's migrate_page moved this run (the depth counters). */
static uint64_t kz_mm_moved;

static void kz_mm_list_add(struct list_head *node, struct list_head *head, int tail) {
    spin_lock(&kz_mm_list_lock);
    if (tail) list_add_tail(node, head);
    else list_add(node, head);
    spin_unlock(&kz_mm_list_lock);
}
static void kz_mm_list_del(struct list_head *node) {
    spin_lock(&kz_mm_list_lock);
    list_del(node);
    spin_unlock(&kz_mm_list_lock);
}

/* list_move_tail, and every node of `from` moved to `to`'s tail. */
static void kz_mm_list_move_tail(struct list_head *node, struct list_head *head) {
    kz_mm_list_del(node);
    kz_mm_list_add(node, head, 1);
}
static void kz_mm_list_splice_tail(struct list_head *from, struct list_head *to) {
    while (!list_empty(from)) kz_mm_list_move_tail(from->next, to);
}

void kz_mm_reset(void) {
    spin_lock_init(&kz_mm_list_lock);
    kz_mm_moved = 0;
}
uint64_t kz_mm_migrations(void) { return kz_mm_moved; }
/* The harness's own count, hidden from TSan. */
void kz_mm_count_migration(void) {
    kshim_tsan_hide();
    kz_mm_moved++;
    kshim_tsan_unhide();
}

/* isolate_movable_page (mg:61-120) for a page the scan found movable and
 * not isolated without a lock (cp:973). */
static int kz_mm_isolate(const void *data, struct list_head *list) {
    const struct movable_operations *mops;
    struct page *page = kshim_get_page_unless_zero(data, __FILE__, __LINE__); /* mg:74 */
    if (!page) return 0;
    if (!__PageMovable(page)) goto out_put; /* mg:82 */
    if (!trylock_page(page)) goto out_put;  /* mg:95 */
    mops = kshim_page_mops(page);
    if (!PageMovable(page) || PageIsolated(page) || !mops || !mops->isolate_page(page, 0)) /* mg:98-104 */
        goto out_unlock;
    SetPageIsolated(page); /* mg:109 */
    unlock_page(page);
    kz_mm_list_add(&page->lru, list, 0); /* cp:1097: list_add onto cc->migratepages */
    return 1;
out_unlock:
    unlock_page(page);
out_put:
    put_page(page);
    return 0;
}

#if !KSHIM_MM_BATCH_MIGRATION
/* One page of a migrate_pages pass (mg:1244-1320, the move of mg:936-1002):
 * 0 done (migrated, freed under us, or no longer movable), -EAGAIN to retry
 * in a later pass, -ENOMEM to end the batch, another error to put back. */
static int kz_mm_migrate_one(struct page *src, int force, int async) {
    struct page *dst;
    const struct movable_operations *mops;
    int rc;

    if (page_count(src) == 1) { /* mg:1250: freed from under us; freeing clears the isolation */
        kz_mm_list_del(&src->lru);
        put_page(src);
        return 0;
    }
    dst = kshim_alloc_free_page(__FILE__, __LINE__); /* compaction_alloc: a free page (mg:1260) */
    if (!dst) return -ENOMEM;
    if (!trylock_page(src)) { /* mg:1065-1085: blocking only when forced and not async */
        if (!force || async) {
            put_page(dst);
            return -EAGAIN;
        }
        lock_page(src);
    }
    if (!trylock_page(dst)) { /* mg:1133 */
        unlock_page(src);
        put_page(dst);
        return -EAGAIN;
    }
    mops = kshim_page_mops(src);
    if (!PageMovable(src) || !mops) { /* mg:970-973: no longer movable counts as done */
        ClearPageIsolated(src);
        rc = 0;
    } else {
        rc = mops->migrate_page(dst, src, async ? MIGRATE_ASYNC : MIGRATE_SYNC_LIGHT); /* mg:977 */
        if (rc == MIGRATEPAGE_SUCCESS) {
            ClearPageIsolated(src); /* mg:994 */
            kz_mm_count_migration();
        }
    }
    unlock_page(dst); /* mg:1220, then the source mg:1224 */
    unlock_page(src);
    put_page(dst); /* the allocation's reference; the allocator took its own on success */
    if (rc == 0) {
        kz_mm_list_del(&src->lru); /* mg:1304 */
        put_page(src);             /* migrate_folio_done: the isolation's reference (mg:1054) */
    }
    return rc;
}
#endif

#if KSHIM_MM_BATCH_MIGRATION
/* migrate_folio_unmap (mg612:1183-1300) for a movable page: 0 freed from
 * under us (done), 1 unmapped (source and destination locked, *dstp set),
 * -EAGAIN, -ENOMEM. SYNC_LIGHT never blocks on the source: these pages are
 * never uptodate (mg612:1218-1227). */
static int kz_mm_unmap(struct page *src, enum migrate_mode mode, struct page **dstp) {
    struct page *dst;
    if (page_count(src) == 1) { /* mg612:1196-1202 */
        kz_mm_list_del(&src->lru);
        put_page(src);
        return 0;
    }
    dst = kshim_alloc_free_page(__FILE__, __LINE__); /* mg612:1204 */
    if (!dst) return -ENOMEM;
    if (!trylock_page(src)) {
        if (mode != MIGRATE_SYNC) {
            put_page(dst);
            return -EAGAIN;
        }
        lock_page(src);
    }
    if (!trylock_page(dst)) { /* mg612:1280 */
        unlock_page(src);
        put_page(dst);
        return -EAGAIN;
    }
    *dstp = dst;
    return 1;
}

/* migrate_folio_move (mg612:1344-1430) through migrate_movable_ops_page
 * (mg612:160-172): 0 done, -EAGAIN (both pages stay locked for the next
 * pass), else the source is unlocked onto `ret` and the destination freed. */
static int kz_mm_move(struct page *src, struct page *dst, enum migrate_mode mode, struct list_head *ret) {
    const struct movable_operations *mops = kshim_page_mops(src);
    int rc = 0;
    if (PageMovable(src) && mops) {
        rc = mops->migrate_page(dst, src, mode);
        if (rc == MIGRATEPAGE_SUCCESS) kz_mm_count_migration();
    } /* else released by its owner: nothing to do */
    if (rc == MIGRATEPAGE_SUCCESS) {
        ClearPageIsolated(src);
        unlock_page(dst); /* mg612:1398-1407 */
        put_page(dst);
        kz_mm_list_del(&src->lru);
        unlock_page(src);
        put_page(src); /* migrate_folio_done */
        return 0;
    }
    if (rc == -EAGAIN) return rc;
    unlock_page(src); /* migrate_folio_undo_src, then _undo_dst (mg612:1135-1170) */
    kz_mm_list_move_tail(&src->lru, ret);
    unlock_page(dst);
    put_page(dst);
    return rc;
}

enum { KZ_MM_BATCH_MAX = 64 };

/* migrate_pages_batch (mg612:1718-1900): unmap every page of `from` over up
 * to `passes` passes, then move the unmapped ones over up to `passes`
 * passes, all still locked; what is left goes to `ret`. */
static int kz_mm_batch(struct list_head *from, enum migrate_mode mode, int passes, struct list_head *ret) {
    struct page *src[KZ_MM_BATCH_MAX], *dst[KZ_MM_BATCH_MAX];
    int n = 0, i, pass, retry = 1, migrated = 0, rc;

    for (pass = 0; pass < passes && retry; pass++) {
        struct list_head *pos, *next;
        retry = 0;
        for (pos = from->next; pos != from; pos = next) {
            struct page *page = list_entry(pos, struct page, lru);
            struct page *d = NULL;
            int done = 0;
            next = pos->next;
            for (i = 0; i < n; i++) done |= src[i] == page;
            if (done) continue;
            rc = n < KZ_MM_BATCH_MAX ? kz_mm_unmap(page, mode, &d) : -ENOMEM;
            if (rc == 1) {
                src[n] = page;
                dst[n++] = d;
            } else if (rc == 0) {
                migrated++;
            } else if (rc == -EAGAIN) {
                retry++;
            } else {
                goto move; /* -ENOMEM: move what is unmapped (mg612:1815-1830) */
            }
        }
    }
move:
    for (pass = 0, retry = 1; pass < passes && retry; pass++) {
        retry = 0;
        for (i = 0; i < n; i++) {
            if (!src[i]) continue;
            rc = kz_mm_move(src[i], dst[i], mode, ret);
            if (rc == -EAGAIN) {
                retry++;
                continue;
            }
            if (rc == 0) migrated++;
            src[i] = NULL;
        }
    }
    for (i = 0; i < n; i++) { /* mg612:1880-1897: the pairs still locked after the last pass */
        if (!src[i]) continue;
        unlock_page(src[i]);
        kz_mm_list_move_tail(&src[i]->lru, ret);
        unlock_page(dst[i]);
        put_page(dst[i]);
    }
    kz_mm_list_splice_tail(from, ret); /* -EAGAIN after the last unmap pass, or untried */
    return migrated;
}

/* migrate_pages (mg612:2030-2100): an async batch of ten passes; a sync
 * migration (migrate_pages_sync, mg612:1964-2014) tries the batch async for
 * three passes, then every page that failed, one at a time in its own mode
 * for seven, permanent failures (-EBUSY) included. */
static int kz_mm_migrate_list(struct list_head *pages, int async, struct list_head *ret) {
    struct list_head failed, one;
    int migrated;
    if (async) return kz_mm_batch(pages, MIGRATE_ASYNC, 10, ret);
    INIT_LIST_HEAD(&failed);
    INIT_LIST_HEAD(&one);
    kshim_guard_list(&failed, &kz_mm_list_lock);
    kshim_guard_list(&one, &kz_mm_list_lock);
    migrated = kz_mm_batch(pages, MIGRATE_ASYNC, 3, &failed);
    while (!list_empty(&failed)) {
        kz_mm_list_move_tail(failed.next, &one);
        migrated += kz_mm_batch(&one, MIGRATE_SYNC_LIGHT, 7, ret);
    }
    kshim_unguard_list(&failed);
    kshim_unguard_list(&one);
    return migrated;
}
#endif

/* putback_movable_pages (mg:138-168), after the whole batch. */
static void kz_mm_putback(struct list_head *ret) {
    while (!list_empty(ret)) {
        struct page *page = list_entry(ret->next, struct page, lru);
        const struct movable_operations *mops;
        kz_mm_list_del(&page->lru); /* mg:148 */
        lock_page(page);            /* mg:156 */
        mops = kshim_page_mops(page);
        if (PageMovable(page) && mops) mops->putback_page(page); /* mg:157-159 */
        ClearPageIsolated(page);                                 /* mg:126-127, 160 */
        unlock_page(page);
        put_page(page); /* mg:162 */
    }
}

int kz_mm_compact(unsigned start, unsigned max_isolate, int async) {
    struct list_head pages, ret;
    void *data[256];
    size_t n, k;
    int isolated = 0, migrated = 0, pass, retry = 1, rc;

    INIT_LIST_HEAD(&pages);
    INIT_LIST_HEAD(&ret);
    kshim_guard_list(&pages, &kz_mm_list_lock);
    kshim_guard_list(&ret, &kz_mm_list_lock);
    /* The pfn scan (cp:832-1109): live pages in allocation order from
     * `start`, up to max_isolate isolated (COMPACT_CLUSTER_MAX is 32). Each
     * page is looked up again before it is touched: a page freed meanwhile
     * is a free pfn to the scan. */
    n = kshim_live_pages(data, sizeof data / sizeof data[0]);
    if (n > sizeof data / sizeof data[0]) n = sizeof data / sizeof data[0];
    for (k = 0; k < n && (unsigned)isolated < max_isolate; k++) {
        const void *d = data[(start + k) % n];
        struct page *page;
        int skip;
        if (!kshim_page_is_live(d)) continue;
        page = virt_to_page(d);
        /* cp:973, lockless. The kernel's struct pages outlive their pages, so
         * this look races with nothing; the shim's are born with the page,
         * and TSan would take the scan's first look at a page another
         * thread just allocated for the allocator's race. */
        kshim_tsan_hide();
        skip = !__PageMovable(page) || PageIsolated(page);
        kshim_tsan_unhide();
        if (skip) continue;
        isolated += kz_mm_isolate(d, &pages);
    }
#if KSHIM_MM_BATCH_MIGRATION
    migrated = kz_mm_migrate_list(&pages, async, &ret);
    (void)pass;
    (void)retry;
    (void)rc;
#else
    /* migrate_pages_batch (mg:1591-1760): ten passes, forced from the third. */
    for (pass = 0; pass < KZ_MM_PASSES && retry; pass++) {
        struct list_head *pos, *next;
        retry = 0;
        for (pos = pages.next; pos != &pages; pos = next) {
            struct page *src = list_entry(pos, struct page, lru);
            next = pos->next;
            rc = kz_mm_migrate_one(src, pass > KZ_MM_FORCE_AFTER, async);
            if (rc == 0) migrated++;
            else if (rc == -EAGAIN) retry++;
            else if (rc == -ENOMEM) goto out; /* mg:1719: the batch ends, untried pages stay */
            else {
                kz_mm_list_move_tail(&src->lru, &ret); /* mg:1316: onto the ret list */
            }
        }
    }
out:
#endif
    /* What is left (-EAGAIN after the last pass, untried after -ENOMEM)
     * joins the failed ones (mg:1842), and all are put back (cp:2423). */
    kz_mm_list_splice_tail(&pages, &ret);
    kz_mm_putback(&ret);
    kshim_unguard_list(&pages);
    kshim_unguard_list(&ret);
    kshim_check_returned("a compaction round");
    return migrated;
}
