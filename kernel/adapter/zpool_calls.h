/* z3fold-harden kernel adapter: a zpool driver's operations as the harness
 * calls them, for every allocator's adapter: zswap's gfp (or GFP_KERNEL,
 * the broad user's) recorded for the shim's gfp-contract check, and no lock
 * held when the driver returns (lock-held-at-return). Included by the
 * adapters after the kernel file (struct zpool_driver comes from kshim.h). */
#pragma once
#include "kshim.h"
#include "kshim_registry.h"

/* may_block: GFP_KERNEL; else zswap's gfp (__GFP_NORETRY | __GFP_NOWARN |
 * __GFP_KSWAPD_RECLAIM, zswap_compress / 6.1's zswap_frontswap_store). */
static inline int kadapter_zpool_malloc(const struct zpool_driver *d, void *pool, size_t size, int may_block,
                                        unsigned long *handle, const char *what) {
    const gfp_t gfp = may_block ? GFP_KERNEL : (__GFP_NORETRY | __GFP_NOWARN | __GFP_KSWAPD_RECLAIM);
    int rc;
    kshim_enter_caller(gfp);
    rc = d->malloc(pool, size, gfp, handle);
    kshim_leave_caller();
    kshim_check_returned(what);
    return rc;
}
static inline void kadapter_zpool_free(const struct zpool_driver *d, void *pool, unsigned long handle,
                                       const char *what) {
    d->free(pool, handle);
    kshim_check_returned(what);
}
static inline void *kadapter_zpool_map(const struct zpool_driver *d, void *pool, unsigned long handle,
                                       const char *what) {
    void *p = d->map(pool, handle, ZPOOL_MM_RW);
    kshim_check_returned(what);
    return p;
}
static inline void kadapter_zpool_unmap(const struct zpool_driver *d, void *pool, unsigned long handle,
                                        const char *what) {
    d->unmap(pool, handle);
    kshim_check_returned(what);
}
