// z3fold-harden: the z3fold pool: create, destroy, alloc, free, map, unmap,
// reclaim through an evict callback, compaction and page migration.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "handle.h"
#include "layout.h"
#include "list.h"
#include "page_header.h"
#include "page_source.h"
#include "sync/sync.h"

namespace z3fh {

// Kernel-style error numbers, returned as a typed value (no exceptions).
enum class Errno : int { ok = 0, again = 11, nomem = 12, busy = 16, inval = 22, nospc = 28 };
const char* errno_name(Errno e);

struct [[nodiscard]] AllocResult {
    Errno err;
    Handle handle;
};

// gfp: whether the caller may sleep (cond_resched in the lookup loop).
struct Gfp {
    bool can_sleep = true;
};

// zpool_ops->evict: write the object back and free it (usually with
// pool.free(handle)); non-zero means it could not.
using EvictFn = int (*)(class Pool& pool, Handle handle, void* ctx);

struct PoolConfig {
    int vcpus = 2;                      // per-vCPU unbuddied lists
    PageSource* page_source = nullptr;  // not owned; nullptr = a default source owned by the pool
    EvictFn evict = nullptr;
    void* evict_ctx = nullptr;
};

class PoolInspector;

class Pool {
public:
    explicit Pool(const PoolConfig& cfg);
    ~Pool();  // z3fold_destroy_pool: drains compaction, then release work
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;

    AllocResult alloc(size_t size, Gfp gfp = {});
    void free(Handle handle);
    void* map(Handle handle);
    void unmap(Handle handle);
    // z3fold_reclaim_page: 0 when a page was freed, else -EINVAL/-EAGAIN.
    Errno reclaim_page(unsigned retries);
    uint64_t total_pages() const;  // pages_nr
    uint64_t total_size() const { return total_pages() * PAGE_SIZE; }

    // Movable-page operations, as the mm core calls them.
    bool isolate_page(PageDesc* page);
    Errno migrate_page(PageDesc* newpage, PageDesc* page);
    void putback_page(PageDesc* page);
    // The mm core's whole sequence for the page holding `handle`: isolate,
    // allocate a new page, migrate (or put back on failure).
    Errno migrate_handle_page(Handle handle);
    // Queue compaction of the page holding `handle` (as free does).
    void compact_handle_page(Handle handle);

    // Run queued compaction and then release work to completion.
    void drain();

    PageSource& page_source() { return *src_; }
    SlotsCache& slots_cache() { return c_handle_; }
    int vcpus() const { return vcpus_; }

private:
    friend class PoolInspector;

    // pool.cpp
    Z3foldHeader* init_z3fold_page(PageDesc* page, bool headless);
    void free_z3fold_page(PageDesc* page, bool headless);
    void put_page(PageDesc* page);
    void pages_nr_add(int64_t d, sync::SrcLoc loc = sync::SrcLoc::here());
    Z3foldHeader* z3fold_alloc_existing(size_t size, bool can_sleep);  // __z3fold_alloc
    void add_to_unbuddied(Z3foldHeader* zhdr);
    ListNode* unbuddied(int cpu, int chunks) { return &unbuddied_[static_cast<size_t>(cpu) * NCHUNKS + chunks]; }
    Z3foldHeader* get_z3fold_header(Handle handle);
    void put_z3fold_header(Z3foldHeader* zhdr);

    // handle.cpp side of the pool
    Handle encode_handle(Z3foldHeader* zhdr, Buddy bud);
    Handle encode_handle_in(Z3foldHeader* zhdr, BuddySlots* slots, Buddy bud);
    void free_handle(Handle handle, Z3foldHeader* zhdr);
    Buddy handle_to_buddy(Handle handle);
    int handle_to_chunks(Handle handle);
    uintptr_t pool_word() const { return reinterpret_cast<uintptr_t>(this); }

    // lifetime.cpp
    void kref_get_locked(Z3foldHeader* zhdr, sync::SrcLoc loc = sync::SrcLoc::here());
    bool put_z3fold_locked(Z3foldHeader* zhdr, sync::SrcLoc loc = sync::SrcLoc::here());
    void unlink_from_lists(Z3foldHeader* zhdr) Z3FH_REQUIRES(zhdr->page_lock);
    void release_z3fold_page_locked(Z3foldHeader* zhdr);
    static void free_pages_work(sync::WorkItem* w);

    // compact.cpp
    static void compact_page_work(sync::WorkItem* w);
    void do_compact_page(Z3foldHeader* zhdr, bool locked);
    bool z3fold_compact_page(Z3foldHeader* zhdr);
    Z3foldHeader* compact_single_buddy(Z3foldHeader* zhdr);

    // reclaim.cpp
    void release_evicted_handles(Z3foldHeader* zhdr, const BuddySlots& stack_slots, const Handle (&evicted)[BUDDIES]);

    int vcpus_;
    PageSource* src_;
    std::unique_ptr<PageSource> owned_src_;
    EvictFn evict_;
    void* evict_ctx_;

    sync::SpinLock lock_;        // pool->lock: unbuddied lists, zhdr->buddy links, LRU
    sync::SpinLock stale_lock_;  // the stale list
    // [vcpu][NCHUNKS], by free chunks; the heads and links under lock_. On
    // the heap, so ASan bounds an index past the last CPU's lists.
    std::unique_ptr<ListNode[]> unbuddied_;
    size_t unbuddied_n_;
    ListNode lru_ Z3FH_GUARDED_BY(lock_);
    ListNode stale_ Z3FH_GUARDED_BY(stale_lock_);
    sync::Atomic<int64_t> pages_nr_;  // pages_nr_add() changes it
    SlotsCache c_handle_;
    struct ReleaseWork {
        sync::WorkItem item;  // first: free_pages_work finds the pool from it
        Pool* pool;
    } release_work_;                   // pool->work: free_pages_work on release_wq
    // Declared in reverse of destruction order: compaction drains before release.
    sync::WorkQueue release_wq_;
    sync::WorkQueue compact_wq_;
};

}  // namespace z3fh
