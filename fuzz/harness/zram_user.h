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
// - compact (the sysfs knob, zd:1204-1218) is zs_compact;
// - a same-filled page (page_same_filled, zd:194-214) is no object at all:
//   the slot keeps the fill value (ZRAM_SAME, zd:1531-1538, 1632-1634);
// - recompression (recompress_store, zd:1836-1992; zram_recompress,
//   zd:1683-1831) walks every slot with the slot's lock held throughout:
//   it reads the object, compresses with the next algorithm, and only if a
//   smaller class results allocates in that atomic context (no GFP_NOIO
//   retry: a failed allocation ends the walk), maps write-only, copies, puts
//   the stream before the unmap, frees the old object and records the new;
// - writeback to a backing device (writeback_store, zd:598-778) marks a
//   slot UNDER_WB and IDLE, reads its object under the slot lock, drops the
//   lock for the I/O, and keeps the result only if the slot is still
//   allocated and IDLE when it locks again (any access or free clears IDLE,
//   zd:749-754); the object is freed then, the slot records the block. A
//   read of a written-back slot reads the block outside the slot lock
//   (zd:1476-1482); a free releases the block (zd:1385-1389);
// - recompression and writeback exclude each other (pp_in_progress,
//   zd:645, 1917);
// - the memory-pressure operation's argument picks one: bits 0-1 the
//   shrinker, compact, recompress or writeback; bit 2 the huge mode (only
//   huge slots), bit 3 marks every slot idle first (`echo all > idle`,
//   mark_idle zd:280-316); the shrinker's page count is 1 + bits 2-4.
// The compressor is a deterministic fake: the length of a slot's
// compressed page is a function of the slot, its generation and the
// program's size, spread over every length from 1 to PAGE_SIZE, so that
// every size class, the lengths that span pages and the huge class are
// reached; one write in sixteen is a same-filled page; the bytes are the
// slot's pattern.
// Not modelled: the device's init_lock (taken for reading around every I/O
// and both post-processing walks; only a reset takes it for writing),
// access times, the writeback limit.
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
    // Memory pressure and the sysfs knobs, by arg bits 0-1: the pool's
    // shrinker (zsmalloc's: zs_compact too, from direct reclaim; 1 + bits 2-4
    // pages), compact, recompress, writeback (bit 2: type=huge; bit 3:
    // every slot marked idle first).
    void reclaim(uint8_t arg) override;
    void migrate(uint8_t arg) override;  // the mm core's compaction
    void invalidate_all() override;      // zram_reset_device: every slot freed
    int writeback(Handle evict_handle) override;
    void drain() override {}
    DepthCounters depth_counters() const override;
    // The fake compressor's length for a write of `slot` (generation `gen`,
    // the program's size `size`): 1 .. PAGE_SIZE.
    static size_t compressed_length(int slot, uint32_t gen, size_t size);

    // The fake compressor's verdict: the page of this write is same-filled.
    static bool same_filled(int slot, uint32_t gen, size_t size);

private:
    // A slot's table entry flags (zram_drv.h's zram_pageflags), under its lock.
    struct SlotFlags {
        bool same = false;            // ZRAM_SAME: no object, a fill value
        bool wb = false;              // ZRAM_WB: on the backing device, block `block`
        bool under_wb = false;        // ZRAM_UNDER_WB
        bool idle = false;            // ZRAM_IDLE
        bool incompressible = false;  // ZRAM_INCOMPRESSIBLE
        bool recompressed = false;    // the priority bits: a second algorithm's output
        int block = 0;
    };
    // zram_slot_lock and unlock: the slot's spinlock, and the atomic context
    // the shim holds the pool to while it is held.
    void lock_slot(int slot) Z3FH_ACQUIRE(slot_lock_[slot]);
    void unlock_slot(int slot) Z3FH_RELEASE(slot_lock_[slot]);
    // Under the slot's lock: free what the slot holds (zram_free_page: the
    // object, the block, or the fill value), clearing its flags but UNDER_WB.
    void free_slot(int slot);
    // Under the slot's lock: zram_allocated (an object, a fill value or a block).
    bool allocated(int slot);
    // zram_accessed (zd:2053-2055, 2083-2085): the slot is no longer idle.
    void accessed(int slot);
    void mark_idle();                        // mark_idle: every allocated slot
    void recompress(bool huge_only);         // recompress_store
    bool recompress_slot(int slot);          // zram_recompress; false ends the walk
    void stream_get(int line);               // zcomp_stream_get: the caller's atomic context
    void read_from_zspool(int slot, const Entry& e, const char* who);  // the slot locked
    Entry* new_entry(int slot, Handle handle, size_t size, uint32_t gen);  // not in the tree yet
    void writeback_slots(bool huge_only);    // writeback_store
    int alloc_block();                       // alloc_block_bdev: 0 when the device is full
    void free_block(int block);              // free_block_bdev
    sync::SpinLock slot_lock_[kSlots];
    SlotFlags flags_[kSlots];
    sync::Atomic<int> pp_in_progress_;       // recompress and writeback exclude each other
    uint32_t blocks_used_ = 1;               // the backing device's bitmap (block 0 unused)
    uint64_t slow_writes_ = 0;  // writes that took the GFP_NOIO path (writestall)
    uint64_t missed_frees_ = 0; // slot-free notifications that found the slot locked (miss_free)
    uint64_t same_pages_ = 0;   // same-filled writes (same_pages)
    uint64_t recompressions_ = 0;  // objects replaced by a smaller one (num_recomp_pages)
    uint64_t writebacks_ = 0;   // objects written to the backing device (bd_writes): zram_writebacks
    uint64_t writeback_aborts_ = 0;  // writebacks that found the slot touched after the I/O
    size_t limit_pages_ = 0;    // the device's mem_limit in pages (0: none)
};

}  // namespace z3fh::fuzz
