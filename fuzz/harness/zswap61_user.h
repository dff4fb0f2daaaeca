// z3fold-harden: Linux 6.1's zswap as the pool's user (zswap_user.h has
// what every series shares). What makes it 6.1's:
// - entries are reference counted under the tree's spinlock and the last
//   put frees the entry's own handle, with the tree lock held;
// - a store invalidates the offset's entry first (frontswap);
// - a load keeps the object mapped across the whole decompression and
//   leaves the entry in the tree;
// - writeback (the zpool evict callback) runs only from the pool's one
//   shrink work item, maps the handle reclaim gives it, finds its entry by
//   the header it reads, returns 0 when there is none, frees the entry's
//   own handle (never the one it was given), keeps the mapping until after
//   that free, and on -EEXIST/-ENOMEM may still free it (the `fail:` path).
#pragma once
#include "harness/zswap_user.h"

namespace z3fh::fuzz {

class Zswap61User final : public ZswapUser {
public:
    // Construct with the scheduler installed (the shrink queue's worker is
    // one of its threads).
    Zswap61User(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx);
    ~Zswap61User() override;

    void store(int slot, size_t size) override;  // zswap_frontswap_store
    void load(int slot, uint8_t arg) override;   // zswap_frontswap_load
    void invalidate(int slot) override;          // zswap_frontswap_invalidate_page
    void reclaim(uint8_t arg) override;          // a store that found the pool full queues shrink_work
    void migrate(uint8_t arg) override;          // through an entry reference, which pins the handle
    void invalidate_all() override;
    int writeback(Handle evict_handle) override;  // zswap_writeback_entry
    void drain() override;

private:
    static void shrink_worker(sync::WorkItem* item);
    // Under tree_lock_.
    Entry* find_get(int slot);
    void put(Entry* e);     // the last put frees the entry's handle
    void drop(int slot);    // erase and put the offset's entry, if any

    unsigned writebacks_ = 0;  // which outcome the next writeback meets
};

}  // namespace z3fh::fuzz
