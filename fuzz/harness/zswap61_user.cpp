// z3fold-harden: Linux 6.1's zswap as the pool's user (zswap61_user.h).
// Line references zs:N are Linux 6.1's mm/zswap.c (Debian 6.1.192-3);
// docs/zswap-model.md has the table.
#include "harness/zswap61_user.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::fuzz {

namespace {
using Hidden = sync::TsanHidden;
// zswap's shrink_worker calls zpool_shrink(pool, 1, NULL): one
// z3fold_reclaim_page with 8 retries (zs:595, z3fold_zpool_shrink).
constexpr unsigned kShrinkRetries = 8;
}  // namespace

Zswap61User::Zswap61User(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding,
                         void* ctx)
    : ZswapUser(pool, slots, prog, finding, ctx) {
    // zswap-shrink: a work item never runs on two CPUs at once, so one pool
    // has one reclaim at a time (zs:590-598, 651).
    init_shrink_work(&Zswap61User::shrink_worker, 100);
}

Zswap61User::~Zswap61User() = default;

void Zswap61User::drop(int slot) {
    Entry* e;
    {
        Hidden hidden;
        e = tree_[slot];
    }
    if (!e) return;
    erase(e);
    put(e);
}

ZswapUser::Entry* Zswap61User::find_get(int slot) {
    Hidden hidden;
    Entry* e = tree_[slot];
    if (e) e->refcount++;  // zswap_entry_get (zs:378-382)
    return e;
}

// zswap_entry_put (zs:384-397): the last put frees the entry, and with it
// the entry's own handle, under the tree lock (zswap_free_entry, zs:361-376),
// then reads the pool's size (zswap_update_total_size, zs:255-268).
void Zswap61User::put(Entry* e) {
    bool last;
    Handle h;
    {
        Hidden hidden;
        last = --e->refcount == 0;
        h = e->handle;
    }
    if (!last) return;
    pool_.free(h);
    (void)pool_.total_size();
}

// zswap_frontswap_store (zs:1115-1303), as __frontswap_store calls it.
void Zswap61User::store(int slot, size_t size) {
    if (!begin(slot)) return;
    // An offset that has an entry is invalidated first (frontswap.c:181-184),
    // so zswap's own duplicate branch below is the rare fallback.
    tree_lock_.lock();
    drop(slot);
    tree_lock_.unlock();
    // The object is the 8-byte zswap header, then the data (zs:1235),
    // allocated with zswap's gfp (zs:1236-1238), written through a
    // write-only mapping before the entry is in the tree (zs:1248-1252): a
    // writeback of this object now finds no entry (zs:975-981).
    Entry* e = compress_and_write(slot, size);
    if (!e) {  // reject_compress_poor / reject_alloc_fail: no shrink (zs:1240-1247)
        end(slot);
        return;
    }
    // The insert; an entry already at this offset is the duplicate store:
    // erased and put (zs:1267-1278).
    tree_lock_.lock();
    drop(slot);
    insert(e);
    tree_lock_.unlock();
    end(slot);
}

// zswap_frontswap_load (zs:1309-1383): the entry is pinned by a reference,
// and its object stays mapped for the whole decompression (z3fold is
// sleep_mapped): a writeback of the same object may map it meanwhile.
void Zswap61User::load(int slot, uint8_t arg) {
    (void)arg;
    if (!begin(slot)) return;
    tree_lock_.lock();
    Entry* e = find_get(slot);
    tree_lock_.unlock();
    if (!e) {
        end(slot);
        return;
    }
    const Entry v = snapshot(e);
    const auto* p = static_cast<const volatile uint8_t*>(pool_.map_for(v.handle, TargetPool::MapMode::ro));
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
    check_contents(v, p, "load");
    pool_.unmap(v.handle);
    tree_lock_.lock();
    put(e);  // only the load's own reference: 6.1's load leaves the entry in the tree
    tree_lock_.unlock();
    end(slot);
}

void Zswap61User::migrate(uint8_t arg) {
    if (pool_.mm_compact(arg)) return;
    const int slot = arg & (kSlots - 1);
    tree_lock_.lock();
    Entry* e = find_get(slot);
    tree_lock_.unlock();
    if (!e) return;
    (void)pool_.migrate_handle_page(snapshot(e).handle);
    tree_lock_.lock();
    put(e);
    tree_lock_.unlock();
}

// zswap_frontswap_invalidate_page (zs:1386-1407).
void Zswap61User::invalidate(int slot) {
    if (!begin(slot)) return;
    tree_lock_.lock();
    drop(slot);
    tree_lock_.unlock();
    end(slot);
}

// zswap_frontswap_store's shrink path: queue_work(shrink_wq, &pool->shrink_work) (zs:1297-1302).
void Zswap61User::reclaim(uint8_t arg) {
    (void)arg;
    queue_shrink_work();
}

void Zswap61User::shrink_worker(sync::WorkItem* item) {
    auto* self = static_cast<Zswap61User*>(shrink_work_user(item));
    (void)self->pool_.reclaim_page(kShrinkRetries);
}

void Zswap61User::invalidate_all() {
    // The pool is released after its last reference, which the shrink
    // worker holds while it runs (zs:595-597).
    shrink_wq_->flush();
    tree_lock_.lock();
    for (int s = 0; s < kSlots; s++) drop(s);
    tree_lock_.unlock();
}

void Zswap61User::drain() { shrink_wq_->flush(); }

// zswap_writeback_entry (zs:942-1087), the evict callback.
int Zswap61User::writeback(Handle evict_handle) {
    // Map the handle reclaim gives (zs:967) and read the header.
    const auto* hdr = static_cast<const volatile uint8_t*>(pool_.map_for(evict_handle, TargetPool::MapMode::ro));
    {
        Hidden hidden;
        ShadowFinding f;
        if (!check_evict_mapping(pool_, evict_handle, hdr, &f)) {
            pool_.unmap(evict_handle);
            finding_(ctx_, f);
            return -1;
        }
    }
    int slot = 0;
    uint32_t gen = 0;
    bool named;
    {
        // A store writes the header before it inserts the entry, and reclaim
        // may evict the object meanwhile: that race is zswap's own (it then
        // finds no entry), so the read is hidden from TSan.
        Hidden hidden;
        named = read_object_header(hdr, &slot, &gen);
    }
    tree_lock_.lock();
    Entry* e = named ? find_get(slot) : nullptr;
    tree_lock_.unlock();
    if (!e) {
        pool_.unmap(evict_handle);
        return 0;  // no entry: "it's okay to return 0" (zs:975-981), nothing freed
    }
    ZswapWriteback outcome;
    Entry v;
    {
        Hidden hidden;
        outcome = zswap_writeback(prog_.evict_action(writebacks_++));
        v = *e;
        // A store, load or invalidate of this offset in flight has its folio
        // in the swap cache: __read_swap_cache_async finds it (zs:998-1002).
        if (busy_[v.slot]) outcome = ZswapWriteback::eexist;
    }
    int ret = 0;
    if (outcome == ZswapWriteback::eexist || outcome == ZswapWriteback::enomem) {
        // __read_swap_cache_async: the page is in the swap cache (a load has
        // it: -EEXIST) or cannot be had (-ENOMEM) (zs:993-1002). `fail:`
        // drops the local reference, which frees the entry (and its handle)
        // if it was invalidated meanwhile, and still returns the error
        // (zs:1075-1078).
        ret = outcome == ZswapWriteback::eexist ? kEexist : kEnomem;
        tree_lock_.lock();
        put(e);
        tree_lock_.unlock();
    } else {
        // Decompress from the mapping reclaim's handle gave (zs:1023-1040).
        // zswap trusts the header it read and never checks that the entry's
        // handle is the one it mapped (zs:967-990): a header left in memory
        // by an object that compaction moved away, or by a freed one, names a
        // live entry whose object is elsewhere, and zswap then writes back
        // the wrong bytes for it. That race is zswap's own; the allocator is
        // judged only when the mapping is the entry's own object.
        bool own_object;
        {
            Hidden hidden;
            ResolvedHandle r;
            own_object = v.gen == gen && pool_.resolve(v.handle, &r) && r.object == const_cast<const uint8_t*>(hdr);
        }
        if (own_object) check_contents(v, hdr, "writeback");
        if (outcome == ZswapWriteback::written_back_after_io)
            sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, 0xfffeu});  // the I/O sleeps
        // Drop the local reference, then the tree's if the entry is still
        // there: the last put frees entry->handle, under the tree lock
        // (zs:1051-1066).
        tree_lock_.lock();
        put(e);
        bool in_tree;
        {
            Hidden hidden;
            in_tree = tree_[v.slot] == e;
        }
        if (in_tree) {
            erase(e);
            put(e);
        }
        tree_lock_.unlock();
        Hidden hidden;
        written_back_++;
    }
    // end: the mapping of the evict handle is dropped after the free (zs:1080-1086).
    pool_.unmap(evict_handle);
    return ret;
}

}  // namespace z3fh::fuzz
