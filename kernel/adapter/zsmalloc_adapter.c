/* z3fold-harden kernel adapter: the one translation unit that includes the
 * kernel's mm/zsmalloc.c (from the user's own kernel source, never committed
 * here), compiled as a 6.12 x86-64 kernel builds it: CONFIG_ZPOOL (zswap's
 * way in), CONFIG_COMPACTION (movable zspages, deferred frees), the default
 * chain size of 8 pages, no CONFIG_ZSMALLOC_STAT. Written for this project. */
#include "zsmalloc_adapter.h"

#include <stdlib.h>

#include "kernel_mm.h"
#include "kshim.h"
#include "kshim_registry.h"

#ifndef Z3FH_KERNEL_ALLOCATOR_C
#error "Z3FH_KERNEL_ALLOCATOR_C must name the extracted mm/zsmalloc.c (see kernel/README.md)"
#endif
#if KSHIM_ZPOOL_EVICT
#error "the zsmalloc adapter is written for Linux 6.12's zsmalloc; 6.1's is not supported"
#endif

#define CONFIG_ZPOOL 1
#define CONFIG_COMPACTION 1
#define CONFIG_ZSMALLOC_CHAIN_SIZE 8

/* The kernel file is compiled as the kernel compiles it: warnings are the
 * kernel's business, not this build's. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#include Z3FH_KERNEL_ALLOCATOR_C
#pragma clang diagnostic pop

#include "zpool_calls.h"

#define ZSA_STR2(x) #x
#define ZSA_STR(x) ZSA_STR2(x)

struct zsa_pool {
    struct zs_pool *pool;
    struct zsa_counters counters;
};

const char *zsa_source_path(void) { return ZSA_STR(Z3FH_KERNEL_ALLOCATOR_C); }

/* Every distinct class's fullness lists are its class->lock's (merged
 * classes share one struct size_class: guarded once). */
static void zsa_guard_lists(struct zs_pool *pool) {
    int i, g;
    for (i = 0; i < (int)ZS_SIZE_CLASSES; i++) {
        struct size_class *class = pool->size_class[i];
        if (!class || class->index != (unsigned int)i) continue;
        for (g = 0; g < NR_FULLNESS_GROUPS; g++) kshim_guard_list(&class->fullness_list[g], &class->lock);
    }
}

struct zsa_pool *zsa_create(int vcpus) {
    struct zsa_pool *zs = calloc(1, sizeof(*zs));
    if (!zs) return NULL;
    kshim_reset(vcpus);
    kz_mm_reset();
    /* Through the module's init (the per-CPU mapping areas' buffers, by its
     * CPU hotplug state) and its zpool driver, as zswap reaches zsmalloc
     * (zpool_create_pool -> zs_zpool_create). */
    if (kshim_module_init() != 0) {
        free(zs);
        return NULL;
    }
    zs->pool = zs_zpool_driver.create("zsmalloc", GFP_KERNEL);
    if (!zs->pool) {
        kshim_module_exit();
        free(zs);
        return NULL;
    }
    zsa_guard_lists(zs->pool);
    return zs;
}

void zsa_destroy_pool(struct zsa_pool *zs) {
    zs_zpool_driver.destroy(zs->pool);
    zs->pool = NULL;
}

void zsa_destroy(struct zsa_pool *zs) {
    if (!zs) return;
    if (zs->pool) zs_zpool_driver.destroy(zs->pool);
    kshim_module_exit();
    kshim_free_leftovers();
    free(zs);
}

int zsa_alloc(struct zsa_pool *zs, size_t size, int may_block, unsigned long *handle) {
    int rc;
    kshim_tsan_hide(); /* the harness's counters */
    if (size >= huge_class_size && size <= ZS_MAX_ALLOC_SIZE) zs->counters.huge_objects++; /* zs_create_pool's bound */
    kshim_tsan_unhide();
    rc = kadapter_zpool_malloc(&zs_zpool_driver, zs->pool, size, may_block, handle, "zs_malloc");
    return rc;
}
void zsa_free(struct zsa_pool *zs, unsigned long handle) {
    kadapter_zpool_free(&zs_zpool_driver, zs->pool, handle, "zs_free");
}

/* Whether the object spans two pages (read as zs_map_object reads it, by
 * the scheduler's leave: no thread runs meanwhile). */
static int zsa_spans(struct zsa_pool *zs, unsigned long handle) {
    struct page *page;
    unsigned int idx;
    struct zspage *zspage;
    struct size_class *class;
    obj_to_location(handle_to_obj(handle), &page, &idx);
    zspage = (struct zspage *)page_private(page);
    if (!zspage) return 0;
    class = zs->pool->size_class[zspage->class];
    return offset_in_page(class->size * idx) + class->size > PAGE_SIZE;
}

void *zsa_map(struct zsa_pool *zs, unsigned long handle, enum zsa_map_mode mode) {
    static const enum zpool_mapmode modes[] = {ZPOOL_MM_RW, ZPOOL_MM_RO, ZPOOL_MM_WO};
    kshim_tsan_hide();
    if (zsa_spans(zs, handle)) zs->counters.spanning_maps++;
    kshim_tsan_unhide();
    return zs_zpool_driver.map(zs->pool, handle, modes[mode]);
}
void zsa_unmap(struct zsa_pool *zs, unsigned long handle) {
    kadapter_zpool_unmap(&zs_zpool_driver, zs->pool, handle, "zs_unmap_object");
}

unsigned long zsa_compact(struct zsa_pool *zs) {
    unsigned long freed = zs_compact(zs->pool);
    kshim_check_returned("zs_compact");
    kshim_tsan_hide();
    if (freed) zs->counters.compactions++;
    kshim_tsan_unhide();
    return freed;
}
unsigned long zsa_shrink(struct zsa_pool *zs, unsigned long nr_to_scan) {
    unsigned long freed;
    (void)zs;
    freed = kshim_run_shrinkers(nr_to_scan);
    kshim_check_returned("zs_shrinker_scan");
    kshim_tsan_hide();
    if (freed) zs->counters.compactions++;
    kshim_tsan_unhide();
    return freed;
}
uint64_t zsa_total_pages(struct zsa_pool *zs) { return zs_zpool_driver.total_pages(zs->pool); }
size_t zsa_huge_class_size(struct zsa_pool *zs) { return zs_huge_class_size(zs->pool); }
void zsa_drain(struct zsa_pool *zs) {
    (void)zs;
    kshim_flush_workqueue(kshim_system_wq_if_made());
}

void zsa_read_counters(struct zsa_pool *zs, struct zsa_counters *out) {
    *out = zs->counters;
    out->deferred_frees = kshim_work_runs(async_free_zspage);
}

/* ---- introspection (no thread runs: plain reads) ---- */

int64_t zsa_pages_allocated(struct zsa_pool *zs) { return (int64_t)zs->pool->pages_allocated.counter; }

/* A listed node's zspage, if it is a live zspage object. */
static const void *zsa_zspage_of(const struct z3fh_links *n) { return (const char *)n - offsetof(struct zspage, list); }
static int zsa_is_live(void *ctx, const void *data) {
    (void)ctx;
    return kshim_slab_serial(data) != 0;
}
static uint32_t zsa_serial(void *ctx, const void *data) {
    (void)ctx;
    const struct zspage *z = data;
    return z->first_page ? kshim_page_serial(z->first_page) : 0;
}
static int zsa_is_head(void *ctx, const struct z3fh_links *x) {
    const struct zs_pool *pool = ctx;
    int i;
    for (i = 0; i < (int)ZS_SIZE_CLASSES; i++) {
        const struct size_class *c = pool->size_class[i];
        if (c && (const struct list_head *)x >= c->fullness_list &&
            (const struct list_head *)x < c->fullness_list + NR_FULLNESS_GROUPS)
            return 1;
    }
    return 0;
}

struct zsa_walk {
    struct zs_pool *pool;
    struct size_class *class;
    int group;
    z3fh_report_fn report;
    void *rctx;
    void (*each)(struct zsa_walk *w, struct zspage *z);
    void *out;
    size_t n, cap;
};

static void zsa_visit(void *vctx, const struct z3fh_links *node) {
    struct zsa_walk *w = vctx;
    struct zspage *z = (struct zspage *)zsa_zspage_of(node);
    char msg[160];
    uint32_t serial = z->first_page && kshim_page_serial(z->first_page) ? kshim_page_serial(z->first_page) : 0;
    if (z->magic != ZSPAGE_MAGIC || z->class != w->class->index || z->fullness != (unsigned)w->group) {
        snprintf(msg, sizeof msg, "a zspage on class %d's list %d has magic %#x, class %u, fullness %u",
                 w->class->index, w->group, (unsigned)z->magic, (unsigned)z->class, (unsigned)z->fullness);
        if (w->report) w->report(w->rctx, Z3FH_FINDING_zspage_state, serial, msg);
        return;
    }
    if (w->each) w->each(w, z);
}

static void zsa_walk_lists(struct zs_pool *pool, struct zsa_walk *w) {
    struct z3fh_list_world lw = {pool, zsa_is_live, zsa_serial, zsa_is_head};
    int i, g;
    char name[64];
    w->pool = pool;
    for (i = 0; i < (int)ZS_SIZE_CLASSES; i++) {
        struct size_class *class = pool->size_class[i];
        if (!class || class->index != (unsigned int)i) continue;
        w->class = class;
        for (g = 0; g < NR_FULLNESS_GROUPS; g++) {
            if (z3fh_list_head_empty(&class->fullness_list[g])) continue;
            w->group = g;
            snprintf(name, sizeof name, "class %d's fullness list %d", i, g);
            z3fh_walk_list(&lw, &class->fullness_list[g], name, zsa_zspage_of, zsa_visit, w, w->report, w->rctx);
        }
    }
}

void zsa_validate(struct zsa_pool *zs, z3fh_report_fn report, void *ctx) {
    struct zsa_walk w = {0};
    if (!zs->pool) return;
    w.report = report;
    w.rctx = ctx;
    zsa_walk_lists(zs->pool, &w);
}

static void zsa_snapshot_one(struct zsa_walk *w, struct zspage *z) {
    struct zsa_page_info *out = w->out;
    struct page *p;
    uint32_t first = kshim_page_serial(z->first_page);
    for (p = z->first_page; p; p = z->huge ? NULL : (struct page *)p->index) {
        if (w->n < w->cap) {
            out[w->n].serial = kshim_page_serial(p);
            out[w->n].first_serial = first;
            out[w->n].class_size = w->class->size;
            out[w->n].fullness = (int)z->fullness;
            out[w->n].inuse = (int)z->inuse;
        }
        w->n++;
        if (!kshim_page_serial(p)) break; /* a freed page in the chain: the rules at rest say so */
    }
}

size_t zsa_snapshot_pages(struct zsa_pool *zs, struct zsa_page_info *out, size_t cap) {
    struct zsa_walk w = {0};
    if (!zs->pool) return 0;
    w.each = zsa_snapshot_one;
    w.out = out;
    w.cap = cap;
    zsa_walk_lists(zs->pool, &w);
    return w.n;
}

int zsa_resolve(struct zsa_pool *zs, unsigned long handle, struct zsa_resolved *out) {
    struct page *page;
    unsigned int idx;
    unsigned long obj, off, tag;
    const struct zspage *z;
    const struct size_class *class;
    uint8_t *data;
    if (!zs->pool || !handle || !kshim_slab_serial((const void *)handle)) return 0;
    obj = *(const unsigned long *)handle;
    page = pfn_to_page(obj >> OBJ_INDEX_BITS);
    idx = (unsigned int)(obj & OBJ_INDEX_MASK);
    out->page_serial = kshim_live_page_serial(page_address(page));
    if (!out->page_serial) return 0;
    z = (const struct zspage *)page_private(page);
    if (!z || !kshim_slab_serial(z) || z->magic != ZSPAGE_MAGIC) return 0;
    class = zs->pool->size_class[z->class];
    off = offset_in_page(class->size * idx);
    data = page_address(page);
    out->zspage_first = kshim_page_serial(z->first_page);
    out->huge = z->huge;
    out->object2 = NULL;
    if (z->huge) {
        tag = z->first_page->index;
        if (tag != (handle | OBJ_ALLOCATED_TAG)) return 0;
        out->offset = 0;
        out->object = data;
        out->first_len = PAGE_SIZE;
        return 1;
    }
    tag = *(const unsigned long *)(data + off);
    if (tag != (handle | OBJ_ALLOCATED_TAG)) return 0;
    out->offset = off + ZS_HANDLE_SIZE;
    out->object = data + off + ZS_HANDLE_SIZE;
    out->first_len = PAGE_SIZE - off - ZS_HANDLE_SIZE;
    if (off + class->size > PAGE_SIZE) { /* zs_map_object's test: the slot spans two pages */
        struct page *next = (struct page *)page->index;
        if (!next || !kshim_live_page_serial(page_address(next))) return 0;
        out->object2 = page_address(next);
    }
    return 1;
}

/* ---- zsmalloc's rules at rest ---- */

struct zsa_rest {
    const unsigned long *handles;
    size_t n;
    long pages;           /* counted over the listed zspages */
    long allocated[ZS_SIZE_CLASSES], inuse[ZS_SIZE_CLASSES];
};

static void zsa_rest_one(struct zsa_walk *w, struct zspage *z) {
    struct zsa_rest *r = w->out;
    struct size_class *class = w->class;
    char msg[200];
    uint32_t serial = kshim_page_serial(z->first_page);
    int live = 0, free_objs = 0, k = 0, i;
    unsigned int obj;
    unsigned long off = 0;
    struct page *p;
    /* Its pages: typed, owned, the first one PG_private, first object offsets. */
    for (p = z->first_page; p; p = z->huge ? NULL : (struct page *)p->index, k++) {
        unsigned int want = k == 0 ? 0 : (unsigned int)(((unsigned long)k * PAGE_SIZE + class->size - 1) / class->size * class->size - (unsigned long)k * PAGE_SIZE);
        if (!kshim_page_serial(p) || !PageZsmalloc(p) || (struct zspage *)page_private(p) != z ||
            (k == 0) != !!PagePrivate(p) || (p->page_type & FIRST_OBJ_PAGE_TYPE_MASK) != want) {
            snprintf(msg, sizeof msg, "page %d of the zspage at page %u (class %d): typed %d, owner %s, PG_private %d, first object at %u (want %u)",
                     k, serial, class->size, kshim_page_serial(p) ? PageZsmalloc(p) : -1,
                     kshim_page_serial(p) && (struct zspage *)page_private(p) == z ? "its zspage" : "another",
                     kshim_page_serial(p) ? !!PagePrivate(p) : -1, kshim_page_serial(p) ? p->page_type & FIRST_OBJ_PAGE_TYPE_MASK : 0, want);
            w->report(w->rctx, Z3FH_FINDING_zspage_pages, serial, msg);
            return;
        }
        r->pages++;
    }
    if (k != class->pages_per_zspage) {
        snprintf(msg, sizeof msg, "the zspage at page %u has %d pages; class %d's have %d", serial, k, class->size, class->pages_per_zspage);
        w->report(w->rctx, Z3FH_FINDING_zspage_pages, serial, msg);
        return;
    }
    /* Its live objects, by the handles the model holds. */
    for (i = 0; i < (int)r->n; i++) {
        struct page *hp = pfn_to_page(*(const unsigned long *)r->handles[i] >> OBJ_INDEX_BITS);
        if ((const struct zspage *)page_private(hp) == z) live++;
    }
    if ((int)z->inuse != live || (int)z->fullness != get_fullness_group(class, z)) {
        snprintf(msg, sizeof msg, "the zspage at page %u (class %d) has inuse %u, fullness %u; it holds %d live objects (group %d)",
                 serial, class->size, z->inuse, (unsigned)z->fullness, live, get_fullness_group(class, z));
        w->report(w->rctx, Z3FH_FINDING_zspage_inuse, serial, msg);
        return;
    }
    /* Its free list: object indexes, each free (no allocated tag), each once. */
    {
        unsigned char seen[1024] = {0};
        for (obj = z->freeobj; free_objs <= class->objs_per_zspage; free_objs++) {
            const unsigned long *link;
            struct page *fp = z->first_page;
            unsigned long at = (unsigned long)obj * class->size;
            if (obj >= (unsigned int)class->objs_per_zspage) break; /* the list's end (-1 >> OBJ_TAG_BITS) */
            if (seen[obj]) break;
            seen[obj] = 1;
            for (i = 0; i < (int)(at >> PAGE_SHIFT); i++) fp = (struct page *)fp->index;
            off = offset_in_page(at);
            link = (const unsigned long *)((const char *)page_address(fp) + off);
            if (z->huge ? (fp->index & OBJ_ALLOCATED_TAG) : (*link & OBJ_ALLOCATED_TAG)) break;
            obj = (unsigned int)(*link >> OBJ_TAG_BITS);
        }
        if (free_objs != class->objs_per_zspage - live) {
            snprintf(msg, sizeof msg, "the zspage at page %u (class %d, %d objects, %d live) has %d on its free list",
                     serial, class->size, class->objs_per_zspage, live, free_objs);
            w->report(w->rctx, Z3FH_FINDING_zspage_freelist, serial, msg);
            return;
        }
    }
    r->allocated[class->index] += class->objs_per_zspage;
    r->inuse[class->index] += live;
}

void zsa_check_at_rest(struct zsa_pool *zs, const unsigned long *handles, size_t n, z3fh_report_fn report, void *ctx) {
    static struct zsa_rest r;
    struct zsa_walk w = {0};
    char msg[200];
    int i;
    if (!zs->pool) return;
    memset(&r, 0, sizeof r);
    r.handles = handles;
    r.n = n;
    w.each = zsa_rest_one;
    w.out = &r;
    w.report = report;
    w.rctx = ctx;
    zsa_walk_lists(zs->pool, &w);
    if (r.pages != zs->pool->pages_allocated.counter) {
        snprintf(msg, sizeof msg, "pages_allocated is %ld; the listed zspages have %ld pages",
                 zs->pool->pages_allocated.counter, r.pages);
        report(ctx, Z3FH_FINDING_zsmalloc_accounting, 0, msg);
    }
    for (i = 0; i < (int)ZS_SIZE_CLASSES; i++) {
        struct size_class *c = zs->pool->size_class[i];
        if (!c || c->index != (unsigned int)i) continue;
        if ((long)c->stats.objs[ZS_OBJS_ALLOCATED] != r.allocated[i] || (long)c->stats.objs[ZS_OBJS_INUSE] != r.inuse[i]) {
            snprintf(msg, sizeof msg, "class %d counts %lu objects allocated, %lu in use; its zspages have %ld and %ld",
                     c->size, c->stats.objs[ZS_OBJS_ALLOCATED], c->stats.objs[ZS_OBJS_INUSE], r.allocated[i], r.inuse[i]);
            report(ctx, Z3FH_FINDING_zsmalloc_accounting, 0, msg);
        }
    }
}
