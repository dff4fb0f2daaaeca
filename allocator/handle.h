// z3fold-harden: handles. A non-headless handle is the address of a slot in a
// 64-byte-aligned slots object; the slot holds the page header address plus
// the buddy index ((bud + first_num) & 3), and for LAST its size in chunks
// (<< BUDDY_SHIFT). A headless handle is the page address with bit 0 set.
#pragma once
#include <cstdint>
#include <vector>

#include "layout.h"
#include "live_registry.h"
#include "sync/sync.h"

namespace z3fh {

using Handle = uintptr_t;

inline constexpr uintptr_t SLOTS_ALIGN = 0x40;
inline constexpr int HANDLES_NOFREE = 0;  // bit in BuddySlots::pool: a stack-local slots object

// z3fold_buddy_slots.
struct alignas(SLOTS_ALIGN) BuddySlots {
    uintptr_t slot[BUDDIES];  // slots->lock
    uintptr_t pool;           // owning Pool*, low bits are flags (HANDLES_NOFREE)
    sync::RwLock lock;
    uint32_t serial;          // slots object number in traces
};
static_assert(sizeof(BuddySlots) == SLOTS_ALIGN, "handle & ~0x3f must find the slots object");

inline BuddySlots* handle_to_slots(Handle h) { return reinterpret_cast<BuddySlots*>(h & ~(SLOTS_ALIGN - 1)); }
inline bool handle_is_headless(Handle h) { return (h & 1U) != 0; }

// The kmem_cache of slots objects (c_handle), with fault injection and a registry.
class SlotsCache {
public:
    BuddySlots* alloc(uintptr_t pool_word, sync::SrcLoc loc = sync::SrcLoc::here());
    void free(BuddySlots* s);
    void fail_nth(int n) { fail_countdown_ = n; }
    void fail_always(bool on) { fail_always_ = on; }
    size_t live() const { return live_.size(); }
    bool is_live(const BuddySlots* s) const;
    std::vector<BuddySlots*> live_ordered() const;
    // The live slots objects with the sites that allocated them (a leak's
    // signature), oldest first.
    std::vector<Leftover> live_allocations() const;

private:
    mutable sync::RawLock lock_;
    LiveRegistry<BuddySlots> live_;
    uint32_t next_serial_ = 1;
    int fail_countdown_ = 0;
    bool fail_always_ = false;
};

}  // namespace z3fh
