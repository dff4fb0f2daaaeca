// z3fold-harden: the shadow model's checks.
#include "shadow/shadow.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::fuzz {

bool mapping_matches_handle(TargetPool& target, Handle handle, const void* mapped, ResolvedHandle* named) {
    ResolvedHandle r;
    const bool ok = !target.resolve(handle, &r) || r.object == mapped;
    if (named) *named = r;
    return ok;
}

bool check_evict_mapping(TargetPool& target, Handle handle, const volatile uint8_t* mapped, ShadowFinding* f) {
    ResolvedHandle named;
    if (mapping_matches_handle(target, handle, const_cast<const uint8_t*>(mapped), &named)) return true;
    *f = {finding_name(FindingId::map_address), named.page,
          fmt::format("evict: map() returned {:+d} bytes from the {} object the handle names (offset {:#x} in page {})",
                      reinterpret_cast<intptr_t>(mapped) - reinterpret_cast<intptr_t>(named.object),
                      buddy_name(named.bud), named.offset, named.page)};
    return false;
}

bool Shadow::contents_ok(int s, bool full) {
    ResolvedHandle r;
    if (!target_.resolve(slots_[s].handle, &r)) return false;
    return contents_ok(s, r.object, full);
}

bool Shadow::contents_ok(int s, const uint8_t* obj, bool full) const {
    const SlotState& st = slots_[s];
    auto at = [&](size_t i) { return obj[i] == pattern_byte(s, st.gen, i); };
    if (full) {
        for (size_t i = 0; i < st.size; i++)
            if (!at(i)) return false;
        return true;
    }
    // Cheap per-step signature: the first and last 8 bytes.
    for (size_t i = 0; i < st.size && i < 8; i++)
        if (!at(i)) return false;
    for (size_t i = st.size > 8 ? st.size - 8 : 0; i < st.size; i++)
        if (!at(i)) return false;
    return true;
}

std::vector<ShadowFinding> Shadow::check_step() { return check_step(StepScope{true}); }

std::vector<ShadowFinding> Shadow::check_step(const StepScope& scope) {
    static thread_local std::vector<Violation> violations;  // reused: no allocation per step
    violations.clear();
    if (!target_.validate_scope(scope, violations)) target_.validate(violations);
    if (violations.empty()) return scope.all || scope.handles ? check_handles() : std::vector<ShadowFinding>{};
    std::vector<ShadowFinding> out;
    for (Violation& v : violations) out.push_back({v.id, v.page, v.message});
    return out;
}

std::vector<ShadowFinding> Shadow::check_handles() {
    std::vector<ShadowFinding> out;
    // Page -> (refcount, idle objects resolved to it) (a small flat map:
    // this runs at every scheduling point).
    struct PageObjects {
        uint32_t page;
        int refcount;
        int objects;
    };
    static thread_local std::vector<PageObjects> objects;  // reused: no allocation per step
    objects.clear();
    for_each_live([&](const Resolved& r) {
        if (!r.ok) {
            out.push_back({finding_name(FindingId::handle_unresolvable), 0,
                           fmt::format("slot {} (size {}) does not resolve to a live page", r.slot, r.st.size)});
            return;
        }
        if (r.r.bud != Buddy::HEADLESS) {
            auto it = std::find_if(objects.begin(), objects.end(), [&](auto& e) { return e.page == r.r.page; });
            if (it == objects.end()) objects.push_back({r.r.page, r.r.refcount, 1}); else it->objects++;
        }
        if (r.st.written && !contents_ok(r.slot, r.r.object, false))
            out.push_back({finding_name(FindingId::object_contents), r.r.page,
                           fmt::format("slot {} (size {}, page {}, {}) lost its contents", r.slot, r.st.size, r.r.page,
                                       buddy_name(r.r.bud))});
    });
    for (const PageObjects& po : objects)
        if (po.refcount < po.objects)
            out.push_back({finding_name(FindingId::refcount_below_objects), po.page,
                           fmt::format("page {} has refcount {} but holds {} idle objects", po.page, po.refcount,
                                       po.objects)});
    return out;
}

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
}  // namespace

std::vector<ShadowFinding> Shadow::check_at_rest() {
    std::vector<ShadowFinding> out = check_step();
    if (!out.empty()) return out;
    PoolSnapshot snap = target_.snapshot();
    SortedBag<uint32_t> objects, foreign, slots_used;  // page serials, page serials, slots serials
    for_each_live([&](const Resolved& r) {
        if (!r.ok) return;
        objects.add(r.r.page);
        if (r.st.written && !contents_ok(r.slot, r.r.object, true))
            out.push_back({finding_name(FindingId::object_contents), r.r.page,
                           fmt::format("slot {} (size {}) differs from its pattern", r.slot, r.st.size)});
        if (r.r.bud == Buddy::HEADLESS) return;
        slots_used.add(r.r.slots_serial);
        const PageSnapshot* p = snap.page(r.r.page);
        if (p && p->slots_serial != r.r.slots_serial) foreign.add(r.r.page);
    });
    objects.seal();
    foreign.seal();
    for (const PageSnapshot& p : snap.pages) {
        int n = objects.count(p.serial);
        if (n == 0) {
            out.push_back({finding_name(FindingId::empty_page_kept), p.serial, fmt::format("page {} holds no object at rest", p.serial)});
            continue;
        }
        if (target_.has_pool_lru() && !p.on_lru) out.push_back({finding_name(FindingId::lru_membership), p.serial, fmt::format("page {} is not on the LRU", p.serial)});
        const unsigned long busy = (1UL << PAGE_CLAIMED) | (1UL << NEEDS_COMPACTING) | (1UL << PAGE_STALE) |
                                   (1UL << PAGE_MIGRATED) | (1UL << MIDDLE_CHUNK_MAPPED) | (1UL << HEADLESS_FREED);
        if ((p.flags & busy) || p.mapped_count)
            out.push_back({finding_name(FindingId::page_state_at_rest), p.serial,
                           fmt::format("page {} at rest has flags {:#x}, mapped_count {}", p.serial, p.flags,
                                       p.mapped_count)});
        if (p.headless) continue;
        if (p.refcount != n)
            out.push_back({finding_name(FindingId::refcount_exact), p.serial,
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
            out.push_back({finding_name(FindingId::unbuddied_index), p.serial,
                           fmt::format("page {} ({} free chunks) is on unbuddied[{}][{}], cpu field {}", p.serial,
                                       want_index, p.unbuddied_cpu, p.unbuddied_index, p.cpu)});
        int f = foreign.count(p.serial);
        if (p.foreign_handles != f)
            out.push_back({finding_name(FindingId::foreign_handles), p.serial,
                           fmt::format("page {} counts {} foreign handles, the model {}", p.serial, p.foreign_handles, f)});
    }
    if (snap.pages_nr != static_cast<int64_t>(snap.pages.size()))
        out.push_back({finding_name(FindingId::accounting_pages), 0,
                       fmt::format("pages_nr is {} but {} pages are live", snap.pages_nr, snap.pages.size())});
    // Slots objects: those live handles use, plus the (empty) one a live
    // page owns for its next objects; every non-zero slot is a live handle.
    SortedBag<uint32_t> expected = slots_used;
    slots_used.seal();
    for (const PageSnapshot& p : snap.pages)
        if (p.slots_serial) expected.add(p.slots_serial);
    expected.seal();
    SortedBag<Handle> live_handles;
    for (const SlotState& st : slots_)
        if (st.state == SlotState::State::live) live_handles.add(st.handle);
    live_handles.seal();
    for (uint32_t serial : target_.live_slots_objects())
        if (!expected.contains(serial))
            out.push_back({finding_name(FindingId::slots_accounting), 0,
                           fmt::format("slots object {} is live but neither a live handle nor a live page uses it",
                                       serial)});
    for (const SlotSnapshot& ss : snap.slots)
        if (!live_handles.contains(ss.handle))
            out.push_back({finding_name(FindingId::slots_accounting), 0,
                           fmt::format("slot {} of slots object {} is set but no live handle is that slot", ss.index,
                                       ss.slots_serial)});
    if (snap.slots_objects < slots_used.distinct())
        out.push_back({finding_name(FindingId::slots_accounting), 0,
                       fmt::format("{} slots objects are live but live handles use {}", snap.slots_objects,
                                   slots_used.distinct())});
    return out;
}

ShadowFinding leak_finding(const std::vector<Leftover>& left, const char* when) {
    std::string what;
    for (size_t i = 0; i < left.size() && i < 4; i++)
        what += fmt::format("{}{}{} from {}", i ? "; " : "", left[i].what,
                            left[i].serial ? fmt::format(" (#{})", left[i].serial) : "", left[i].site);
    if (left.size() > 4) what += fmt::format("; and {} more", left.size() - 4);
    return {finding_name(FindingId::leak), 0, fmt::format("{} allocation(s) left {}: {}", left.size(), when, what),
            left.front().site};
}

std::vector<ShadowFinding> Shadow::check_teardown() {
    std::vector<ShadowFinding> out;
    TargetCounts c = target_.counts();
    // What is still allocated is a leak, signed by where it was allocated;
    // a count that disagrees with nothing live is the accounting's.
    if (c.live_pages != 0 || c.live_slots != 0) {
        const std::vector<Leftover> left = target_.live_allocations();
        if (!left.empty()) {
            out.push_back(leak_finding(left, "after every object was freed and the work drained"));
            return out;
        }
    }
    if (c.pages_nr != 0 || c.live_pages != 0 || c.live_slots != 0)
        out.push_back({finding_name(FindingId::leak_at_teardown), 0,
                       fmt::format("after freeing everything: pages_nr {}, live pages {}, live slots objects {}",
                                   c.pages_nr, c.live_pages, c.live_slots)});
    return out;
}

}  // namespace z3fh::fuzz
