// z3fold-harden: Linux 6.12's zswap as the pool's user (zswap_user.h has
// what every series shares). Line references zs:N are Linux 6.12's
// mm/zswap.c (Debian 6.12.118-1~deb12u1). What makes it 6.12's:
// - no entry refcount and no evict callback: the tree is an xarray, and
//   whoever takes an entry out of it (xa_erase, xa_cmpxchg) owns it and
//   frees it (zswap_entry_free: off the LRU, then zpool_free, zs:800-811);
// - a store compresses and writes the object, xa_stores the entry, frees
//   the entry it replaced, then puts the new one on zswap's LRU with its
//   referenced bit set (zs:1459-1582); a failed store erases and frees the
//   offset's old entry (check_old, zs:1576-1580);
// - a load from the swap cache erases the entry first, decompresses from
//   the mapping and frees the entry; a load outside the swap cache leaves it
//   in the tree (zs:1585-1625);
// - writeback is zswap's own: the shrinker's scan (direct reclaim, any
//   thread) and the one shrink worker walk the LRU under its lock; an entry
//   with its referenced bit is rotated (a second chance); otherwise it is
//   rotated too, the lock dropped, and zswap_writeback_entry allocates the
//   swap-cache folio (-EEXIST when the offset has one: a swapin or another
//   reclaimer), xa_cmpxchg's the entry out (-ENOMEM when it was invalidated
//   meanwhile: the pointer is compared, never dereferenced), decompresses
//   and frees it (zs:1056-1230). Several reclaimers run at once.
// Not modelled: the per-CPU compression context's mutex, which the store's
// zpool_malloc, map and unmap and the decompression's map and unmap run
// under: the model lets two threads on one CPU compress at once (harmless:
// z3fold's and zbud's map keep no per-CPU state, and a thread inside
// zsmalloc's mapping has preemption off and owns its CPU); memcg charging; the pool
// size limit (a `reclaim` op stands for memory pressure); a busy offset is
// always -EEXIST (the kernel says -ENOMEM when SWAP_HAS_CACHE is set with
// no folio yet, and its scan then goes on).
#pragma once
#include <list>

#include "harness/zswap_user.h"

namespace z3fh::fuzz {

class Zswap612User final : public ZswapUser {
public:
    // Construct with the scheduler installed (the shrink worker's queue is
    // one of its threads).
    Zswap612User(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx);
    ~Zswap612User() override;

    void store(int slot, size_t size) override;  // zswap_store
    void load(int slot, uint8_t arg) override;   // zswap_load; arg bit 6: not from the swap cache
    void invalidate(int slot) override;          // zswap_invalidate
    // arg bit 0: the shrinker's scan on this thread (direct reclaim) of
    // 1 + (arg >> 1 & 3) entries; else queue the shrink worker.
    void reclaim(uint8_t arg) override;
    void migrate(uint8_t arg) override;  // the mm core's compaction
    void invalidate_all() override;
    int writeback(Handle evict_handle) override;  // no evict callback in 6.12: -1
    void drain() override;

private:
    static void shrink_worker(sync::WorkItem* item);
    // shrink_memcg_cb for the LRU's first entry: 0 written back, 1 rotated
    // (second chance), 2 the LRU is empty, else -errno.
    int shrink_one();
    int writeback_entry(Entry* e, int slot);
    void decompress(const Entry& e, const char* who);
    void entry_free(Entry* e);

    sync::SpinLock lru_lock_;
    std::list<Entry*> lru_;  // under lru_lock_; list_lru adds at the tail and walks from the head
    unsigned writebacks_ = 0;  // which outcome the next writeback meets
};

}  // namespace z3fh::fuzz
