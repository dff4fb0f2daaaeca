// z3fold-harden: page sources (heap frames for sanitizer builds, mmap frames
// otherwise) and the live-page registry the validator uses.
#include "page_source.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace z3fh {

namespace {
constexpr size_t kFrameSize = 2 * PAGE_SIZE;

bool built_with_sanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
    return true;
#else
    return false;
#endif
#else
    return false;
#endif
}
}  // namespace

PageSource::~PageSource() = default;

PageDesc* PageSource::alloc_page(sync::SrcLoc loc) {
    const AllocSite site = Z3FH_ALLOC_SITE(loc.file, loc.line);
    lock_.lock();
    bool fail = fail_always_;
    bool injected = fail_countdown_ > 0 && --fail_countdown_ == 0;
    fail = fail || injected;
    void* frame = fail ? nullptr : alloc_frame();
    if (!frame) {
        lock_.unlock();
        // The trace shows which allocation the program made fail.
        if (injected) sync::op_boundary(sync::Event::fault_injected, {sync::ObjClass::page_refs, 0}, loc);
        return nullptr;
    }
    // The descriptor is constructed in place; the data page is left as the
    // frame source gave it (like a fresh kernel page; the fuzz harness's
    // source fills it, so a read of it is the same in every run).
    auto* page = new (frame) PageDesc{};
    page->serial = next_serial_++;
    live_.insert(page_address(page), site);
    sync::shared_write(nullptr);  // the set of live pages
    lock_.unlock();
    page->flags.init(0, {sync::ObjClass::page_flags, page->serial});
    list_init(&page->lru);
    page->page_mutex.init({sync::ObjClass::page_mutex, page->serial});
    page->refs.init(1, {sync::ObjClass::page_refs, page->serial});
    return page;
}

void PageSource::free_page(PageDesc* page) {
    page->~PageDesc();
    lock_.lock();
    live_.erase(page_address(page));
    sync::shared_write(nullptr);  // the set of live pages
    free_frame(page);
    lock_.unlock();
}

void PageSource::forget_for_test(PageDesc* page) {
    lock_.lock();
    live_.erase(page_address(page));
    lock_.unlock();
}

bool PageSource::is_live(const void* data) const {
    lock_.lock();
    bool live = live_.contains(data);
    lock_.unlock();
    return live;
}

std::vector<PageDesc*> PageSource::live_pages_ordered() const {
    std::vector<PageDesc*> out;
    live_pages_ordered(out);
    return out;
}

void PageSource::live_pages_ordered(std::vector<PageDesc*>& out) const {
    out.clear();
    lock_.lock();
    for (const void* d : live_.in_order()) out.push_back(virt_to_page(d));
    lock_.unlock();
}

std::vector<Leftover> PageSource::live_allocations() const {
    std::vector<Leftover> out;
    lock_.lock();
    const std::vector<const void*>& live = live_.in_order();
    for (size_t i = 0; i < live.size(); i++) out.push_back({"a page", alloc_site_name(live_.site(i)), virt_to_page(live[i])->serial});
    lock_.unlock();
    return out;
}

void* HeapPageSource::alloc_frame() { return std::aligned_alloc(kFrameSize, kFrameSize); }
void HeapPageSource::free_frame(void* frame) { std::free(frame); }

MmapPageSource::~MmapPageSource() {
    for (auto& [addr, len] : mappings_) munmap(addr, len);
}

void* MmapPageSource::alloc_frame() {
    if (free_frames_.empty()) {
        // Map a batch with room to align the first frame to kFrameSize.
        constexpr size_t kBatch = 64;
        size_t len = (kBatch + 1) * kFrameSize;
        void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) return nullptr;
        mappings_.emplace_back(m, len);
        uintptr_t base = (reinterpret_cast<uintptr_t>(m) + kFrameSize - 1) & ~(uintptr_t{kFrameSize} - 1);
        for (size_t i = kBatch; i-- > 0;) free_frames_.push_back(reinterpret_cast<void*>(base + i * kFrameSize));
    }
    void* f = free_frames_.back();
    free_frames_.pop_back();
    return f;
}

void MmapPageSource::free_frame(void* frame) { free_frames_.push_back(frame); }

PageSource* make_default_page_source() {
    if (built_with_sanitizer()) return new HeapPageSource();
    return new MmapPageSource();
}

}  // namespace z3fh
