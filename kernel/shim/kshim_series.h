/* z3fold-harden kernel shim: the kernel series the user's file comes from,
 * and the one place where what differs between the series is decided. z3fh
 * sets Z3FH_KERNEL_SERIES from the tree's Makefile or --kernel-version
 * (601: Linux 6.1, 612: Linux 6.12); everything else tests the feature
 * macros below, never the number. Written for this project. */
#pragma once

#ifndef Z3FH_KERNEL_SERIES
#define Z3FH_KERNEL_SERIES 601
#endif

/* zpool's evict callback and shrink (zpool_ops, .shrink, z3fold's pool LRU
 * and z3fold_reclaim_page), and .total_size in bytes: 6.1. 6.5 moved
 * writeback into zswap (its own LRU); 6.12's zpool has neither and asks for
 * .total_pages. */
#define KSHIM_ZPOOL_EVICT (Z3FH_KERNEL_SERIES < 605)

/* The mm core migrates a batch in two phases (6.3's migrate_pages_batch):
 * every page unmapped first, source and destination locked for the whole
 * batch, then moved; a sync migration tries the batch asynchronously first
 * and then every failed page again, one at a time, permanent failures
 * included (migrate_pages_sync). 6.1 moves each page as it unmaps it. */
#define KSHIM_MM_BATCH_MIGRATION (Z3FH_KERNEL_SERIES >= 603)
