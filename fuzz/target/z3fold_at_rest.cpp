// z3fold-harden: z3fold's own invariants at rest (z3fold_at_rest.h).
#include "target/z3fold_at_rest.h"

#include <fmt/format.h>

#include <algorithm>

#include "finding.h"
#include "layout.h"

namespace z3fh::fuzz {

namespace {
// A sorted multiset in one vector: fill, seal, then query. A std::map or
// std::set allocates a node per entry, and under ASan each allocation
// unwinds the stack; the check at rest runs once every execution.
template <typename T>
class SortedBag {
public:
    void add(T x) { v_.push_back(x); }
    void seal() { std::sort(v_.begin(), v_.end()); }
    int count(T x) const {
        auto r = std::equal_range(v_.begin(), v_.end(), x);
        return static_cast<int>(r.second - r.first);
    }
    bool contains(T x) const { return std::binary_search(v_.begin(), v_.end(), x); }
    size_t distinct() const {
        size_t n = 0;
        for (size_t i = 0; i < v_.size(); i++) n += i == 0 || v_[i] != v_[i - 1];
        return n;
    }

private:
    std::vector<T> v_;
};

std::string name(FindingId id) { return finding_name(id); }
}  // namespace

void z3fold_check_at_rest(TargetPool& target, const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                          std::vector<Violation>& out) {
    SortedBag<uint32_t> objects, foreign, slots_used;  // page serials, page serials, slots serials
    for (const LiveObject& o : live) {
        objects.add(o.r.page);
        if (o.r.bud == Buddy::HEADLESS) continue;
        slots_used.add(o.r.slots_serial);
        const PageSnapshot* p = snap.page(o.r.page);
        if (p && p->slots_serial != o.r.slots_serial) foreign.add(o.r.page);
    }
    objects.seal();
    foreign.seal();
    for (const PageSnapshot& p : snap.pages) {
        const int n = objects.count(p.serial);
        if (n == 0) continue;  // the shared tier's empty-page-kept
        if (target.has_pool_lru() && !p.on_lru)
            out.push_back({name(FindingId::lru_membership), p.serial, fmt::format("page {} is not on the LRU", p.serial)});
        const unsigned long busy = (1UL << PAGE_CLAIMED) | (1UL << NEEDS_COMPACTING) | (1UL << PAGE_STALE) |
                                   (1UL << PAGE_MIGRATED) | (1UL << MIDDLE_CHUNK_MAPPED) | (1UL << HEADLESS_FREED);
        if ((p.flags & busy) || p.mapped_count)
            out.push_back({name(FindingId::page_state_at_rest), p.serial,
                           fmt::format("page {} at rest has flags {:#x}, mapped_count {}", p.serial, p.flags,
                                       p.mapped_count)});
        if (p.headless) continue;
        if (p.refcount != n)
            out.push_back({name(FindingId::refcount_exact), p.serial,
                           fmt::format("page {} has refcount {} but holds {} objects", p.serial, p.refcount, n)});
        const bool full = p.first_chunks && p.middle_chunks && p.last_chunks;
        int want_index = -1;
        if (!full) {
            if (p.middle_chunks) {
                int before = p.first_chunks ? 0 : p.start_middle - ZHDR_CHUNKS;
                int after = p.last_chunks ? 0 : TOTAL_CHUNKS - (p.start_middle + p.middle_chunks);
                want_index = before > after ? before : after;
            } else {
                want_index = NCHUNKS - p.first_chunks - p.last_chunks;
            }
        }
        if (p.unbuddied_index != want_index || (want_index >= 0 && p.unbuddied_cpu != p.cpu))
            out.push_back({name(FindingId::unbuddied_index), p.serial,
                           fmt::format("page {} ({} free chunks) is on unbuddied[{}][{}], cpu field {}", p.serial,
                                       want_index, p.unbuddied_cpu, p.unbuddied_index, p.cpu)});
        const int f = foreign.count(p.serial);
        if (p.foreign_handles != f)
            out.push_back({name(FindingId::foreign_handles), p.serial,
                           fmt::format("page {} counts {} foreign handles, the model {}", p.serial, p.foreign_handles, f)});
    }
    // Slots objects: those live handles use, plus the (empty) one a live
    // page owns for its next objects; every non-zero slot is a live handle.
    SortedBag<uint32_t> expected = slots_used;
    slots_used.seal();
    for (const PageSnapshot& p : snap.pages)
        if (p.slots_serial) expected.add(p.slots_serial);
    expected.seal();
    SortedBag<Handle> live_handles;
    for (const LiveObject& o : live) live_handles.add(o.handle);
    live_handles.seal();
    for (uint32_t serial : target.live_slots_objects())
        if (!expected.contains(serial))
            out.push_back({name(FindingId::slots_accounting), 0,
                           fmt::format("slots object {} is live but neither a live handle nor a live page uses it",
                                       serial)});
    for (const SlotSnapshot& ss : snap.slots)
        if (!live_handles.contains(ss.handle))
            out.push_back({name(FindingId::slots_accounting), 0,
                           fmt::format("slot {} of slots object {} is set but no live handle is that slot", ss.index,
                                       ss.slots_serial)});
    if (snap.slots_objects < slots_used.distinct())
        out.push_back({name(FindingId::slots_accounting), 0,
                       fmt::format("{} slots objects are live but live handles use {}", snap.slots_objects,
                                   slots_used.distinct())});
}

}  // namespace z3fh::fuzz
