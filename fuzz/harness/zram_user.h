// z3fold-harden: zram (Linux 6.12's drivers/block/zram/zram_drv.c, zd:N its
// lines) as zsmalloc's user, our own model of it. zram is a block device
// whose sectors (here: the program's slots) are compressed pages in a
// zsmalloc pool, each slot's table entry under the slot's own spinlock:
// - a write (zram_write_page, zd:1520-1640) compresses with the CPU's stream
//   held (zcomp_stream_get: a local lock, preemption off), allocates in
//   that atomic context (__GFP_KSWAPD_RECLAIM | __GFP_NOWARN | __GFP_HIGHMEM |
//   __GFP_MOVABLE), and when that fails puts the stream, allocates with
//   GFP_NOIO (which may sleep) and compresses again; a length at or above
//   zsmalloc's huge class size is stored uncompressed (PAGE_SIZE); over the
//   memory limit it frees the handle (-ENOMEM); it maps write-only, copies,
//   puts the stream and unmaps (in that order, zd:1606-1616), then, under
//   the slot lock, frees the slot's old object and records the new one;
// - a read (zram_read_page, zd:1465-1480, 1421-1463) holds the slot lock
//   across the map, the decompression (with the stream) and the unmap;
// - the swap layer's slot-free notification (zd:2118-2132) only trylocks the
//   slot (a miss leaves the object allocated until the slot is written
//   again); a discard takes the lock;
// - compact (the sysfs knob, zd:1204-1218) is zs_compact.
// The compressor is a deterministic fake: the length of a slot's
// compressed page is a function of the slot, its generation and the
// program's size, spread over every length from 1 to PAGE_SIZE, so that
// every size class, the lengths that span pages and the huge class are
// reached; the bytes are the slot's pattern.
// Not modelled: writeback to a backing device, recompression, same-filled
// pages, idle tracking, the device's init_lock (taken for reading around
// every I/O; only a reset takes it for writing).
#pragma once
#include "harness/zswap_user.h"

namespace z3fh::fuzz {

// zswap_user.h's interface is a compressed swap device's: zram is the other one.
class ZramUser final : public ZswapUser {
public:
    ZramUser(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx);

    void store(int slot, size_t size) override;  // zram_write_page
    void load(int slot, uint8_t arg) override;   // zram_read_page
    // arg bit 0 of the free op's: a discard (slot locked) rather than the
    // slot-free notification (trylock).
    void invalidate(int slot) override;
    // Memory pressure: arg bit 0, compact (zs_compact); else the pool's
    // shrinker (zsmalloc's: zs_compact too, from direct reclaim).
    void reclaim(uint8_t arg) override;
    void migrate(uint8_t arg) override;  // the mm core's compaction
    void invalidate_all() override;      // zram_reset_device: every slot freed
    int writeback(Handle evict_handle) override;
    void drain() override {}
    DepthCounters depth_counters() const override;
    // The fake compressor's length for a write of `slot` (generation `gen`,
    // the program's size `size`): 1 .. PAGE_SIZE.
    static size_t compressed_length(int slot, uint32_t gen, size_t size);

private:
    // zram_slot_lock and unlock: the slot's spinlock, and the atomic context
    // the shim holds the pool to while it is held.
    void lock_slot(int slot) Z3FH_ACQUIRE(slot_lock_[slot]);
    void unlock_slot(int slot) Z3FH_RELEASE(slot_lock_[slot]);
    // Under the slot's lock: free the slot's object (zram_free_page).
    void free_slot(int slot);
    sync::SpinLock slot_lock_[kSlots];
    uint64_t slow_writes_ = 0;  // writes that took the GFP_NOIO path (writestall)
    uint64_t missed_frees_ = 0; // slot-free notifications that found the slot locked (miss_free)
    size_t limit_pages_ = 0;    // the device's mem_limit in pages (0: none)
};

}  // namespace z3fh::fuzz
