/* z3fold-harden kernel adapter: the one translation unit that includes the
 * kernel's mm/z3fold.c (from the user's own kernel source, never committed
 * here), and exposes its operations and its state to the harness in the
 * shapes the port's introspection has. Written for this project. */
#include "kernel_adapter.h"

#include <stdio.h>
#include <stdlib.h>

#include "kernel_mm.h"
#include "kshim.h"
#include "findings.h"
#include "kshim_registry.h"

#ifndef Z3FH_KERNEL_Z3FOLD_C
#error "Z3FH_KERNEL_Z3FOLD_C must name the extracted mm/z3fold.c (see kernel/README.md)"
#endif

/* The kernel file is compiled as the kernel compiles it: warnings are the
 * kernel's business, not this build's. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#include Z3FH_KERNEL_Z3FOLD_C
#pragma clang diagnostic pop

#define KZ_STR2(x) #x
#define KZ_STR(x) KZ_STR2(x)

enum { KZ_MAX_EVICTING = 16, KZ_MAX_CPUS = 16 };

struct kz_pool {
    struct z3fold_pool *pool;
    kz_evict_fn evict;
    void *ctx;
    /* Reclaim's stack-local slots objects whose handles an evict callback
     * holds now: resolve may read through them. */
    const void *evicting[KZ_MAX_EVICTING];
    /* Each CPU's unbuddied heads (a per-CPU lookup each time otherwise:
     * the per-page checks ask whether a link is a head at every step). */
    const struct list_head *unbuddied_of[KZ_MAX_CPUS];
    int cpus;
};

static struct kz_pool *g_kz;

/* The zpool user's evict (zpool_ops->evict), reached as zswap reaches it:
 * z3fold_reclaim_page -> z3fold_zpool_evict -> here. */
static int kz_evict_trampoline(struct zpool *zpool, unsigned long handle) {
    struct kz_pool *kz = g_kz;
    const void *slots = (const void *)(handle & ~(unsigned long)(SLOTS_ALIGN - 1));
    int i, slot = -1, ret;
    (void)zpool;
    /* zswap's writeback may sleep: the callback runs where sleeping is allowed. */
    kshim_might_sleep("the zpool evict callback", __FILE__, __LINE__);
    kshim_tsan_hide();
    for (i = 0; i < KZ_MAX_EVICTING; i++)
        if (!kz->evicting[i]) {
            kz->evicting[i] = slots;
            slot = i;
            break;
        }
    kshim_tsan_unhide();
    ret = kz->evict(kz->ctx, handle);
    kshim_tsan_hide();
    if (slot >= 0) kz->evicting[slot] = NULL;
    kshim_tsan_unhide();
    return ret;
}

static const struct zpool_ops kz_zpool_ops = {.evict = kz_evict_trampoline};

static struct list_head *kz_unbuddied(struct kz_pool *kz, int cpu) { return per_cpu_ptr(kz->pool->unbuddied, cpu); }

const char *kz_source_path(void) { return KZ_STR(Z3FH_KERNEL_Z3FOLD_C); }

struct kz_pool *kz_create(int vcpus, kz_evict_fn evict, void *ctx) {
    struct kz_pool *kz = calloc(1, sizeof(*kz));
    if (!kz) return NULL;
    kshim_reset(vcpus);
    kz_mm_reset();
    kz->evict = evict;
    kz->ctx = ctx;
    g_kz = kz;
    /* Through the module's init and its zpool driver, as zswap reaches z3fold
     * (zpool_create_pool -> z3fold_zpool_create; evict through
     * z3fold_zpool_evict; malloc, free, map, unmap and shrink below). */
    (void)kshim_module_init();
    kz->pool = z3fold_zpool_driver.create("z3fold", GFP_KERNEL, evict ? &kz_zpool_ops : NULL, (struct zpool *)kz);
    if (!kz->pool) {
        free(kz);
        g_kz = NULL;
        return NULL;
    }
    {
        /* Which lock guards which list (the comments on struct z3fold_pool). */
        int cpu, i;
        kshim_guard_list(&kz->pool->lru, &kz->pool->lock);
        kshim_guard_list(&kz->pool->stale, &kz->pool->stale_lock);
        for (cpu = 0; cpu < kshim_nr_cpus(); cpu++)
            for (i = 0; i < (int)NCHUNKS; i++) kshim_guard_list(&kz_unbuddied(kz, cpu)[i], &kz->pool->lock);
        kz->cpus = kshim_nr_cpus() < KZ_MAX_CPUS ? kshim_nr_cpus() : KZ_MAX_CPUS;
        for (cpu = 0; cpu < kz->cpus; cpu++) kz->unbuddied_of[cpu] = kz_unbuddied(kz, cpu);
    }
    return kz;
}

void kz_destroy_pool(struct kz_pool *kz) {
    z3fold_zpool_driver.destroy(kz->pool);
    kz->pool = NULL;
}

void kz_destroy(struct kz_pool *kz) {
    if (!kz) return;
    if (kz->pool) z3fold_zpool_driver.destroy(kz->pool);
    kshim_module_exit();
    kshim_free_leftovers();
    if (g_kz == kz) g_kz = NULL;
    free(kz);
}

/* Each entry point returns with no lock held (lock-held-at-return). */
int kz_alloc(struct kz_pool *kz, size_t size, int may_block, unsigned long *handle) {
    const gfp_t gfp = may_block ? GFP_KERNEL : (__GFP_NORETRY | __GFP_NOWARN | __GFP_KSWAPD_RECLAIM);
    int rc;
    kshim_enter_caller(gfp);
    rc = z3fold_zpool_driver.malloc(kz->pool, size, gfp, handle);
    kshim_leave_caller();
    kshim_check_returned("z3fold_alloc");
    return rc;
}
void kz_free(struct kz_pool *kz, unsigned long handle) {
    z3fold_zpool_driver.free(kz->pool, handle);
    kshim_check_returned("z3fold_free");
}
void *kz_map(struct kz_pool *kz, unsigned long handle) {
    void *p = z3fold_zpool_driver.map(kz->pool, handle, ZPOOL_MM_RW);
    kshim_check_returned("z3fold_map");
    return p;
}
void kz_unmap(struct kz_pool *kz, unsigned long handle) {
    z3fold_zpool_driver.unmap(kz->pool, handle);
    kshim_check_returned("z3fold_unmap");
}
int kz_reclaim(struct kz_pool *kz, unsigned int retries) {
    /* zswap's shrink is zpool_shrink(pool, 1, NULL): one z3fold_reclaim_page
     * with 8 retries, through the driver; other retry counts are the broad
     * user's, straight to reclaim. */
    int rc = retries == 8 ? z3fold_zpool_driver.shrink(kz->pool, 1, NULL) : z3fold_reclaim_page(kz->pool, retries);
    kshim_check_returned("z3fold_reclaim_page");
    return rc;
}

uint64_t kz_total_size(struct kz_pool *kz) { return z3fold_zpool_driver.total_size(kz->pool); }

void kz_compact_handle_page(struct kz_pool *kz, unsigned long handle) {
    /* z3fold_free's tail for a page it leaves in use, with the kernel's own
     * functions: claim, mark NEEDS_COMPACTING, take the work's reference. */
    struct z3fold_header *zhdr;
    struct page *page;

    if (handle & (1 << PAGE_HEADLESS)) return;
    zhdr = get_z3fold_header(handle);
    page = virt_to_page(zhdr);
    if (test_and_set_bit(PAGE_CLAIMED, &page->private)) {
        z3fold_page_unlock(zhdr);
        return;
    }
    if (test_and_set_bit(NEEDS_COMPACTING, &page->private)) {
        clear_bit(PAGE_CLAIMED, &page->private);
        z3fold_page_unlock(zhdr);
        return;
    }
    kref_get(&zhdr->refcount);
    clear_bit(PAGE_CLAIMED, &page->private);
    if (zhdr->cpu < 0 || !cpu_online(zhdr->cpu)) {
        zhdr->cpu = -1;
        do_compact_page(zhdr, true);
        return;
    }
    queue_work_on(zhdr->cpu, kz->pool->compact_wq, &zhdr->work);
    z3fold_page_unlock(zhdr);
    kshim_check_returned("compaction of a handle's page");
}

/* mm/migrate.c's sequence for one movable page (6.1): isolate_movable_page
 * (a reference, trylock_page, isolate_page, PageIsolated), then
 * move_to_new_folio with both pages locked, then putback_movable_pages on
 * failure; the mm core's references are dropped at the end. */
int kz_migrate_handle_page(struct kz_pool *kz, unsigned long handle) {
    struct z3fold_header *zhdr;
    struct page *page, *newpage;
    const struct movable_operations *mops;
    int rc;

    (void)kz;
    if (handle & (1 << PAGE_HEADLESS)) return -EINVAL;
    zhdr = get_z3fold_header(handle);
    page = virt_to_page(zhdr);
    get_page(page);
    z3fold_page_unlock(zhdr);

    if (!trylock_page(page)) {
        put_page(page);
        return -EBUSY;
    }
    mops = kshim_page_mops(page);
    if (!mops || PageIsolated(page) || !mops->isolate_page(page, 0)) {
        unlock_page(page);
        put_page(page);
        return -EBUSY;
    }
    SetPageIsolated(page);
    unlock_page(page);

    rc = -ENOMEM;
    newpage = alloc_page(GFP_KERNEL);
    if (newpage) {
        lock_page(newpage);
        lock_page(page);
        rc = mops->migrate_page(newpage, page, MIGRATE_SYNC);
        if (rc == MIGRATEPAGE_SUCCESS) ClearPageIsolated(page);
        unlock_page(page);
        unlock_page(newpage);
    }
    if (rc != MIGRATEPAGE_SUCCESS) {
        lock_page(page);
        if (kshim_page_mops(page)) kshim_page_mops(page)->putback_page(page);
        ClearPageIsolated(page);
        unlock_page(page);
    }
    if (newpage) put_page(newpage);
    put_page(page);
    kshim_check_returned("migration of a handle's page");
    return rc;
}

void kz_drain(struct kz_pool *kz) {
    while (!kz_idle(kz)) {
        kshim_flush_workqueue(kz->pool->compact_wq);
        kshim_flush_workqueue(kz->pool->release_wq);
    }
}

int kz_idle(struct kz_pool *kz) {
    return kshim_workqueue_idle(kz->pool->compact_wq) && kshim_workqueue_idle(kz->pool->release_wq);
}

int64_t kz_pages_nr(struct kz_pool *kz) { return kz->pool->pages_nr.counter; }
size_t kz_live_pages(struct kz_pool *kz) {
    (void)kz;
    return kshim_live_pages(NULL, 0);
}
size_t kz_live_slots(struct kz_pool *kz) { return kshim_slab_live_count(kz->pool->c_handle); }

void kz_get_layout(struct kz_layout *out) {
    out->header_size = sizeof(struct z3fold_header);
    out->header_kref_offset = offsetof(struct z3fold_header, refcount);
    out->zhdr_size_aligned = ZHDR_SIZE_ALIGNED;
    out->zhdr_chunks = (int)ZHDR_CHUNKS;
    out->nchunks = (int)NCHUNKS;
    out->headless_above = PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE;
}

/* ---- introspection ---- */

static int kz_poisoned(const struct list_head *n) {
    return n == LIST_POISON1 || n == LIST_POISON2 || n == NULL;
}

/* The page data a list node belongs to: lru nodes live in struct page,
 * buddy nodes in the header at the start of the page. */
static const void *kz_lru_data(const struct list_head *n) {
    return page_address(container_of(n, struct page, lru));
}
static const void *kz_buddy_data(const struct list_head *n) { return (const void *)((uintptr_t)n & PAGE_MASK); }

typedef void (*kz_visit_fn)(void *ctx, const struct list_head *node);

/* Walk one list; each node is checked to lie in a live page before it is
 * read. Returns the nodes visited. */
/* Nearly all of the vcpus x NCHUNKS unbuddied heads are empty at any step:
 * one that points at itself both ways has nothing to walk or report, and the
 * validator runs at most scheduling points. */
static int kz_empty_head(const struct list_head *head) { return head->next == head && head->prev == head; }

static size_t kz_walk(const struct list_head *head, const char *name, const void *(*data_of)(const struct list_head *),
                      kz_visit_fn visit, void *vctx, kz_violation_fn report, void *rctx) {
    char msg[160];
    size_t n = 0;
    const struct list_head *prev = head, *node;
    for (node = head->next; node != head; node = node->next) {
        const void *data;
        if (kz_poisoned(node)) {
            snprintf(msg, sizeof msg, "%s reaches a deleted (poisoned) link", name);
            if (report) report(rctx, Z3FH_FINDING_NAME(list_link), 0, msg);
            return n;
        }
        data = data_of(node);
        if (!kshim_page_is_live(data)) {
            snprintf(msg, sizeof msg, "a freed page is linked on %s", name);
            if (report) report(rctx, Z3FH_FINDING_NAME(listed_page_freed), 0, msg);
            return n;
        }
        if (node->prev != prev) {
            snprintf(msg, sizeof msg, "%s: node->prev does not point back to its predecessor", name);
            if (report) report(rctx, Z3FH_FINDING_NAME(list_link), kshim_page_serial(data), msg);
            return n;
        }
        visit(vctx, node);
        prev = node;
        if (++n > 1000000) {
            snprintf(msg, sizeof msg, "%s: cycle", name);
            if (report) report(rctx, Z3FH_FINDING_NAME(list_link), 0, msg);
            return n;
        }
    }
    if (head->prev != prev && report) {
        snprintf(msg, sizeof msg, "%s: head->prev is not the last node", name);
        report(rctx, Z3FH_FINDING_NAME(list_link), 0, msg);
    }
    return n;
}

struct kz_snap_ctx {
    struct kz_page_info *pages;
    size_t n;
    int cpu, index;
};

static struct kz_page_info *kz_find(struct kz_snap_ctx *c, const void *data) {
    uint32_t serial = kshim_page_serial(data);
    size_t i;
    for (i = 0; i < c->n; i++)
        if (c->pages[i].serial == serial) return &c->pages[i];
    return NULL;
}
static void kz_mark_lru(void *ctx, const struct list_head *n) {
    struct kz_page_info *p = kz_find(ctx, kz_lru_data(n));
    if (p) p->on_lru = 1;
}
static void kz_mark_unbuddied(void *ctx, const struct list_head *n) {
    struct kz_snap_ctx *c = ctx;
    struct kz_page_info *p = kz_find(c, kz_buddy_data(n));
    if (p) {
        p->unbuddied_cpu = c->cpu;
        p->unbuddied_index = c->index;
    }
}
static void kz_mark_stale(void *ctx, const struct list_head *n) {
    struct kz_page_info *p = kz_find(ctx, kz_buddy_data(n));
    if (p) p->on_stale = 1;
}
static void kz_count(void *ctx, const struct list_head *n) {
    (void)ctx;
    (void)n;
}

size_t kz_snapshot_pages(struct kz_pool *kz, struct kz_page_info *out, size_t cap) {
    void *stack_pages[256];
    void **data = stack_pages;
    size_t total = kshim_live_pages(NULL, 0), i, n;
    struct kz_snap_ctx c;
    int cpu, idx;

    if (total > cap) return total;
    if (total > 256) data = malloc(total * sizeof(void *));
    kshim_live_pages(data, total);
    for (i = 0; i < total; i++) {
        struct kz_page_info *p = &out[i];
        struct page *page = virt_to_page(data[i]);
        struct z3fold_header *z = data[i];
        memset(p, 0, sizeof(*p));
        p->serial = (uint32_t)page->kshim_serial;
        p->flags = page->private;
        p->headless = (int)((page->private >> PAGE_HEADLESS) & 1UL);
        p->page_refs = page->_refcount.counter;
        p->cpu = -1;
        p->unbuddied_cpu = -1;
        p->unbuddied_index = -1;
        if (!p->headless && z->pool == kz->pool) {
            p->refcount = z->refcount.refcount.refs.counter;
            p->first_chunks = z->first_chunks;
            p->middle_chunks = z->middle_chunks;
            p->last_chunks = z->last_chunks;
            p->start_middle = z->start_middle;
            p->first_num = z->first_num;
            p->mapped_count = z->mapped_count;
            p->foreign_handles = z->foreign_handles;
            p->cpu = z->cpu;
            p->slots_serial = z->slots ? kshim_slab_serial(z->slots) : 0;
            p->page_locked = kshim_spin_is_locked(&z->page_lock);
            p->work_pending = kshim_work_pending(&z->work);
        }
    }
    if (data != stack_pages) free(data);
    n = total;
    c.pages = out;
    c.n = n;
    kz_walk(&kz->pool->lru, "the LRU", kz_lru_data, kz_mark_lru, &c, NULL, NULL);
    for (cpu = 0; cpu < kz->cpus; cpu++) {
        const struct list_head *unbuddied = kz->unbuddied_of[cpu];
        for (idx = 0; idx < (int)NCHUNKS; idx++) {
            if (kz_empty_head(&unbuddied[idx])) continue;
            c.cpu = cpu;
            c.index = idx;
            kz_walk(&unbuddied[idx], "an unbuddied list", kz_buddy_data, kz_mark_unbuddied, &c, NULL, NULL);
        }
    }
    kz_walk(&kz->pool->stale, "the stale list", kz_buddy_data, kz_mark_stale, &c, NULL, NULL);
    return n;
}

size_t kz_snapshot_slots(struct kz_pool *kz, struct kz_slot_info *out, size_t cap, uint32_t *slots_serials,
                         size_t serial_cap, size_t *n_objects) {
    void *objs[512];
    size_t total = kshim_live_slab_objects(kz->pool->c_handle, objs, 512), i, n = 0;
    int k;
    if (total > 512) total = 512;
    *n_objects = total;
    for (i = 0; i < total; i++) {
        struct z3fold_buddy_slots *s = objs[i];
        uint32_t serial = kshim_slab_serial(s);
        if (i < serial_cap) slots_serials[i] = serial;
        for (k = 0; k <= BUDDY_MASK; k++) {
            unsigned long v = s->slot[k];
            const void *data;
            if (!v) continue;
            if (n < cap) {
                struct kz_slot_info *si = &out[n];
                data = (const void *)(v & PAGE_MASK);
                si->slots_serial = serial;
                si->index = k;
                si->page_serial = kshim_live_page_serial(data);
                si->raw_index = (int)(v & BUDDY_MASK);
                si->last_chunks = (int)((v & ~PAGE_MASK) >> BUDDY_SHIFT);
                si->handle = (unsigned long)&s->slot[k];
            }
            n++;
        }
    }
    return n;
}

void kz_pool_info(struct kz_pool *kz, struct kz_pool_info *out) {
    memset(out, 0, sizeof(*out));
    out->pages_nr = kz->pool->pages_nr.counter;
    out->lru_length = kz_walk(&kz->pool->lru, "the LRU", kz_lru_data, kz_count, NULL, NULL, NULL);
    out->stale_length = kz_walk(&kz->pool->stale, "the stale list", kz_buddy_data, kz_count, NULL, NULL, NULL);
    out->slots_objects = kshim_slab_live_count(kz->pool->c_handle);
}

/* ---- the structural validator (the port's ids) ---- */

struct kz_val_ctx {
    struct kz_pool *kz;
    kz_violation_fn report;
    void *rctx;
    const struct page *seen[512];
    size_t nseen;
    int cpu, index;
};

static void kz_note_buddy(struct kz_val_ctx *c, const struct page *page) {
    char msg[128];
    size_t i;
    for (i = 0; i < c->nseen; i++)
        if (c->seen[i] == page) {
            snprintf(msg, sizeof msg, "page %u is linked on two lists through one link", (uint32_t)page->kshim_serial);
            c->report(c->rctx, Z3FH_FINDING_NAME(page_on_two_lists), (uint32_t)page->kshim_serial, msg);
            return;
        }
    if (c->nseen < 512) c->seen[c->nseen++] = page;
}

static void kz_check_listed(struct kz_val_ctx *c, const struct page *page, const char *list) {
    char msg[128];
    unsigned long flags = page->private;
    if (!((flags >> PAGE_HEADLESS) & 1UL)) {
        const struct z3fold_header *z = page_address(page);
        /* 6.1 unlinks a page in its kref release function, which runs with
         * the page lock held: every list walker trylocks that lock before it
         * takes a reference, so a listed page at refcount 0 is legal while
         * (and only while) it stays locked. */
        if (z->refcount.refcount.refs.counter < 1 && !kshim_spin_is_locked(&z->page_lock)) {
            snprintf(msg, sizeof msg, "page %u on %s has refcount %d", (uint32_t)page->kshim_serial, list,
                     z->refcount.refcount.refs.counter);
            c->report(c->rctx, Z3FH_FINDING_NAME(listed_page_zero_ref), (uint32_t)page->kshim_serial, msg);
        }
    }
    /* Likewise __release_z3fold_page sets PAGE_STALE before it takes the
     * page off the LRU, with the page lock held. */
    if (((flags >> PAGE_STALE) & 1UL) &&
        (((flags >> PAGE_HEADLESS) & 1UL) || !kshim_spin_is_locked(&((const struct z3fold_header *)page_address(page))->page_lock))) {
        snprintf(msg, sizeof msg, "released page %u is on %s", (uint32_t)page->kshim_serial, list);
        c->report(c->rctx, Z3FH_FINDING_NAME(listed_page_stale), (uint32_t)page->kshim_serial, msg);
    }
}

static void kz_val_lru(void *ctx, const struct list_head *n) {
    kz_check_listed(ctx, container_of(n, struct page, lru), "the LRU");
}

static void kz_val_unbuddied(void *ctx, const struct list_head *n) {
    struct kz_val_ctx *c = ctx;
    const struct z3fold_header *z = kz_buddy_data(n);
    const struct page *page = virt_to_page(z);
    unsigned long flags = page->private;
    char msg[128];
    kz_note_buddy(c, page);
    if ((flags >> PAGE_HEADLESS) & 1UL) {
        snprintf(msg, sizeof msg, "headless page %u on unbuddied[%d][%d]", (uint32_t)page->kshim_serial, c->cpu, c->index);
        c->report(c->rctx, Z3FH_FINDING_NAME(headless_on_unbuddied), (uint32_t)page->kshim_serial, msg);
        return;
    }
    kz_check_listed(c, page, "an unbuddied list");
    /* A claim holder takes the page off its list under the page lock it
     * still holds; otherwise a claimed page must not be findable by alloc. */
    if (((flags >> PAGE_CLAIMED) & 1UL) && !kshim_spin_is_locked(&z->page_lock)) {
        snprintf(msg, sizeof msg, "claimed page %u is on unbuddied[%d][%d] and unlocked", (uint32_t)page->kshim_serial, c->cpu,
                 c->index);
        c->report(c->rctx, Z3FH_FINDING_NAME(claimed_page_listed), (uint32_t)page->kshim_serial, msg);
    }
}

static void kz_val_stale(void *ctx, const struct list_head *n) {
    struct kz_val_ctx *c = ctx;
    const struct z3fold_header *z = kz_buddy_data(n);
    const struct page *page = virt_to_page(z);
    char msg[128];
    kz_note_buddy(c, page);
    if (!((page->private >> PAGE_STALE) & 1UL) || z->refcount.refcount.refs.counter != 0) {
        snprintf(msg, sizeof msg, "page %u on the stale list is not released", (uint32_t)page->kshim_serial);
        c->report(c->rctx, Z3FH_FINDING_NAME(stale_page_state), (uint32_t)page->kshim_serial, msg);
    }
}

void kz_validate(struct kz_pool *kz, kz_violation_fn report, void *rctx) {
    struct kz_val_ctx c;
    int cpu, idx;
    c.kz = kz;
    c.report = report;
    c.rctx = rctx;
    c.nseen = 0;
    kz_walk(&kz->pool->lru, "the LRU", kz_lru_data, kz_val_lru, &c, report, rctx);
    for (cpu = 0; cpu < kz->cpus; cpu++) {
        const struct list_head *unbuddied = kz->unbuddied_of[cpu];
        for (idx = 0; idx < (int)NCHUNKS; idx++) {
            if (kz_empty_head(&unbuddied[idx])) continue;
            c.cpu = cpu;
            c.index = idx;
            kz_walk(&unbuddied[idx], "an unbuddied list", kz_buddy_data, kz_val_unbuddied, &c, report, rctx);
        }
    }
    kz_walk(&kz->pool->stale, "the stale list", kz_buddy_data, kz_val_stale, &c, report, rctx);
}

/* ---- the same rules for the pages one step touched (the port's
 * PoolInspector::validate_pages, in the kernel's structures) ---- */

/* Which unbuddied head x is (*cpu, *index), if one. */
static int kz_unbuddied_head(struct kz_pool *kz, const struct list_head *x, int *cpu, int *index) {
    int i;
    for (i = 0; i < kz->cpus; i++)
        if (x >= kz->unbuddied_of[i] && x < kz->unbuddied_of[i] + NCHUNKS) {
            *cpu = i;
            *index = (int)(x - kz->unbuddied_of[i]);
            return 1;
        }
    return 0;
}

static int kz_is_head(struct kz_pool *kz, const struct list_head *x) {
    int cpu, index;
    return x == &kz->pool->lru || x == &kz->pool->stale || kz_unbuddied_head(kz, x, &cpu, &index);
}

static int kz_reachable(struct kz_pool *kz, const struct list_head *x,
                        const void *(*data_of)(const struct list_head *)) {
    return kz_is_head(kz, x) || (!kz_poisoned(x) && kshim_page_is_live(data_of(x)));
}

/* Whether node is linked (*linked), its links and its neighbours' back links
 * checked; 0 if they do not check out. */
static int kz_links_of(struct kz_pool *kz, const struct list_head *node,
                       const void *(*data_of)(const struct list_head *), int *linked) {
    *linked = 0;
    if (node->next == node || node->next == LIST_POISON1) return node->prev == node || node->prev == LIST_POISON2;
    if (!kz_reachable(kz, node->prev, data_of) || node->prev->next != node) return 0;
    if (!kz_reachable(kz, node->next, data_of) || node->next->prev != node) return 0;
    *linked = 1;
    return 1;
}

/* The head of the list node is on (NULL: none), walking forward with every
 * link checked both ways; 0 if a link does not check out. */
static int kz_head_of(struct kz_pool *kz, const struct list_head *node,
                      const void *(*data_of)(const struct list_head *), const struct list_head **head) {
    const struct list_head *at = node, *x;
    int linked, steps;
    *head = NULL;
    if (!kz_links_of(kz, node, data_of, &linked)) return 0;
    if (!linked) return 1;
    for (steps = 0; steps < 1000000; steps++) {
        x = at->next;
        if (!kz_reachable(kz, x, data_of) || x->prev != at) return 0;
        if (kz_is_head(kz, x)) {
            *head = x;
            return 1;
        }
        at = x;
    }
    return 0;
}

struct kz_touched {
    const void *data;
    int in_data; /* a store into the data page (a buddy link), not only struct page */
};

/* Add data's page to the touched set; 0 when the set is full. */
static int kz_touch(struct kz_touched *t, size_t *n, size_t cap, const void *data, int in_data) {
    size_t i;
    for (i = 0; i < *n; i++)
        if (t[i].data == data) {
            t[i].in_data |= in_data;
            return 1;
        }
    if (*n == cap) return 0;
    t[(*n)++] = (struct kz_touched){data, in_data};
    return 1;
}

/* Findings go to a buffer first: when the pages cannot decide, nothing is
 * reported and the caller walks every list. */
struct kz_found {
    char id[32];
    uint32_t page;
    char msg[160];
};
struct kz_found_buf {
    struct kz_found *at;
    size_t n, cap;
};
static void kz_buffer_violation(void *ctx, const char *id, uint32_t page, const char *message) {
    struct kz_found_buf *b = ctx;
    struct kz_found *f;
    if (b->n >= b->cap) return;
    f = &b->at[b->n++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->page = page;
    snprintf(f->msg, sizeof f->msg, "%s", message);
}

int kz_validate_pages(struct kz_pool *kz, const void *const *addrs, size_t n, uint32_t serial,
                      kz_violation_fn report, void *rctx) {
    struct kz_touched touched[64];
    size_t nt = 0, i;
    struct kz_val_ctx c;
    struct kz_found found[16];
    struct kz_found_buf buf = {found, 0, 16};
    c.kz = kz;
    c.nseen = 0;
    for (i = 0; i < n; i++) {
        const void *data = kshim_page_data_of(addrs[i]);
        if (!data) continue; /* a list head, the harness's own state */
        if (!kz_touch(touched, &nt, 64, data, (uintptr_t)addrs[i] - (uintptr_t)data < PAGE_SIZE)) return 0;
    }
    if (serial) {
        const void *data = kshim_page_data_by_serial(serial);
        if (data && !kz_touch(touched, &nt, 64, data, 0)) return 0;
    }
    c.report = kz_buffer_violation;
    c.rctx = &buf;
    for (i = 0; i < nt; i++) {
        const struct page *page = virt_to_page(touched[i].data);
        const struct z3fold_header *z = touched[i].data;
        const struct list_head *head;
        int on_lru;
        unsigned long flags = page->private;
        if (!kz_links_of(kz, &page->lru, kz_lru_data, &on_lru)) return 0;
        if (on_lru) kz_check_listed(&c, page, "the LRU");
        if (((flags >> PAGE_HEADLESS) & 1UL) || z->pool != kz->pool) {
            /* No header (yet): a link stored there only the walk can judge. */
            if (touched[i].in_data) return 0;
            continue;
        }
        if (!kz_head_of(kz, &z->buddy, kz_buddy_data, &head)) return 0;
        if (head == &kz->pool->lru) return 0;
        if (head == &kz->pool->stale) {
            kz_val_stale(&c, &z->buddy);
        } else if (head) {
            if (!kz_unbuddied_head(kz, head, &c.cpu, &c.index)) return 0;
            kz_val_unbuddied(&c, &z->buddy);
        }
    }
    for (i = 0; i < buf.n; i++) report(rctx, found[i].id, found[i].page, found[i].msg);
    return 1;
}

int kz_resolve(struct kz_pool *kz, unsigned long handle, uint32_t *page_serial, int *bud, size_t *offset,
               const uint8_t **object, int *refcount, uint32_t *slots_serial) {
    const struct z3fold_header *z;
    const void *slots, *data;
    unsigned long v;
    int i, readable;

    if (!handle) return 0;
    if (handle & (1 << PAGE_HEADLESS)) {
        data = (const void *)(handle & PAGE_MASK);
        *page_serial = kshim_live_page_serial(data);
        if (!*page_serial) return 0;
        *bud = HEADLESS;
        *offset = 0;
        if (object) *object = data;
        if (refcount) *refcount = 0;
        if (slots_serial) *slots_serial = 0;
        return 1;
    }
    slots = (const void *)(handle & ~(unsigned long)(SLOTS_ALIGN - 1));
    readable = kshim_slab_serial(slots) != 0;
    for (i = 0; i < KZ_MAX_EVICTING && !readable; i++) readable = kz->evicting[i] == slots;
    if (!readable) return 0;
    v = *(const unsigned long *)handle;
    if (!v) return 0;
    data = (const void *)(v & PAGE_MASK);
    *page_serial = kshim_live_page_serial(data);
    if (!*page_serial) return 0;
    z = data;
    *bud = (int)((v - z->first_num) & BUDDY_MASK);
    switch (*bud) {
    case FIRST: *offset = ZHDR_SIZE_ALIGNED; break;
    case MIDDLE: *offset = (size_t)z->start_middle << CHUNK_SHIFT; break;
    case LAST: *offset = PAGE_SIZE - (((v & ~PAGE_MASK) >> BUDDY_SHIFT) << CHUNK_SHIFT); break;
    default: return 0;
    }
    if (object) *object = (const uint8_t *)data + *offset;
    if (refcount) *refcount = z->refcount.refcount.refs.counter;
    if (slots_serial) *slots_serial = kshim_slab_serial(slots);
    return 1;
}
