/* z3fold-harden kernel adapter: the one translation unit that includes the
 * kernel's mm/zbud.c (from the user's own kernel source, never committed
 * here). Written for this project. */
#include "zbud_adapter.h"

#include <stdlib.h>

#include "kernel_mm.h"
#include "kshim.h"
#include "kshim_registry.h"

#ifndef Z3FH_KERNEL_ALLOCATOR_C
#error "Z3FH_KERNEL_ALLOCATOR_C must name the extracted mm/zbud.c (see kernel/README.md)"
#endif
#if KSHIM_ZPOOL_EVICT
#error "the zbud adapter is written for Linux 6.12's zbud (no evict); 6.1's zbud is not supported"
#endif

/* The kernel file is compiled as the kernel compiles it: warnings are the
 * kernel's business, not this build's. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#include Z3FH_KERNEL_ALLOCATOR_C
#pragma clang diagnostic pop

#include "zpool_calls.h"

#define ZB_STR2(x) #x
#define ZB_STR(x) ZB_STR2(x)

struct zb_pool {
    struct zbud_pool *pool;
};

const char *zb_source_path(void) { return ZB_STR(Z3FH_KERNEL_ALLOCATOR_C); }

struct zb_pool *zb_create(int vcpus) {
    struct zb_pool *zb = calloc(1, sizeof(*zb));
    int i;
    if (!zb) return NULL;
    kshim_reset(vcpus);
    kz_mm_reset();
    /* Through the module's init and its zpool driver, as zswap reaches zbud
     * (zpool_create_pool -> zbud_zpool_create). */
    (void)kshim_module_init();
    zb->pool = zbud_zpool_driver.create("zbud", GFP_KERNEL);
    if (!zb->pool) {
        free(zb);
        return NULL;
    }
    /* Every list is the pool lock's (the comment on struct zbud_pool);
     * buddied is unbuddied[0]. */
    for (i = 0; i < (int)NCHUNKS; i++) kshim_guard_list(&zb->pool->unbuddied[i], &zb->pool->lock);
    return zb;
}

void zb_destroy_pool(struct zb_pool *zb) {
    zbud_zpool_driver.destroy(zb->pool);
    zb->pool = NULL;
}

void zb_destroy(struct zb_pool *zb) {
    if (!zb) return;
    if (zb->pool) zbud_zpool_driver.destroy(zb->pool);
    kshim_module_exit();
    kshim_free_leftovers();
    free(zb);
}

/* Each entry point returns with no lock held (zpool_calls.h). */
int zb_alloc(struct zb_pool *zb, size_t size, int may_block, unsigned long *handle) {
    return kadapter_zpool_malloc(&zbud_zpool_driver, zb->pool, size, may_block, handle, "zbud_alloc");
}
void zb_free(struct zb_pool *zb, unsigned long handle) {
    kadapter_zpool_free(&zbud_zpool_driver, zb->pool, handle, "zbud_free");
}
void *zb_map(struct zb_pool *zb, unsigned long handle) {
    return kadapter_zpool_map(&zbud_zpool_driver, zb->pool, handle, "zbud_map");
}
void zb_unmap(struct zb_pool *zb, unsigned long handle) {
    kadapter_zpool_unmap(&zbud_zpool_driver, zb->pool, handle, "zbud_unmap");
}
uint64_t zb_total_pages(struct zb_pool *zb) { return zbud_zpool_driver.total_pages(zb->pool); }
int64_t zb_pages_nr(struct zb_pool *zb) { return (int64_t)zb->pool->pages_nr; }
int zb_nchunks(void) { return (int)NCHUNKS; }
int zb_size_to_chunks(size_t size) { return size_to_chunks(size); }

/* ---- introspection ---- */

static const void *zb_data(const struct z3fh_links *n) { return (const void *)((uintptr_t)n & PAGE_MASK); }

static int zb_is_head(void *ctx, const struct z3fh_links *x) {
    const struct zb_pool *zb = ctx;
    return (const struct list_head *)x >= zb->pool->unbuddied && (const struct list_head *)x < zb->pool->unbuddied + NCHUNKS;
}
static int zb_is_live(void *ctx, const void *data) {
    (void)ctx;
    return kshim_page_is_live(data);
}
static uint32_t zb_serial(void *ctx, const void *data) {
    (void)ctx;
    return kshim_page_serial(data);
}

struct zb_snap_ctx {
    struct zb_page_info *pages;
    size_t n;
    int index;
};
static void zb_mark(void *ctx, const struct z3fh_links *node) {
    struct zb_snap_ctx *c = ctx;
    uint32_t serial = kshim_page_serial(zb_data(node));
    size_t i;
    for (i = 0; i < c->n; i++)
        if (c->pages[i].serial == serial) c->pages[i].list_index = c->index;
}

/* Walk every non-empty list (unbuddied[0] is buddied). */
static void zb_walk_all(struct zb_pool *zb, void (*visit)(void *, const struct z3fh_links *), struct zb_snap_ctx *c,
                        z3fh_report_fn report, void *rctx) {
    struct z3fh_list_world w = {zb, zb_is_live, zb_serial, zb_is_head};
    int i;
    for (i = 0; i < (int)NCHUNKS; i++) {
        if (z3fh_list_head_empty(&zb->pool->unbuddied[i])) continue;
        if (c) c->index = i;
        z3fh_walk_list(&w, &zb->pool->unbuddied[i], i ? "an unbuddied list" : "the buddied list", zb_data, visit, c,
                       report, rctx);
    }
}

size_t zb_snapshot_pages(struct zb_pool *zb, struct zb_page_info *out, size_t cap) {
    void *data[512];
    size_t n = kshim_live_pages(data, sizeof data / sizeof data[0]), i, k = 0;
    struct zb_snap_ctx c;
    if (n > sizeof data / sizeof data[0]) n = sizeof data / sizeof data[0];
    if (n > cap) return n;
    for (i = 0; i < n; i++) {
        const struct zbud_header *z = data[i];
        out[k].serial = kshim_page_serial(data[i]);
        out[k].first_chunks = (int)z->first_chunks;
        out[k].last_chunks = (int)z->last_chunks;
        out[k].list_index = -1;
        k++;
    }
    c.pages = out;
    c.n = k;
    c.index = 0;
    zb_walk_all(zb, zb_mark, &c, NULL, NULL);
    return k;
}

void zb_validate(struct zb_pool *zb, z3fh_report_fn report, void *ctx) { zb_walk_all(zb, NULL, NULL, report, ctx); }

int zb_resolve(struct zb_pool *zb, unsigned long handle, uint32_t *page_serial, int *bud, size_t *offset,
               const uint8_t **object) {
    const struct zbud_header *z;
    const void *data = (const void *)(handle & PAGE_MASK);
    (void)zb;
    if (!handle) return 0;
    *page_serial = kshim_live_page_serial(data);
    if (!*page_serial) return 0;
    z = data;
    *offset = handle & ~PAGE_MASK;
    /* zbud_free's own test: FIRST sits right after the header (zbud.c). */
    if (((handle - ZHDR_SIZE_ALIGNED) & ~PAGE_MASK) == 0) {
        if (!z->first_chunks) return 0;
        *bud = 1; /* FIRST */
    } else {
        if (!z->last_chunks || *offset != PAGE_SIZE - ((size_t)z->last_chunks << CHUNK_SHIFT)) return 0;
        *bud = 3; /* LAST */
    }
    if (object) *object = (const uint8_t *)handle;
    return 1;
}
