// z3fold-harden: Linux 6.1's zswap as the pool's user. Our own model of
// mm/zswap.c (Debian 6.1.192), written from its source; docs/zswap-model.md
// lists each behaviour with the zswap.c lines it follows and the test that
// shows it. What makes it zswap and not a generic zpool user:
// - an offset (slot) maps to an entry in a tree under a spinlock; entries
//   are reference counted under that lock and the last put frees the
//   entry's own handle, with the tree lock held; one operation of an offset
//   runs at a time (the swap cache's folio lock);
// - a store invalidates the offset's entry first (frontswap), allocates
//   with zswap's gfp (no __GFP_DIRECT_RECLAIM), writes a header naming the
//   offset and the data, then inserts the entry;
// - a load keeps the object mapped across the whole decompression;
// - writeback (the evict callback) runs only from the pool's one shrink
//   work item, maps the handle reclaim gives it, finds its entry by the
//   header it reads, returns 0 when there is none, frees the entry's own
//   handle (never the one it was given), keeps the mapping until after that
//   free, and on -EEXIST/-ENOMEM may still free it (the `fail:` path).
#pragma once
#include <memory>
#include <vector>

#include "target/target.h"
#include "program/program.h"
#include "shadow/shadow.h"
#include "sync/sync.h"

namespace z3fh::fuzz {

class ZswapUser {
public:
    using FindingFn = void (*)(void* ctx, const ShadowFinding& f);
    // Construct with the scheduler installed (the shrink queue's worker is
    // one of its threads). `slots` mirrors the tree for the shadow model: a
    // slot is live while an entry for its offset is in the tree.
    ZswapUser(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx);
    ~ZswapUser();
    ZswapUser(const ZswapUser&) = delete;
    ZswapUser& operator=(const ZswapUser&) = delete;

    // The program's operations, as zswap performs them (runner.cpp maps
    // alloc, free, write/verify/compact and reclaim onto these).
    void store(int slot, size_t size);  // zswap_frontswap_store
    void load(int slot);                // zswap_frontswap_load
    void invalidate(int slot);          // zswap_frontswap_invalidate_page
    void queue_shrink();                // a store that found the pool full queues shrink_work
    // The mm core's compaction (TargetPool::mm_compact, arg as there); on a
    // target without an mm core (the port), migration of the page of this
    // offset's object through an entry reference, which pins the handle.
    void migrate(uint8_t arg);
    // The pool's end (pool release after the last entry's put): wait for
    // the shrink worker, then free every entry, as invalidate_area does.
    void invalidate_all();
    // The zpool evict callback: zswap_writeback_entry.
    int writeback(Handle evict_handle);
    // Main context, after the run: run what the shrink queue still holds.
    void drain();

private:
    struct Entry {
        int slot;
        Handle handle;
        size_t size;
        uint32_t gen;
        int refcount;  // under tree_lock_; the tree's own reference is one
    };
    struct ShrinkWork {
        sync::WorkItem item;  // first: the queue hands the item back
        ZswapUser* user;
    };
    static void shrink_worker(sync::WorkItem* item);
    // Under tree_lock_.
    Entry* find_get(int slot);
    void put(Entry* e);     // the last put frees the entry's handle
    void erase(Entry* e);   // off the tree: the slot is empty for the shadow
    void insert(Entry* e);  // into the tree: the slot is live
    void drop(int slot);    // erase and put the offset's entry, if any
    // One store, load or invalidate of an offset at a time: in 6.1 the swap
    // cache's folio lock (and SWAP_HAS_CACHE) serialises them; a second one
    // finds the folio busy, and the model skips it.
    bool begin(int slot);
    void end(int slot);
    void check_contents(const Entry& e, const volatile uint8_t* obj, const char* who);

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
    unsigned writebacks_ = 0;  // which outcome the next writeback meets
    ShrinkWork shrink_work_{};
    std::unique_ptr<sync::WorkQueue> shrink_wq_;
};

}  // namespace z3fh::fuzz
