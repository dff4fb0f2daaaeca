// z3fold-harden: Linux 6.12's zswap as the pool's user (zswap612_user.h).
// zs:N are lines of Linux 6.12's mm/zswap.c (Debian 6.12.118-1~deb12u1);
// docs/zswap-model.md has the table.
#include "harness/zswap612_user.h"

#include <algorithm>

namespace z3fh::fuzz {

namespace {
using Hidden = sync::TsanHidden;
// shrink_worker reclaims until the pool is under its accept threshold or
// MAX_RECLAIM_RETRIES shrinks failed (zs:1369-1454); the model has no size
// limit, so a run of the worker makes this many attempts, one entry each
// (shrink_memcg walks one entry a node, zs:1275-1300).
constexpr int kWorkerAttempts = 4;
}  // namespace

Zswap612User::Zswap612User(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding,
                           void* ctx)
    : ZswapUser(pool, slots, prog, finding, ctx) {
    lru_lock_.init({sync::ObjClass::zswap_lru, 0});
    // zswap_shrink_work on shrink_wq: a work item never runs on two CPUs at
    // once (zs:1763-1775 create the queue and the item, zs:1572 queues it).
    init_shrink_work(&Zswap612User::shrink_worker, 101);
}

Zswap612User::~Zswap612User() = default;

// zswap_entry_free (zs:800-811): off the LRU under its lock, then the handle.
void Zswap612User::entry_free(Entry* e) {
    lru_lock_.lock();
    {
        Hidden hidden;
        if (e->on_lru) {
            lru_.remove(e);
            e->on_lru = false;
        }
    }
    lru_lock_.unlock();
    pool_.free(snapshot(e).handle);
}

// zswap_decompress (zs:1004-1044): the object mapped read-only for the whole
// decompression (z3fold and zbud can sleep mapped: no copy); the
// decompression may sleep.
void Zswap612User::decompress(const Entry& e, const char* who) {
    const auto* p = static_cast<const volatile uint8_t*>(pool_.map_for(e.handle, TargetPool::MapMode::ro));
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(e.slot)});
    check_contents(e, p, who);
    pool_.unmap(e.handle);
}

// zswap_store (zs:1459-1582), with the folio locked in the swap cache.
void Zswap612User::store(int slot, size_t size) {
    if (!begin(slot)) return;
    Entry* e = compress_and_write(slot, size);  // zswap_compress (zs:935-1002)
    tree_lock_.lock();
    Entry* old = in_tree(slot);
    if (old) erase(old);
    if (e) {
        insert(e);  // xa_store (zs:1531)
        Hidden hidden;
        e->referenced = true;  // zs:1529
    }
    tree_lock_.unlock();
    // The entry it replaced, or on failure the offset's old entry (check_old,
    // zs:1576-1580): freed outside the tree's lock.
    if (old) entry_free(old);
    if (e) {
        // zswap_lru_add (zs:1549-1552): on the LRU after it is in the tree.
        lru_lock_.lock();
        {
            Hidden hidden;
            lru_.push_back(e);
            e->on_lru = true;
        }
        lru_lock_.unlock();
    }
    end(slot);
}

// zswap_load (zs:1585-1625).
void Zswap612User::load(int slot, uint8_t arg) {
    if (!begin(slot)) return;
    const bool swapcache = (arg & 0x40u) == 0;
    tree_lock_.lock();
    Entry* e = in_tree(slot);
    if (e && swapcache) erase(e);  // xa_erase (zs:1606-1609)
    tree_lock_.unlock();
    if (e) {
        decompress(snapshot(e), "load");
        if (swapcache) entry_free(e);  // zs:1618-1621
    }
    end(slot);
}

// zswap_invalidate (zs:1644-1653): the swap slot is freed. Some callers
// hold the swap device's lock around it (swapfile.c:247-249), others none
// (put_swap_folio): the model takes the strictest, atomic context.
void Zswap612User::invalidate(int slot) {
    if (!begin(slot)) return;
    pool_.enter_atomic("swapfile.c (spin_lock(&si->lock), the 6.12 swap device's lock)", 247);
    tree_lock_.lock();
    Entry* e = in_tree(slot);
    if (e) erase(e);
    tree_lock_.unlock();
    if (e) entry_free(e);
    pool_.leave_atomic();
    end(slot);
}

void Zswap612User::reclaim(uint8_t arg) {
    if ((arg & 1u) == 0) {
        queue_shrink_work();  // a store rejected while the pool is full (zs:1571-1572)
        return;
    }
    // zswap_shrinker_scan (zs:1232-1250): list_lru_shrink_walk; a folio found
    // in the swap cache stops the walk (zs:1213-1220).
    const int n = 1 + ((arg >> 1) & 3);
    for (int i = 0; i < n; i++) {
        int rc = shrink_one();
        if (rc == 2 || rc == kEexist) return;
    }
}

void Zswap612User::shrink_worker(sync::WorkItem* item) {
    auto* self = static_cast<Zswap612User*>(shrink_work_user(item));
    for (int i = 0; i < kWorkerAttempts; i++)
        if (self->shrink_one() == 2) return;
}

// shrink_memcg_cb (zs:1150-1230) on the LRU's first entry.
int Zswap612User::shrink_one() {
    lru_lock_.lock();
    Entry* e;
    bool second_chance = false;
    int slot = 0;
    {
        Hidden hidden;
        e = lru_.empty() ? nullptr : lru_.front();
        if (e) {
            // Rotated either way: a referenced entry loses its bit; the one
            // written back is unlinked by the free path, and a failure leaves
            // it rotated (zs:1162-1198).
            second_chance = e->referenced;
            e->referenced = false;
            lru_.splice(lru_.end(), lru_, lru_.begin());
            slot = e->slot;  // swpentry, copied before the lock is dropped (zs:1200-1205)
        }
    }
    lru_lock_.unlock();
    if (!e) return 2;
    if (second_chance) return 1;
    return writeback_entry(e, slot);
}

// zswap_writeback_entry (zs:1056-1131). `e` may be freed already: it is
// compared with the tree's entry before it is used.
int Zswap612User::writeback_entry(Entry* e, int slot) {
    ZswapWriteback outcome;
    {
        Hidden hidden;
        outcome = zswap_writeback(prog_.evict_action(writebacks_++));
    }
    // __read_swap_cache_async (zs:1071-1087): no folio (-ENOMEM), or one the
    // offset already has: a swapin, a store or another reclaimer (-EEXIST).
    if (outcome == ZswapWriteback::enomem) return kEnomem;
    if (outcome == ZswapWriteback::eexist || !begin(slot)) return kEexist;
    tree_lock_.lock();
    const bool still = in_tree(slot) == e;  // xa_cmpxchg (zs:1099-1104)
    if (still) erase(e);
    tree_lock_.unlock();
    if (!still) {
        end(slot);
        return kEnomem;
    }
    decompress(snapshot(e), "writeback");
    entry_free(e);  // zs:1112
    {
        Hidden hidden;
        written_back_++;
    }
    if (outcome == ZswapWriteback::written_back_after_io)
        sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, 0xfffeu});  // __swap_writepage
    end(slot);
    return 0;
}

void Zswap612User::migrate(uint8_t arg) { (void)pool_.mm_compact(arg); }

void Zswap612User::invalidate_all() {
    shrink_wq_->flush();
    for (int s = 0; s < kSlots; s++) invalidate(s);
}

int Zswap612User::writeback(Handle evict_handle) {
    (void)evict_handle;
    return -1;
}

void Zswap612User::drain() { shrink_wq_->flush(); }

}  // namespace z3fh::fuzz
