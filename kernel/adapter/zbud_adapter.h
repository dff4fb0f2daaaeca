/* z3fold-harden kernel adapter for mm/zbud.c (Linux 6.12): its operations
 * through its zpool driver, and its state for the shadow model and the
 * validators. zbud_adapter.c includes the kernel file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "list_check.h"

#ifdef __cplusplus
extern "C" {
#endif

struct zb_pool;

/* One pool at a time per process (the shim's world is global). */
struct zb_pool *zb_create(int vcpus);
/* zbud_destroy_pool from the running thread; zb_destroy then frees what is left. */
void zb_destroy_pool(struct zb_pool *zb);
void zb_destroy(struct zb_pool *zb);
/* Returns 0 or a negative errno, as zbud_alloc does (may_block as kz_alloc). */
int zb_alloc(struct zb_pool *zb, size_t size, int may_block, unsigned long *handle);
void zb_free(struct zb_pool *zb, unsigned long handle);
void *zb_map(struct zb_pool *zb, unsigned long handle);
void zb_unmap(struct zb_pool *zb, unsigned long handle);
uint64_t zb_total_pages(struct zb_pool *zb);
int64_t zb_pages_nr(struct zb_pool *zb);
const char *zb_source_path(void);

/* ---- introspection (quiescent) ---- */
struct zb_page_info {
    uint32_t serial;
    int first_chunks, last_chunks;
    int list_index; /* the unbuddied list the page is on (0: buddied), -1: none */
};
/* Fill up to cap entries (live pages in allocation order); return how many exist. */
size_t zb_snapshot_pages(struct zb_pool *zb, struct zb_page_info *out, size_t cap);
/* zbud's chunk arithmetic, as compiled: NCHUNKS and size_to_chunks. */
int zb_nchunks(void);
int zb_size_to_chunks(size_t size);
/* Every list of the pool walked from its head (liveness, poison, back links). */
void zb_validate(struct zb_pool *zb, z3fh_report_fn report, void *ctx);
/* Resolve a handle without locks: 0 if it names no allocated buddy of a
 * live page. *bud: 1 FIRST, 3 LAST (the port's Buddy numbering). */
int zb_resolve(struct zb_pool *zb, unsigned long handle, uint32_t *page_serial, int *bud, size_t *offset,
               const uint8_t **object);

#ifdef __cplusplus
}
#endif
