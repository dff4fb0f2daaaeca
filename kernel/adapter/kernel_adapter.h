/* z3fold-harden kernel adapter: the operations and the introspection of the
 * kernel's own mm/z3fold.c, in the shapes the harness uses for the port
 * (fuzz/target/target.h). kernel_adapter.c includes the kernel file. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "list_check.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kz_pool;
typedef int (*kz_evict_fn)(void *ctx, unsigned long handle);

/* One pool at a time per process (the shim's world is global). */
struct kz_pool *kz_create(int vcpus, kz_evict_fn evict, void *ctx);
void kz_destroy(struct kz_pool *kz);
/* z3fold_destroy_pool, from the running thread; kz_destroy then only frees
 * what is left. */
void kz_destroy_pool(struct kz_pool *kz);

/* Returns 0 or a negative errno, as z3fold_alloc does. may_block: with
 * GFP_KERNEL (the broad zpool user); else with zswap's gfp (__GFP_NORETRY |
 * __GFP_NOWARN | __GFP_KSWAPD_RECLAIM, mm/zswap.c's zswap_frontswap_store). */
int kz_alloc(struct kz_pool *kz, size_t size, int may_block, unsigned long *handle);
void kz_free(struct kz_pool *kz, unsigned long handle);
void *kz_map(struct kz_pool *kz, unsigned long handle);
void kz_unmap(struct kz_pool *kz, unsigned long handle);
/* z3fold_reclaim_page (6.1); -EINVAL in a series without the pool LRU. */
int kz_reclaim(struct kz_pool *kz, unsigned int retries);
/* Whether the compiled series has zpool's evict callback and shrink. */
int kz_has_evict(void);
/* zpool_get_total_size, through the driver. */
uint64_t kz_total_size(struct kz_pool *kz);
/* What free does to a page it leaves partly used: queue compaction. */
void kz_compact_handle_page(struct kz_pool *kz, unsigned long handle);
/* The mm core's migration of the page holding handle: isolate_movable_page,
 * a new page, move_to_new_folio, putback on failure. 0 or -errno. */
int kz_migrate_handle_page(struct kz_pool *kz, unsigned long handle);
/* Main context: run queued compaction, then release work, to completion. */
void kz_drain(struct kz_pool *kz);
int kz_idle(struct kz_pool *kz);
int64_t kz_pages_nr(struct kz_pool *kz);
size_t kz_live_pages(struct kz_pool *kz);
size_t kz_live_slots(struct kz_pool *kz);
const char *kz_source_path(void);

/* The depth counters: pages migrated, compaction work and deferred-free
 * work run (compact_page_work, free_pages_work), headless objects made. */
struct kz_counters {
    uint64_t migrations, compactions, deferred_frees, huge_objects;
};
void kz_get_counters(struct kz_pool *kz, struct kz_counters *out);

/* ---- introspection (quiescent) ---- */
struct kz_page_info {
    uint32_t serial;
    int headless;
    unsigned long flags;
    int refcount;
    int first_chunks, middle_chunks, last_chunks, start_middle;
    int first_num, mapped_count, foreign_handles, cpu;
    uint32_t slots_serial;
    int page_locked, work_pending, on_lru, on_stale;
    int unbuddied_cpu, unbuddied_index;
    int page_refs;
};
struct kz_slot_info {
    uint32_t slots_serial;
    int index;
    uint32_t page_serial;
    int raw_index;
    int last_chunks;
    unsigned long handle; /* the slot's address: the handle that names it */
};
struct kz_pool_info {
    int64_t pages_nr;
    size_t lru_length, stale_length, slots_objects;
};
/* Fill up to cap entries; return how many exist. */
size_t kz_snapshot_pages(struct kz_pool *kz, struct kz_page_info *out, size_t cap);
size_t kz_snapshot_slots(struct kz_pool *kz, struct kz_slot_info *out, size_t cap, uint32_t *slots_serials,
                         size_t serial_cap, size_t *n_objects);
void kz_pool_info(struct kz_pool *kz, struct kz_pool_info *out);

/* The kernel file's layout as compiled here, for the size test: what
 * sizeof and offsetof give over the shim's kernel types, and the constants
 * z3fold derives from them. */
struct kz_layout {
    size_t header_size;        /* sizeof(struct z3fold_header) */
    size_t header_kref_offset; /* offsetof(struct z3fold_header, refcount) */
    size_t zhdr_size_aligned;  /* ZHDR_SIZE_ALIGNED */
    int zhdr_chunks;           /* ZHDR_CHUNKS */
    int nchunks;               /* NCHUNKS */
    size_t headless_above;     /* sizes above this are headless: PAGE_SIZE - ZHDR_SIZE_ALIGNED - CHUNK_SIZE */
};
void kz_get_layout(struct kz_layout *out);

/* Structural invariants at a scheduling point: the port's rules
 * (checks/z3fold_rules.h), on the kernel's structures. */
void kz_validate(struct kz_pool *kz, z3fh_report_fn report, void *ctx);
/* The same for the pages that addrs (list links) lie in and the page
 * numbered serial (0: none); 0, having reported nothing, when a link of
 * theirs does not check out and only kz_validate can say what is wrong. */
int kz_validate_pages(struct kz_pool *kz, const void *const *addrs, size_t n, uint32_t serial,
                      z3fh_report_fn report, void *ctx);

/* Resolve a handle without locks. Returns 0 if it names no live object. */
int kz_resolve(struct kz_pool *kz, unsigned long handle, uint32_t *page_serial, int *bud, size_t *offset,
               const uint8_t **object, int *refcount, uint32_t *slots_serial);

#ifdef __cplusplus
}
#endif
