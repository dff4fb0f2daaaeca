// z3fold-harden: the z3fold page header at the start of every non-headless
// page, and which lock guards each field.
#pragma once
#include <cstdint>

#include "handle.h"
#include "layout.h"
#include "list.h"
#include "mutants.h"
#include "page_source.h"
#include "sync/sync.h"

namespace z3fh {

class Pool;

struct Z3foldHeader {
    ListNode buddy;             // pool->lock while on an unbuddied list; stale_lock on the stale list
    sync::SpinLock page_lock;   // guards every field below except refcount's atomicity
    sync::Atomic<int> refcount; // kref: one per object plus one per working holder; every
                                // get and put holds page_lock (lifetime.cpp)
    sync::WorkItem work;        // compaction work on pool->compact_wq
    BuddySlots* slots;          // page_lock: this page's own slots object (nullptr once all freed)
    Pool* pool;
    int16_t cpu Z3FH_GUARDED_BY(page_lock);                // page_lock: vCPU whose unbuddied list holds the page; -1 none
    uint16_t first_chunks Z3FH_GUARDED_BY(page_lock);      // page_lock
    uint16_t middle_chunks Z3FH_GUARDED_BY(page_lock);     // page_lock
    uint16_t last_chunks Z3FH_GUARDED_BY(page_lock);       // page_lock
    uint16_t start_middle Z3FH_GUARDED_BY(page_lock);      // page_lock: chunk index where MIDDLE starts
    uint8_t first_num : 2;      // page_lock (+ slots lock for readers): buddy relabel counter
    uint8_t foreign_handles : 2;// page_lock: objects whose handles live in another page's slots
    uint8_t mapped_count;       // page_lock: live mappings of this page's objects (upstream: 2 bits,
                                // which wrap at four concurrent maps)
    uint8_t middle_mapped;      // page_lock: live mappings of MIDDLE; MIDDLE_CHUNK_MAPPED is cleared
                                // only when the last one goes (upstream clears it at the first unmap)
};
static_assert(sizeof(Z3foldHeader) > CHUNK_SIZE && sizeof(Z3foldHeader) <= ZHDR_SIZE_ALIGNED,
              "the header must take exactly ZHDR_CHUNKS chunks in every build");

inline Z3foldHeader* page_header(PageDesc* p) { return static_cast<Z3foldHeader*>(page_address(p)); }
inline Z3foldHeader* header_of_work(sync::WorkItem* w) {
    return reinterpret_cast<Z3foldHeader*>(reinterpret_cast<char*>(w) - offsetof(Z3foldHeader, work));
}
inline Z3foldHeader* header_of_buddy(ListNode* n) {
    return reinterpret_cast<Z3foldHeader*>(reinterpret_cast<char*>(n) - offsetof(Z3foldHeader, buddy));
}
inline PageDesc* page_of_lru(ListNode* n) {
    return reinterpret_cast<PageDesc*>(reinterpret_cast<char*>(n) - offsetof(PageDesc, lru));
}

// num_free_chunks: with a MIDDLE object, the larger of the gap before it (if
// FIRST is free) and after it (if LAST is free); otherwise what FIRST and LAST
// leave.
inline int num_free_chunks(const Z3foldHeader* z) Z3FH_REQUIRES(z->page_lock) {
    if (z->middle_chunks != 0) {
        int before = z->first_chunks ? 0 : z->start_middle - ZHDR_CHUNKS;
        int after = z->last_chunks ? 0 : TOTAL_CHUNKS - (z->start_middle + z->middle_chunks);
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        // chunk-off-by-one at the last buddy: the gap after MIDDLE counted one too many.
        if (Z3FH_MUTANT_ON(free_chunks_off_by_one) && after) after += 1;
#endif
        return before > after ? before : after;
    }
    return NCHUNKS - z->first_chunks - z->last_chunks;
}

// get_free_buddy: where an object of `chunks` goes in this page (HEADLESS = nowhere).
inline Buddy get_free_buddy(const Z3foldHeader* z, int chunks) Z3FH_REQUIRES(z->page_lock) {
    if (z->middle_chunks) {
        if (!z->first_chunks && chunks <= z->start_middle - ZHDR_CHUNKS) return Buddy::FIRST;
        if (!z->last_chunks) return Buddy::LAST;
        return Buddy::HEADLESS;
    }
    if (!z->first_chunks) return Buddy::FIRST;
    if (!z->last_chunks) return Buddy::LAST;
    return Buddy::MIDDLE;
}

// buddy_single: at most one of the three buddies is in use.
inline bool buddy_single(const Z3foldHeader* z) Z3FH_REQUIRES(z->page_lock) {
    return !((z->first_chunks && z->middle_chunks) || (z->first_chunks && z->last_chunks) ||
             (z->middle_chunks && z->last_chunks));
}

inline int buddy_chunks(const Z3foldHeader* z, Buddy b) Z3FH_REQUIRES(z->page_lock) {
    switch (b) {
    case Buddy::FIRST: return z->first_chunks;
    case Buddy::MIDDLE: return z->middle_chunks;
    case Buddy::LAST: return z->last_chunks;
    default: return 0;
    }
}

// __idx: the slot index of buddy `b` under the current first_num.
Z3FH_INTENTIONAL_WRAP
inline int slot_index(const Z3foldHeader* z, Buddy b) {
    return (static_cast<int>(b) + z->first_num) & BUDDY_MASK;  // 2-bit wrap is the design
}

}  // namespace z3fh
