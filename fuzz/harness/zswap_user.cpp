// z3fold-harden: what the zswap models of every series share
// (zswap_user.h), and the choice of the model for the target's series.
#include "harness/zswap_user.h"

#include <fmt/format.h>

#include <algorithm>

#include "harness/zram_user.h"
#include "harness/zswap612_user.h"
#include "harness/zswap61_user.h"

namespace z3fh::fuzz {

using Hidden = sync::TsanHidden;

ZswapUser::ZswapUser(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog, FindingFn finding, void* ctx)
    : pool_(pool), slots_(slots), prog_(prog), finding_(finding), ctx_(ctx) {
    tree_lock_.init({sync::ObjClass::zswap_tree, 0});
}

ZswapUser::~ZswapUser() = default;

void ZswapUser::init_shrink_work(void (*fn)(sync::WorkItem*), uint32_t queue_serial) {
    shrink_work_.item.init(fn);
    shrink_work_.user = this;
    shrink_wq_ = std::make_unique<sync::WorkQueue>(sync::ObjectId{sync::ObjClass::work_queue, queue_serial});
}

DepthCounters ZswapUser::depth_counters() const {
    Hidden hidden;
    return {{"writebacks", written_back_}};
}

ZswapUser* ZswapUser::shrink_work_user(sync::WorkItem* item) { return reinterpret_cast<ShrinkWork*>(item)->user; }

void ZswapUser::insert(Entry* e) {
    Hidden hidden;
    tree_[e->slot] = e;
    sync::shared_write(&slots_[e->slot]);  // the shadow model reads the slot table
    slots_[e->slot] = SlotState{SlotState::State::live, e->handle, e->size, e->gen, true};
}

void ZswapUser::erase(Entry* e) {
    Hidden hidden;
    if (tree_[e->slot] != e) return;
    tree_[e->slot] = nullptr;
    sync::shared_write(&slots_[e->slot]);
    slots_[e->slot] = SlotState{SlotState::State::empty, 0, 0, e->gen, false};
}

ZswapUser::Entry* ZswapUser::in_tree(int slot) {
    Hidden hidden;
    return tree_[slot];
}

ZswapUser::Entry ZswapUser::snapshot(const Entry* e) {
    Hidden hidden;
    return *e;
}

ZswapUser::Entry* ZswapUser::compress_and_write(int slot, size_t size) {
    // The object is zswap's data behind an 8-byte header naming the offset
    // (6.1's zswap_header; 6.12 keeps the swap entry in the entry, and the
    // model keeps the header so that every read can say whose bytes it saw).
    const size_t n = std::max(size, kObjectHeaderBytes);
    // __GFP_NORETRY | __GFP_NOWARN | __GFP_KSWAPD_RECLAIM: never
    // __GFP_DIRECT_RECLAIM (6.1 zs:1236-1238; 6.12 zswap_compress).
    AllocResult r = pool_.alloc(n, Gfp{false});
    if (r.err != Errno::ok) return nullptr;
    uint32_t gen;
    {
        Hidden hidden;
        gen = ++gen_[slot];
    }
    // Map write-only, copy, unmap, all before the entry is in the tree.
    auto* p = static_cast<uint8_t*>(pool_.map_for(r.handle, TargetPool::MapMode::wo));
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(slot)});
    for (size_t i = 0; i < n; i++) p[i] = pattern_byte(slot, gen, i);
    pool_.unmap(r.handle);
    Hidden hidden;
    entries_.push_back(std::make_unique<Entry>(Entry{slot, r.handle, n, gen}));
    return entries_.back().get();
}

void ZswapUser::check_contents(const Entry& e, const volatile uint8_t* obj, const char* who) {
    size_t bad = e.size;
    for (size_t i = 0; i < e.size; i++)
        if (obj[i] != pattern_byte(e.slot, e.gen, i)) {
            bad = i;
            break;
        }
    if (bad == e.size) return;
    Hidden hidden;
    finding_(ctx_, {finding_name(FindingId::object_contents), 0,
                    fmt::format("zswap {}: offset {} byte {} of {} differs through map() (decompression would fail: "
                                "BUG_ON in zswap)",
                                who, e.slot, bad, e.size)});
}

// The folio lock of the offset: what one operation did to the offset's
// entry happens before the next operation on it (TSan is told so: a load
// that read an object, then a store on the same offset that frees it, are
// ordered by that lock in the kernel).
bool ZswapUser::begin(int slot) {
    Hidden hidden;
    if (busy_[slot]) return false;
    busy_[slot] = true;
    Z3FH_HB_ACQUIRE(&busy_[slot]);
    return true;
}

void ZswapUser::end(int slot) {
    Hidden hidden;
    Z3FH_HB_RELEASE(&busy_[slot]);
    busy_[slot] = false;
}

std::unique_ptr<ZswapUser> make_zswap_user(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog,
                                           ZswapUser::FindingFn finding, void* ctx) {
    if (pool.has_pool_lru()) return std::make_unique<Zswap61User>(pool, slots, prog, finding, ctx);
    return std::make_unique<Zswap612User>(pool, slots, prog, finding, ctx);
}

std::unique_ptr<ZswapUser> make_zram_user(TargetPool& pool, SlotState (&slots)[kSlots], const Program& prog,
                                          ZswapUser::FindingFn finding, void* ctx) {
    return std::make_unique<ZramUser>(pool, slots, prog, finding, ctx);
}

}  // namespace z3fh::fuzz
