/* z3fold-harden kernel adapter: the one translation unit that includes the
 * kernel's mm/z3fold.c (from the user's own kernel source, never committed
 * here), and exposes its operations and its state to the harness in the
 * shapes the port's introspection has. Written for this project. */
#include "kernel_adapter.h"

#include <stdio.h>
#include <stdlib.h>

#include "kernel_mm.h"
#include "kshim.h"
#include "z3fold_rules.h"
#include "kshim_registry.h"

#ifndef Z3FH_KERNEL_ALLOCATOR_C
#error "Z3FH_KERNEL_ALLOCATOR_C must name the extracted mm/z3fold.c (see kernel/README.md)"
#endif

/* The kernel file is compiled as the kernel compiles it: warnings are the
 * kernel's business, not this build's. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#include Z3FH_KERNEL_ALLOCATOR_C
#pragma clang diagnostic pop

#include "zpool_calls.h"

#define KZ_STR2(x) #x
#define KZ_STR(x) KZ_STR2(x)

enum { KZ_MAX_EVICTING = 16, KZ_MAX_CPUS = 16 };

struct kz_pool {
    struct z3fold_pool *pool;
    kz_evict_fn evict; /* 6.1's zpool evict user; NULL where the series has none */
    void *ctx;
    /* Reclaim's stack-local slots objects whose handles an evict callback
     * holds now: resolve may read through them. */
    const void *evicting[KZ_MAX_EVICTING];
    /* Each CPU's unbuddied heads (a per-CPU lookup each time otherwise:
     * the per-page checks ask whether a link is a head at every step). */
    const struct list_head *unbuddied_of[KZ_MAX_CPUS];
    int cpus;
    uint64_t headless_allocs; /* the depth counters' huge objects */
};

static struct kz_pool *g_kz;

#if KSHIM_ZPOOL_EVICT
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
#endif

int kz_has_evict(void) { return KSHIM_ZPOOL_EVICT; }

static struct list_head *kz_unbuddied(struct kz_pool *kz, int cpu) { return per_cpu_ptr(kz->pool->unbuddied, cpu); }

const char *kz_source_path(void) { return KZ_STR(Z3FH_KERNEL_ALLOCATOR_C); }

struct kz_pool *kz_create(int vcpus, kz_evict_fn evict, void *ctx) {
    struct kz_pool *kz = calloc(1, sizeof(*kz));
    if (!kz) return NULL;
    kshim_reset(vcpus);
    kz_mm_reset();
    kz->evict = KSHIM_ZPOOL_EVICT ? evict : NULL;
    kz->ctx = ctx;
    g_kz = kz;
    /* Through the module's init and its zpool driver, as zswap reaches z3fold
     * (zpool_create_pool -> z3fold_zpool_create; in 6.1 evict through
     * z3fold_zpool_evict; malloc, free, map, unmap and shrink below). */
    (void)kshim_module_init();
#if KSHIM_ZPOOL_EVICT
    kz->pool = z3fold_zpool_driver.create("z3fold", GFP_KERNEL, evict ? &kz_zpool_ops : NULL, (struct zpool *)kz);
#else
    kz->pool = z3fold_zpool_driver.create("z3fold", GFP_KERNEL);
#endif
    if (!kz->pool) {
        free(kz);
        g_kz = NULL;
        return NULL;
    }
    {
        /* Which lock guards which list (the comments on struct z3fold_pool). */
        int cpu, i;
#if KSHIM_ZPOOL_EVICT
        kshim_guard_list(&kz->pool->lru, &kz->pool->lock);
#endif
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

/* Each entry point returns with no lock held (zpool_calls.h). */
int kz_alloc(struct kz_pool *kz, size_t size, int may_block, unsigned long *handle) {
    int rc = kadapter_zpool_malloc(&z3fold_zpool_driver, kz->pool, size, may_block, handle, "z3fold_alloc");
    if (rc == 0 && (*handle & (1 << PAGE_HEADLESS))) {
        kshim_tsan_hide();
        kz->headless_allocs++;
        kshim_tsan_unhide();
    }
    return rc;
}

void kz_get_counters(struct kz_pool *kz, struct kz_counters *out) {
    out->migrations = kz_mm_migrations();
    out->compactions = kshim_work_runs(compact_page_work);
    out->deferred_frees = kshim_work_runs(free_pages_work);
    out->huge_objects = kz->headless_allocs;
}
void kz_free(struct kz_pool *kz, unsigned long handle) {
    kadapter_zpool_free(&z3fold_zpool_driver, kz->pool, handle, "z3fold_free");
}
void *kz_map(struct kz_pool *kz, unsigned long handle) {
    return kadapter_zpool_map(&z3fold_zpool_driver, kz->pool, handle, "z3fold_map");
}
void kz_unmap(struct kz_pool *kz, unsigned long handle) {
    kadapter_zpool_unmap(&z3fold_zpool_driver, kz->pool, handle, "z3fold_unmap");
}
int kz_reclaim(struct kz_pool *kz, unsigned int retries) {
#if KSHIM_ZPOOL_EVICT
    /* zswap's shrink is zpool_shrink(pool, 1, NULL): one z3fold_reclaim_page
     * with 8 retries, through the driver; other retry counts are the broad
     * user's, straight to reclaim. */
    int rc = retries == 8 ? z3fold_zpool_driver.shrink(kz->pool, 1, NULL) : z3fold_reclaim_page(kz->pool, retries);
    kshim_check_returned("z3fold_reclaim_page");
    return rc;
#else
    /* No pool LRU, no reclaim: the user writes back from its own LRU. */
    (void)kz;
    (void)retries;
    return -EINVAL;
#endif
}

uint64_t kz_total_size(struct kz_pool *kz) {
#if KSHIM_ZPOOL_EVICT
    return z3fold_zpool_driver.total_size(kz->pool);
#else
    return z3fold_zpool_driver.total_pages(kz->pool) << PAGE_SHIFT;
#endif
}

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
        if (rc == MIGRATEPAGE_SUCCESS) {
            ClearPageIsolated(page);
            kz_mm_count_migration();
        }
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

/* The snapshot and the structural validator: their own file. */
#include "kernel_introspect.c"

/* ---- handles ---- */

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
