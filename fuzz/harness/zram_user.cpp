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
    pp_in_progress_.init(0, {sync::ObjClass::harness, 0x100});
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

bool ZramUser::same_filled(int slot, uint32_t gen, size_t size) {
    return compressed_length(slot, gen ^ 0x5a5au, size) % 16 == 0;
}

DepthCounters ZramUser::depth_counters() const {
    Hidden hidden;
    return {{"zram_slow_writes", slow_writes_}, {"zram_missed_frees", missed_frees_},
            {"zram_same_pages", same_pages_},   {"recompressions", recompressions_},
            {"zram_writebacks", writebacks_},   {"zram_writeback_aborts", writeback_aborts_}};
}

void ZramUser::lock_slot(int slot) {
    slot_lock_[slot].lock();  // zram_slot_lock (zd:66-69): a spinlock, preemption off
    pool_.enter_atomic("zram_drv.c (zram_slot_lock: spin_lock(&zram->table[index].lock))", 68);
}

void ZramUser::unlock_slot(int slot) {
    pool_.leave_atomic();
    slot_lock_[slot].unlock();
}

// zram_free_page (zd:1365-1415): every flag but UNDER_WB goes (IDLE at
// zd:1372); a written-back slot gives its block back (zd:1385-1389), a
// same-filled one its value (zd:1395-1399), any other its object.
void ZramUser::free_slot(int slot) {
    SlotFlags& f = flags_[slot];
    const bool wb = f.wb;
    const int block = f.block;
    f = SlotFlags{.under_wb = f.under_wb};
    if (wb) {
        free_block(block);
        return;
    }
    Entry* e = in_tree(slot);
    if (!e) return;
    erase(e);
    pool_.free(snapshot(e).handle);  // zd:1409 (zs_free, under the slot lock)
}

bool ZramUser::allocated(int slot) { return in_tree(slot) || flags_[slot].same || flags_[slot].wb; }

void ZramUser::accessed(int slot) {
    lock_slot(slot);
    flags_[slot].idle = false;
    unlock_slot(slot);
}

void ZramUser::stream_get(int line) {
    pool_.enter_atomic("zram_drv.c (zcomp_stream_get: local_lock(&comp->stream->lock))", line);
}

// zram_read_from_zspool (zd:1421-1463), the slot locked: a huge object is
// copied (no stream), any other decompressed with the CPU's stream, taken
// before the map and put before the unmap.
void ZramUser::read_from_zspool(int slot, const Entry& e, const char* who) {
    const bool stream = e.size != kPageSize;  // zd:1443-1446
    if (stream) stream_get(1445);
    const auto* p = static_cast<const volatile uint8_t*>(pool_.map_for(e.handle, TargetPool::MapMode::ro));
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
    check_contents(e, p, who);
    if (stream) pool_.leave_atomic();  // zd:1459
    pool_.unmap(e.handle);             // zd:1461
}

ZramUser::Entry* ZramUser::new_entry(int slot, Handle handle, size_t size, uint32_t gen) {
    Hidden hidden;
    entries_.push_back(std::make_unique<Entry>(Entry{slot, handle, size, gen}));
    return entries_.back().get();
}

int ZramUser::alloc_block() {
    Hidden hidden;
    for (int b = 1; b <= kSlots; b++)
        if (!(blocks_used_ & (1u << b))) {
            blocks_used_ |= 1u << b;
            return b;
        }
    return 0;
}

void ZramUser::free_block(int block) {
    Hidden hidden;
    blocks_used_ &= ~(1u << block);
}

// zram_write_page (zd:1520-1640).
void ZramUser::store(int slot, size_t size) {
    if (!begin(slot)) return;
    uint32_t gen;
    {
        Hidden hidden;
        gen = ++gen_[slot];
    }
    if (same_filled(slot, gen, size)) {  // zd:1531-1538: no compression, no object
        {
            Hidden hidden;
            same_pages_++;
        }
        lock_slot(slot);  // zd:1623
        free_slot(slot);
        flags_[slot].same = true;  // zd:1632-1634
        unlock_slot(slot);
        accessed(slot);
        end(slot);
        return;
    }
    size_t len = std::max(compressed_length(slot, gen, size), kObjectHeaderBytes);
    const size_t huge = pool_.huge_class_size();
    if (huge && len >= huge) len = kPageSize;  // zd:1555-1556: stored as it is
    stream_get(1542);  // zcomp_stream_get: the CPU's stream, preemption off
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
        stream_get(1542);  // compress_again / the stream taken back (zd:1586, 1594)
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
    Entry* e = new_entry(slot, r.handle, len, gen);
    lock_slot(slot);  // zd:1623
    free_slot(slot);  // zram_free_page (zd:1624)
    insert(e);
    unlock_slot(slot);
    accessed(slot);  // zd:2083-2085
    end(slot);
}

// zram_read_page (zd:1465-1480): the slot locked across the map, the
// decompression and the unmap (zram_read_from_zspool, zd:1421-1463).
void ZramUser::load(int slot, uint8_t arg) {
    (void)arg;
    if (!begin(slot)) return;
    lock_slot(slot);
    if (flags_[slot].wb) {
        // zd:1476-1482: the block is read with the slot unlocked (no pool call).
        unlock_slot(slot);
        sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
        accessed(slot);
        end(slot);
        return;
    }
    Entry* e = in_tree(slot);  // a same-filled slot has none: the page is filled (zd:1432-1439)
    if (e) read_from_zspool(slot, snapshot(e), "read");
    unlock_slot(slot);
    accessed(slot);  // zd:2053-2055
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
    const bool huge_only = (arg & 4u) != 0;
    switch (arg & 3u) {
    case 0: (void)pool_.reclaim_page(1u + ((arg >> 2) & 7u)); return;  // the shrinker
    case 1: pool_.compact_pool(); return;                              // compact_store (zd:1204-1218)
    case 2:
        if (arg & 8u) mark_idle();
        recompress(huge_only);
        return;
    default:
        if (arg & 8u) mark_idle();
        writeback_slots(huge_only);
        return;
    }
}

// mark_idle (zd:280-316): not a slot written back, under writeback or same-filled.
void ZramUser::mark_idle() {
    for (int s = 0; s < kSlots; s++) {
        lock_slot(s);
        if (allocated(s) && !flags_[s].wb && !flags_[s].under_wb && !flags_[s].same) flags_[s].idle = true;
        unlock_slot(s);
    }
}

// recompress_store (zd:1836-1992), type=huge with huge_only, else every
// slot; the slot stays locked across zram_recompress (zd:1955-1977).
void ZramUser::recompress(bool huge_only) {
    int busy = 0;
    if (!pp_in_progress_.compare_exchange(busy, 1)) return;  // zd:1917: -EAGAIN
    for (int s = 0; s < kSlots; s++) {
        lock_slot(s);
        const SlotFlags& f = flags_[s];
        Entry* e = in_tree(s);
        bool go = e && !f.wb && !f.under_wb && !f.same && !f.incompressible;  // zd:1957-1972
        if (go && huge_only) go = snapshot(e).size == kPageSize;               // ZRAM_HUGE
        const bool ok = !go || recompress_slot(s);
        unlock_slot(s);
        if (!ok) break;  // zd:1978-1981
        sync::cpu_relax();  // cond_resched (zd:1983)
    }
    pp_in_progress_.store(0);
}

// zram_recompress (zd:1683-1831), the slot locked: read the object with the
// old algorithm, compress with the next, keep the result only if it lands
// in a smaller class. The new object is allocated with the slot's spinlock
// and the stream's local lock held, with the fast path's flags (zd:1806-1810).
bool ZramUser::recompress_slot(int slot) {
    Entry* e = in_tree(slot);
    const Entry old = snapshot(e);
    read_from_zspool(slot, old, "recompress read");  // zd:1709
    flags_[slot].idle = false;  // zd:1718
    if (flags_[slot].recompressed) return true;  // no algorithm of a higher priority left (zd:1734-1735)
    const size_t len = std::max(compressed_length(slot, old.gen ^ 0xa5a5u, old.size), kObjectHeaderBytes);
    if (len * 2 > old.size) {  // no smaller class (zd:1752-1756, 1779-1793)
        flags_[slot].incompressible = true;
        return true;
    }
    stream_get(1737);
    AllocResult r = pool_.alloc(len, Gfp{false});  // zd:1806-1808
    if (r.err != Errno::ok) {
        pool_.leave_atomic();  // zd:1810: the walk ends with -ENOMEM
        return false;
    }
    auto* dst = static_cast<uint8_t*>(pool_.map_for(r.handle, TargetPool::MapMode::wo));  // zd:1816
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
    for (size_t i = 0; i < len; i++) dst[i] = pattern_byte(slot, old.gen, i);
    pool_.leave_atomic();   // zcomp_stream_put (zd:1818), before the unmap
    pool_.unmap(r.handle);  // zd:1820
    Entry* n = new_entry(slot, r.handle, len, old.gen);
    {
        Hidden hidden;
        recompressions_++;
    }
    free_slot(slot);  // zd:1822
    insert(n);        // zd:1823-1825
    flags_[slot].recompressed = true;
    return true;
}

// writeback_store (zd:598-778), type=huge with huge_only, else idle slots.
void ZramUser::writeback_slots(bool huge_only) {
    int busy = 0;
    if (!pp_in_progress_.compare_exchange(busy, 1)) return;  // zd:645: -EAGAIN
    int block = 0;
    for (int s = 0; s < kSlots; s++) {
        if (!block && !(block = alloc_block())) break;  // zd:670-676: -ENOSPC
        lock_slot(s);
        SlotFlags& f = flags_[s];
        Entry* e = in_tree(s);
        bool go = allocated(s) && !f.wb && !f.same && !f.under_wb;  // zd:679-685
        if (go) go = e && (huge_only ? snapshot(e).size == kPageSize : f.idle);  // zd:687-695
        if (!go) {
            unlock_slot(s);
            continue;
        }
        f.under_wb = true;  // zd:701-703
        f.idle = true;
        read_from_zspool(s, snapshot(e), "writeback read");  // into the writeback page (zd:704), locked
        unlock_slot(s);  // zd:709: the I/O runs unlocked
        sync::cpu_relax();  // submit_bio_wait (zd:711-720)
        lock_slot(s);    // zd:748
        if (!allocated(s) || !f.idle) {  // zd:749-754: freed, read or rewritten meanwhile
            f.under_wb = false;
            f.idle = false;
            unlock_slot(s);
            Hidden hidden;
            writeback_aborts_++;
            continue;
        }
        free_slot(s);  // zd:756
        f.under_wb = false;
        f.wb = true;  // zd:757-761
        f.block = block;
        block = 0;
        unlock_slot(s);
        Hidden hidden;
        writebacks_++;
    }
    if (block) free_block(block);  // zd:770-771
    pp_in_progress_.store(0);      // zd:774
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
