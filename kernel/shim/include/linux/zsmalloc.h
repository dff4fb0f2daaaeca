/* z3fold-harden kernel shim: <linux/zsmalloc.h>, zsmalloc's API as its
 * users (zram, zswap through zpool) and mm/zsmalloc.c see it (Linux 6.12).
 * Written for this project from the API's documentation. */
#pragma once
#include "kshim.h"

enum zs_mapmode {
    ZS_MM_RW, /* normal read-write mapping */
    ZS_MM_RO, /* read-only (no copy-out at unmap time) */
    ZS_MM_WO  /* write-only (no copy-in at map time) */
};

struct zs_pool_stats {
    /* How many pages were migrated (freed) */
    atomic_long_t pages_compacted;
};

struct zs_pool;

struct zs_pool *zs_create_pool(const char *name);
void zs_destroy_pool(struct zs_pool *pool);
unsigned long zs_malloc(struct zs_pool *pool, size_t size, gfp_t flags);
void zs_free(struct zs_pool *pool, unsigned long obj);
size_t zs_huge_class_size(struct zs_pool *pool);
void *zs_map_object(struct zs_pool *pool, unsigned long handle, enum zs_mapmode mm);
void zs_unmap_object(struct zs_pool *pool, unsigned long handle);
unsigned long zs_get_total_pages(struct zs_pool *pool);
unsigned long zs_compact(struct zs_pool *pool);
unsigned int zs_lookup_class_index(struct zs_pool *pool, unsigned int size);
void zs_pool_stats(struct zs_pool *pool, struct zs_pool_stats *stats);
