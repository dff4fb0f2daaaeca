// z3fold-harden: zswap as the pool's user. Our own models of mm/zswap.c,
// written from its source, one per kernel series: Linux 6.1's
// (zswap61_user.h: writeback through zpool's evict callback) and 6.12's
// (zswap612_user.h: writeback from zswap's own LRU). docs/zswap-model.md
// lists each behaviour with the zswap.c lines it follows and the test that
// shows it. What both are, and this base keeps once:
// - an offset (slot) maps to an entry in a tree under a lock; the shadow
//   model's slot table mirrors the tree (a slot is live while an entry for
//   its offset is in the tree);
// - one store, load, invalidate or writeback of an offset runs at a time
//   (the swap cache's folio lock and SWAP_HAS_CACHE serialise them; a second
//   one finds the folio busy, and the model skips it);
// - a store allocates with zswap's gfp (no __GFP_DIRECT_RECLAIM), writes a
//   header naming the offset and the data, then inserts the entry;
// - what a map gives is compared with what the store wrote.
#pragma once
#include <memory>
#include <vector>

#include "program/program.h"
#include "shadow/shadow.h"
#include "sync/sync.h"
#include "target/target.h"

namespace z3fh::fuzz {

class ZswapUser {
public:
    using FindingFn = void (*)(void* ctx, const ShadowFinding& f);
    virtual ~ZswapUser();
    ZswapUser(const ZswapUser&) = delete;
    ZswapUser& operator=(const ZswapUser&) = delete;

    // The program's operations, as zswap performs them (operations.cpp maps
    // alloc, free, write/verify/compact, reclaim and migrate onto these).
    virtual void store(int slot, size_t size) = 0;
    // arg: the op's argument (bits 0-2 name the slot; the 6.12 model: bit 6,
    // a load that finds the folio outside the swap cache and keeps the entry).
    virtual void load(int slot, uint8_t arg) = 0;
    virtual void invalidate(int slot) = 0;
    // Memory pressure: 6.1 queues the pool's shrink work; 6.12 queues the
    // shrink worker or runs the shrinker's scan on this thread (arg bit 0),
    // as direct reclaim does.
    virtual void reclaim(uint8_t arg) = 0;
    // The mm core's compaction (TargetPool::mm_compact, arg as there); on a
    // target without an mm core (the port), migration of the page of this
    // offset's object, with the object pinned.
    virtual void migrate(uint8_t arg) = 0;
    // The pool's end: wait for writeback, then free every entry, as the
    // swap area's teardown does.
    virtual void invalidate_all() = 0;
    // The zpool evict callback (6.1 only); -1 where the series has none.
    virtual int writeback(Handle evict_handle) = 0;
    // Main context, after the run: run what the shrink queue still holds.
    virtual void drain() = 0;
    // The depth counters the user adds: objects written back.
    virtual DepthCounters depth_counters() const;

protected:
    struct Entry {
        int slot;
        Handle handle;
        size_t size;
        uint32_t gen;
        int refcount = 1;         // 6.1: under the tree lock; the tree's own reference is one
        bool referenced = false;  // 6.12: the LRU's second chance
        bool on_lru = false;      // 6.12: under the LRU lock
    };
    ZswapUser(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx);

    // What zswap's writeback returns when the swap cache has the offset's
    // folio, or none can be had.
    static constexpr int kEexist = -17;
    static constexpr int kEnomem = -12;
    // The pool's shrink work: one item on a queue of its own (a work item
    // never runs on two CPUs at once). `fn` gets the item; shrink_work_user
    // gives the model back.
    void init_shrink_work(void (*fn)(sync::WorkItem*), uint32_t queue_serial);
    static ZswapUser* shrink_work_user(sync::WorkItem* item);
    void queue_shrink_work() { (void)shrink_wq_->queue(&shrink_work_.item, 0); }

    // Under tree_lock_.
    void insert(Entry* e);  // into the tree: the slot is live
    void erase(Entry* e);   // off the tree: the slot is empty for the shadow
    Entry* in_tree(int slot);
    // The store's part every series shares: allocate with zswap's gfp, map,
    // write the header and the data, unmap. nullptr when the allocation
    // fails. The entry is not in the tree yet.
    Entry* compress_and_write(int slot, size_t size);
    // One operation of an offset at a time (the folio lock).
    bool begin(int slot);
    void end(int slot);
    void check_contents(const Entry& e, const volatile uint8_t* obj, const char* who);
    // Read the entry under the harness's own hiding (bookkeeping, not the pool's).
    Entry snapshot(const Entry* e);

    TargetPool& pool_;
    SlotState (&slots_)[kSlots];
    const Program& prog_;
    FindingFn finding_;
    void* ctx_;
    sync::SpinLock tree_lock_;
    Entry* tree_[kSlots] = {};
    uint32_t gen_[kSlots] = {};
    bool busy_[kSlots] = {};
    std::vector<std::unique_ptr<Entry>> entries_;
    struct ShrinkWork {
        sync::WorkItem item;  // first: the queue hands the item back
        ZswapUser* user;
    };
    ShrinkWork shrink_work_{};
    std::unique_ptr<sync::WorkQueue> shrink_wq_;
    uint64_t written_back_ = 0;  // writebacks that freed their entry
};

// The model of the series the target runs: 6.1's where the pool reclaims
// through an evict callback (the port too), 6.12's where it has no LRU.
std::unique_ptr<ZswapUser> make_zswap_user(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog,
                                           ZswapUser::FindingFn finding, void* ctx);
// zram's model (zram_user.h), for a zsmalloc target.
std::unique_ptr<ZswapUser> make_zram_user(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog,
                                          ZswapUser::FindingFn finding, void* ctx);

}  // namespace z3fh::fuzz
