/* z3fold-harden kernel adapter: the mm core's compaction of movable pages,
 * as Debian's 6.1.192 does it (our own model, written from mm/compaction.c
 * and mm/migrate.c; line references cp:N and mg:N are those files). One call
 * is one compaction round: scan the pool's pages as isolate_migratepages_block
 * scans pfns, isolate every movable page it can onto a migration list this
 * model owns, migrate the batch over up to ten passes, then put back what
 * failed, after the whole batch. The movable operations are the kernel
 * file's (page->mapping), so this file needs nothing of z3fold's.
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

void kz_mm_reset(void) { spin_lock_init(&kz_mm_list_lock); }

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
        if (rc == MIGRATEPAGE_SUCCESS) ClearPageIsolated(src);                        /* mg:994 */
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
        if (!kshim_page_is_live(d)) continue;
        page = virt_to_page(d);
        if (!__PageMovable(page) || PageIsolated(page)) continue; /* cp:973, lockless */
        isolated += kz_mm_isolate(d, &pages);
    }
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
                kz_mm_list_del(&src->lru); /* mg:1316: onto the ret list */
                kz_mm_list_add(&src->lru, &ret, 1);
            }
        }
    }
out:
    /* What is left (-EAGAIN after the last pass, untried after -ENOMEM)
     * joins the failed ones (mg:1842), and all are put back (cp:2423). */
    while (!list_empty(&pages)) {
        struct list_head *node = pages.next;
        kz_mm_list_del(node);
        kz_mm_list_add(node, &ret, 1);
    }
    kz_mm_putback(&ret);
    kshim_unguard_list(&pages);
    kshim_unguard_list(&ret);
    kshim_check_returned("a compaction round");
    return migrated;
}
