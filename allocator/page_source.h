// z3fold-harden: where pages come from. The only allocator code that calls the
// OS. A page is an 8 KiB frame: its struct page (PageDesc) in the first 4 KiB
// and the data page in the second, so virt_to_page is arithmetic and a freed
// page's descriptor is freed with it (ASan reports either as use-after-free).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "layout.h"
#include "list.h"
#include "live_registry.h"
#include "sync/sync.h"

namespace z3fh {

// Bits in PageDesc::flags (page->private).
enum PageFlag : int {
    PAGE_HEADLESS = 0,
    MIDDLE_CHUNK_MAPPED,
    NEEDS_COMPACTING,
    PAGE_STALE,
    PAGE_CLAIMED,
    PAGE_MIGRATED,
    // Ours, not upstream's: free found a headless page claimed by reclaim.
    // Set under the pool lock, which reclaim's give-up path also takes, so
    // one of the two always frees the page (see Pool::free).
    HEADLESS_FREED,
};

// struct page: the fields z3fold uses.
struct PageDesc {
    sync::FlagWord flags;      // page->private: atomic bit operations
    ListNode lru;              // pool->lock: the pool LRU
    sync::SpinLock page_mutex; // lock_page(): guards movable/isolated
    sync::Atomic<int> refs;    // struct page refcount (get_page/put_page)
    uint32_t serial;           // page number in traces; never an address
    bool movable;              // __SetPageMovable (page_mutex)
    bool isolated;             // PageIsolated (the migration caller)
};

inline void* page_address(PageDesc* p) { return reinterpret_cast<char*>(p) + PAGE_SIZE; }
inline PageDesc* virt_to_page(const void* addr) {
    return reinterpret_cast<PageDesc*>((reinterpret_cast<uintptr_t>(addr) & PAGE_MASK) - PAGE_SIZE);
}

class PageSource {
public:
    virtual ~PageSource();

    // alloc_page: nullptr when out of memory or when fault injection says so.
    PageDesc* alloc_page(sync::SrcLoc loc = sync::SrcLoc::here());
    // __free_page, after the last put_page.
    void free_page(PageDesc* page);

    // Fault injection (fail_nth): the nth allocation from now fails (1 = the next).
    void fail_nth(int n) { fail_countdown_ = n; }
    void fail_always(bool on) { fail_always_ = on; }

    size_t live_pages() const { return live_.size(); }
    uint64_t total_allocated() const { return next_serial_ - 1; }
    // Registry membership: is this the data address of a live page?
    bool is_live(const void* data) const;
    // Live pages in allocation order (for the introspection snapshot).
    std::vector<PageDesc*> live_pages_ordered() const;
    // The live pages with the sites that allocated them, oldest first.
    std::vector<Leftover> live_allocations() const;
    // The same into a caller's vector, reused: the validator runs at every
    // scheduling point, where an allocation costs more than its checks.
    void live_pages_ordered(std::vector<PageDesc*>& out) const;
    // Test-only: drop a page from the registry without freeing its memory.
    void forget_for_test(PageDesc* page);

protected:
    virtual void* alloc_frame() = 0;
    virtual void free_frame(void* frame) = 0;

private:
    mutable sync::RawLock lock_;
    LiveRegistry<const void> live_;  // data addresses
    uint32_t next_serial_ = 1;
    int fail_countdown_ = 0;
    bool fail_always_ = false;
};

// Frames from the heap (aligned_alloc): ASan's quarantine then reports a
// freed page's reuse as heap-use-after-free with both stacks. Sanitizer builds.
class HeapPageSource final : public PageSource {
protected:
    void* alloc_frame() override;
    void free_frame(void* frame) override;
};

// Frames from mmap, recycled through a free list. Native release builds.
class MmapPageSource final : public PageSource {
public:
    ~MmapPageSource() override;

protected:
    void* alloc_frame() override;
    void free_frame(void* frame) override;

private:
    std::vector<void*> free_frames_;
    std::vector<std::pair<void*, size_t>> mappings_;
};

// The right source for this build: heap under a sanitizer, mmap otherwise.
PageSource* make_default_page_source();

}  // namespace z3fh
