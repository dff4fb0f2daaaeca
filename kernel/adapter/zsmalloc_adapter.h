/* z3fold-harden kernel adapter for mm/zsmalloc.c (Linux 6.12): its
 * operations as zswap reaches them (its zpool driver) and as zram and the
 * mm reach them (zs_compact, the shrinker), and its state for the shadow
 * model and the validators. zsmalloc_adapter.c includes the kernel file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "list_check.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zsa_pool;

/* The mapping modes, as zs_map_object takes them (and zpool's). */
enum zsa_map_mode { ZSA_MAP_RW, ZSA_MAP_RO, ZSA_MAP_WO };

/* One pool at a time per process (the shim's world is global). */
struct zsa_pool *zsa_create(int vcpus);
/* zs_destroy_pool from the running thread; zsa_destroy then frees what is
 * left and runs the module's exit. */
void zsa_destroy_pool(struct zsa_pool *zs);
void zsa_destroy(struct zsa_pool *zs);
/* zpool_malloc: 0 or a negative errno (may_block: GFP_KERNEL, else zswap's gfp). */
int zsa_alloc(struct zsa_pool *zs, size_t size, int may_block, unsigned long *handle);
void zsa_free(struct zsa_pool *zs, unsigned long handle);
/* zs_map_object returns with the zspage's read lock, the per-CPU mapping
 * area's local lock and (unless the object spans pages) a kmap_atomic held,
 * all of which zsa_unmap releases: the pair is checked at the unmap. */
void *zsa_map(struct zsa_pool *zs, unsigned long handle, enum zsa_map_mode mode);
void zsa_unmap(struct zsa_pool *zs, unsigned long handle);
/* zs_compact (zram's compact, the shrinker's scan); pages it freed. */
unsigned long zsa_compact(struct zsa_pool *zs);
/* Memory pressure: the registered shrinkers (zsmalloc's: zs_compact). */
unsigned long zsa_shrink(struct zsa_pool *zs, unsigned long nr_to_scan);
uint64_t zsa_total_pages(struct zsa_pool *zs);
/* zs_huge_class_size: objects this long or longer get a page of their own. */
size_t zsa_huge_class_size(struct zsa_pool *zs);
/* Main context: run the queued deferred frees (system_wq) to completion. */
void zsa_drain(struct zsa_pool *zs);
const char *zsa_source_path(void);

/* ---- counters (the campaign's depth) ---- */
struct zsa_counters {
    uint64_t spanning_maps; /* maps of an object that spans two pages */
    uint64_t huge_objects;  /* allocations in the huge class */
    uint64_t compactions;   /* zs_compact runs that moved an object */
    uint64_t deferred_frees; /* async_free_zspage runs */
};
void zsa_read_counters(struct zsa_pool *zs, struct zsa_counters *out);

/* ---- introspection (quiescent) ---- */
struct zsa_page_info {
    uint32_t serial;
    uint32_t first_serial; /* the zspage's first page */
    int class_size;
    int fullness;          /* the zspage's fullness group */
    int inuse;             /* its objects in use */
};
/* Every page of every zspage on a fullness list, in list order; how many exist. */
size_t zsa_snapshot_pages(struct zsa_pool *zs, struct zsa_page_info *out, size_t cap);
int64_t zsa_pages_allocated(struct zsa_pool *zs);
/* Every fullness list walked from its head, and each listed zspage's own
 * state (its magic, its class, the group it is filed under). */
void zsa_validate(struct zsa_pool *zs, z3fh_report_fn report, void *ctx);
/* A handle resolved without locks: 0 if it names no allocated object. The
 * object's bytes are [object, object + first_len) then, for one that spans
 * pages, [object2, ...) on the next page. */
struct zsa_resolved {
    uint32_t page_serial;
    size_t offset; /* of the object's bytes in its first page */
    const uint8_t *object;
    size_t first_len;
    const uint8_t *object2;
    uint32_t zspage_first; /* the serial of its zspage's first page */
    int huge;
};
int zsa_resolve(struct zsa_pool *zs, unsigned long handle, struct zsa_resolved *out);
/* zsmalloc's own rules at rest, given every live handle: each zspage's
 * inuse is its live objects, it is filed under the group inuse says, its
 * free list holds exactly its other objects, each of its pages says whose
 * it is, and the class and pool counters add up. */
void zsa_check_at_rest(struct zsa_pool *zs, const unsigned long *handles, size_t n, z3fh_report_fn report, void *ctx);

#ifdef __cplusplus
}
#endif
