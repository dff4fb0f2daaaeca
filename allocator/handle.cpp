// z3fold-harden: the slots-object cache (kmem_cache c_handle).
#include "handle.h"

#include <algorithm>
#include <cstdlib>
#include <new>

namespace z3fh {

BuddySlots* SlotsCache::alloc(uintptr_t pool_word, sync::SrcLoc loc) {
    const AllocSite site = Z3FH_ALLOC_SITE(loc.file, loc.line);
    lock_.lock();
    bool fail = fail_always_;
    bool injected = fail_countdown_ > 0 && --fail_countdown_ == 0;
    fail = fail || injected;
    if (fail) {
        lock_.unlock();
        if (injected) sync::op_boundary(sync::Event::fault_injected, {sync::ObjClass::slots_lock, 0}, loc);
        return nullptr;
    }
    void* mem = std::aligned_alloc(SLOTS_ALIGN, sizeof(BuddySlots));
    if (!mem) {
        lock_.unlock();
        return nullptr;
    }
    auto* s = new (mem) BuddySlots{};
    s->serial = next_serial_++;
    live_.insert(s, site);
    sync::shared_write(nullptr);  // the step checks resolve handles through live slots objects
    lock_.unlock();
    s->pool = pool_word;
    s->lock.init({sync::ObjClass::slots_lock, s->serial});
    return s;
}

void SlotsCache::free(BuddySlots* s) {
    lock_.lock();
    live_.erase(s);
    sync::shared_write(nullptr);
    lock_.unlock();
    s->~BuddySlots();
    std::free(s);
}

bool SlotsCache::is_live(const BuddySlots* s) const {
    lock_.lock();
    bool live = live_.contains(const_cast<BuddySlots*>(s));
    lock_.unlock();
    return live;
}

std::vector<BuddySlots*> SlotsCache::live_ordered() const {
    lock_.lock();
    std::vector<BuddySlots*> out = live_.in_order();
    lock_.unlock();
    return out;
}

std::vector<Leftover> SlotsCache::live_allocations() const {
    std::vector<Leftover> out;
    lock_.lock();
    const std::vector<BuddySlots*>& live = live_.in_order();
    for (size_t i = 0; i < live.size(); i++) out.push_back({"a slots object", alloc_site_name(live_.site(i)), live[i]->serial});
    lock_.unlock();
    return out;
}

}  // namespace z3fh

// ---- The pool's handle operations (encode, decode, free). ----
#include "check.h"
#include "pool.h"

namespace z3fh {

// __encode_handle: store the page address plus buddy index (and LAST's size)
// in the slot for `bud`, and return the slot's address as the handle.
// Its callers hold the page lock for a page with a header; a headless page
// has no header and no lock, and only LAST's size is read.
Handle Pool::encode_handle_in(Z3foldHeader* zhdr, BuddySlots* slots, Buddy bud)
    Z3FH_TSA_ESCAPE("page lock held by the caller when the page has one; headless pages have none") {
    uintptr_t h = reinterpret_cast<uintptr_t>(zhdr);
    if (bud == Buddy::HEADLESS) return h | 1U;  // PAGE_HEADLESS bit
    int idx = slot_index(zhdr, bud);
    h += static_cast<uintptr_t>(idx);
    if (bud == Buddy::LAST) h |= static_cast<uintptr_t>(zhdr->last_chunks) << BUDDY_SHIFT;
    slots->lock.write_lock();
    slots->slot[idx] = h;
    slots->lock.write_unlock();
    return reinterpret_cast<Handle>(&slots->slot[idx]);
}

Handle Pool::encode_handle(Z3foldHeader* zhdr, Buddy bud) {
    return encode_handle_in(zhdr, bud == Buddy::HEADLESS ? nullptr : zhdr->slots, bud);
}

// handle_to_chunks: LAST's size in chunks, kept in the slot value.
int Pool::handle_to_chunks(Handle handle) {
    BuddySlots* slots = handle_to_slots(handle);
    slots->lock.read_lock();
    uintptr_t addr = *reinterpret_cast<uintptr_t*>(handle);
    slots->lock.read_unlock();
    return static_cast<int>((addr & ~PAGE_MASK) >> BUDDY_SHIFT);
}

// handle_to_buddy: the slot's index minus first_num (mod 4). Compaction that
// moves MIDDLE to FIRST bumps first_num, relabelling without rewriting slots.
Z3FH_INTENTIONAL_WRAP
Buddy Pool::handle_to_buddy(Handle handle) {
    BuddySlots* slots = handle_to_slots(handle);
    slots->lock.read_lock();
    uintptr_t addr = *reinterpret_cast<uintptr_t*>(handle);
    slots->lock.read_unlock();
    auto* zhdr = reinterpret_cast<Z3foldHeader*>(addr & PAGE_MASK);
    return static_cast<Buddy>((addr - zhdr->first_num) & BUDDY_MASK);
}

// free_handle: zero the slot; free the slots object when all four slots are
// zero, unless it is a stack-local one (HANDLES_NOFREE, reclaim's).
void Pool::free_handle(Handle handle, Z3foldHeader* zhdr) {
    Z3FH_CHECK_KIND(ErrorKind::warn, *reinterpret_cast<uintptr_t*>(handle) != 0, "free_handle of a zero slot");
    BuddySlots* slots = handle_to_slots(handle);
    slots->lock.write_lock();
    *reinterpret_cast<uintptr_t*>(handle) = 0;
    if (slots->pool & (uintptr_t{1} << HANDLES_NOFREE)) {
        slots->lock.write_unlock();
        return;
    }
    if (zhdr->slots != slots) zhdr->foreign_handles = static_cast<uint8_t>(zhdr->foreign_handles - 1) & 3U;
    bool is_free = true;
    for (uintptr_t s : slots->slot) {
        if (s) {
            is_free = false;
            break;
        }
    }
    slots->lock.write_unlock();
    if (is_free) {
        if (zhdr->slots == slots) zhdr->slots = nullptr;
        c_handle_.free(slots);
    }
}

}  // namespace z3fh
