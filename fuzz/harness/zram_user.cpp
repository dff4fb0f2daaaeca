// z3fold-harden: the zram model (zram_user.h); zd:N are the lines of Linux
// 6.12's drivers/block/zram/zram_drv.c (Debian 6.12.118-1~deb12u1).
#include "harness/zram_user.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::fuzz {

using Hidden = sync::TsanHidden;

namespace {
constexpr size_t kPageSize = 4096;
}  // namespace

ZramUser::ZramUser(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx)
    : ZswapUser(pool, slots, prog, finding, ctx) {
    for (int s = 0; s < kSlots; s++) slot_lock_[s].init({sync::ObjClass::zram_slot, static_cast<uint32_t>(s)});
    // mem_limit (zd:249): the program's evict-policy byte, unused by zram
    // otherwise, sets it in a quarter of programs (1 to 8 pages).
    if ((prog.evict_policy & 0xc0u) == 0xc0u) limit_pages_ = 1 + (prog.evict_policy & 7u);
}

size_t ZramUser::compressed_length(int slot, uint32_t gen, size_t size) {
    uint64_t h = (static_cast<uint64_t>(size) * 0x9e3779b97f4a7c15ULL) ^ (static_cast<uint64_t>(slot) << 32) ^ gen;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return 1 + static_cast<size_t>(h % kPageSize);
}

DepthCounters ZramUser::depth_counters() const {
    Hidden hidden;
    return {{"zram_slow_writes", slow_writes_}, {"zram_missed_frees", missed_frees_}};
}

void ZramUser::lock_slot(int slot) {
    slot_lock_[slot].lock();  // zram_slot_lock (zd:66-69): a spinlock, preemption off
    pool_.enter_atomic("zram_drv.c (zram_slot_lock: spin_lock(&zram->table[index].lock))", 68);
}

void ZramUser::unlock_slot(int slot) {
    pool_.leave_atomic();
    slot_lock_[slot].unlock();
}

void ZramUser::free_slot(int slot) {
    Entry* e = in_tree(slot);
    if (!e) return;
    erase(e);
    pool_.free(snapshot(e).handle);  // zd:1409 (zs_free, under the slot lock)
}

// zram_write_page (zd:1520-1640).
void ZramUser::store(int slot, size_t size) {
    if (!begin(slot)) return;
    uint32_t gen;
    {
        Hidden hidden;
        gen = ++gen_[slot];
    }
    size_t len = std::max(compressed_length(slot, gen, size), kObjectHeaderBytes);
    const size_t huge = pool_.huge_class_size();
    if (huge && len >= huge) len = kPageSize;  // zd:1555-1556: stored as it is
    // zcomp_stream_get (zd:1542): the CPU's stream, preemption off.
    pool_.enter_atomic("zram_drv.c (zcomp_stream_get: local_lock(&comp->stream->lock))", 1542);
    AllocResult r = pool_.alloc(len, Gfp{false});  // zd:1571-1575
    if (r.err != Errno::ok) {
        pool_.leave_atomic();  // zcomp_stream_put (zd:1577)
        {
            Hidden hidden;
            slow_writes_++;
        }
        r = pool_.alloc(len, Gfp{true});  // GFP_NOIO (zd:1579-1581)
        if (r.err != Errno::ok) {
            end(slot);
            return;
        }
        // compress_again / the stream taken back (zd:1586, 1594)
        pool_.enter_atomic("zram_drv.c (zcomp_stream_get: local_lock(&comp->stream->lock))", 1542);
    }
    if (limit_pages_ && pool_.total_size() / kPageSize > limit_pages_) {  // zd:1597-1604
        pool_.leave_atomic();
        pool_.free(r.handle);
        end(slot);
        return;
    }
    auto* p = static_cast<uint8_t*>(pool_.map_for(r.handle, TargetPool::MapMode::wo));  // zd:1606
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
    for (size_t i = 0; i < len; i++) p[i] = pattern_byte(slot, gen, i);
    pool_.leave_atomic();  // zcomp_stream_put (zd:1615), before the unmap
    pool_.unmap(r.handle);  // zd:1616
    Entry* e;
    {
        Hidden hidden;
        entries_.push_back(std::make_unique<Entry>(Entry{slot, r.handle, len, gen}));
        e = entries_.back().get();
    }
    lock_slot(slot);  // zd:1623
    free_slot(slot);  // zram_free_page (zd:1624)
    insert(e);
    unlock_slot(slot);
    end(slot);
}

// zram_read_page (zd:1465-1480): the slot locked across the map, the
// decompression and the unmap (zram_read_from_zspool, zd:1421-1463).
void ZramUser::load(int slot, uint8_t arg) {
    (void)arg;
    if (!begin(slot)) return;
    lock_slot(slot);
    Entry* e = in_tree(slot);
    if (e) {
        const Entry copy = snapshot(e);
        const bool stream = copy.size != kPageSize;  // a huge page is copied, not decompressed (zd:1443-1446)
        if (stream) pool_.enter_atomic("zram_drv.c (zcomp_stream_get: local_lock(&comp->stream->lock))", 1445);
        const auto* p = static_cast<const volatile uint8_t*>(pool_.map_for(copy.handle, TargetPool::MapMode::ro));
        sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
        check_contents(copy, p, "read");
        if (stream) pool_.leave_atomic();  // zd:1459, before the unmap
        pool_.unmap(copy.handle);          // zd:1461
    }
    unlock_slot(slot);
    end(slot);
}

// zram_slot_free_notify (zd:2118-2132): the swap slot is freed; a slot
// whose lock is taken is left as it is (miss_free).
void ZramUser::invalidate(int slot) {
    if (!begin(slot)) return;
    if (!slot_lock_[slot].try_lock()) {  // zram_slot_trylock (zd:61-64)
        Hidden hidden;
        missed_frees_++;
    } else {
        pool_.enter_atomic("zram_drv.c (zram_slot_trylock: spin_trylock(&zram->table[index].lock))", 63);
        free_slot(slot);
        unlock_slot(slot);
    }
    end(slot);
}

void ZramUser::reclaim(uint8_t arg) {
    if (arg & 1u) pool_.compact_pool();  // compact_store (zd:1204-1218)
    else (void)pool_.reclaim_page(1u + ((arg >> 1) & 7u));
}

void ZramUser::migrate(uint8_t arg) { (void)pool_.mm_compact(arg); }

// zram_reset_device -> zram_meta_free (every slot's object freed).
void ZramUser::invalidate_all() {
    for (int s = 0; s < kSlots; s++) {
        lock_slot(s);
        free_slot(s);
        unlock_slot(s);
    }
}

int ZramUser::writeback(Handle evict_handle) {
    (void)evict_handle;
    return -1;
}

}  // namespace z3fh::fuzz
