// z3fold-harden: the shadow model's checks.
#include "shadow/shadow.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::fuzz {

bool mapping_matches_handle(TargetPool& target, Handle handle, const void* mapped, ResolvedHandle* named) {
    ResolvedHandle r;
    // An object that spans pages is mapped through a copy (zsmalloc's
    // per-CPU buffer): no address to compare.
    const bool ok = !target.resolve(handle, &r) || r.object == mapped || r.object2;
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
    return contents_ok(s, r, full);
}

bool Shadow::contents_ok(int s, const ResolvedHandle& r, bool full) const {
    const SlotState& st = slots_[s];
    auto at = [&](size_t i) {
        const uint8_t b = i < r.first_len ? r.object[i] : r.object2[i - r.first_len];
        return b == pattern_byte(s, st.gen, i);
    };
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
        if (r.r.bud != Buddy::HEADLESS && r.r.refcount >= 0) {
            auto it = std::find_if(objects.begin(), objects.end(), [&](auto& e) { return e.page == r.r.page; });
            if (it == objects.end()) objects.push_back({r.r.page, r.r.refcount, 1}); else it->objects++;
        }
        if (r.st.written && !contents_ok(r.slot, r.r, false))
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

// The shared tier at rest, for every allocator: each live object resolves
// with its whole pattern, no two live objects overlap, every live page holds
// an object, the pool's page count is its live pages; then the allocator's
// own tier (TargetPool::check_at_rest).
std::vector<ShadowFinding> Shadow::check_at_rest() {
    std::vector<ShadowFinding> out = check_step();
    if (!out.empty()) return out;
    const PoolSnapshot snap = target_.snapshot();
    std::vector<LiveObject> live;
    for_each_live([&](const Resolved& r) {
        if (!r.ok) return;
        live.push_back(LiveObject{r.slot, r.st.handle, r.st.size, r.r});
        if (r.st.written && !contents_ok(r.slot, r.r, true))
            out.push_back({finding_name(FindingId::object_contents), r.r.page,
                           fmt::format("slot {} (size {}) differs from its pattern", r.slot, r.st.size)});
    });
    // Each object's bytes, one extent a page it lies in.
    struct Extent {
        const uint8_t* at;
        size_t len;
        const LiveObject* o;
    };
    std::vector<Extent> extents;
    for (const LiveObject& o : live) {
        const size_t first = std::min(o.size, o.r.first_len);
        extents.push_back({o.r.object, first, &o});
        if (o.r.object2 && o.size > first) extents.push_back({o.r.object2, o.size - first, &o});
    }
    std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.at < b.at; });
    for (size_t i = 1; i < extents.size(); i++) {
        const Extent& a = extents[i - 1];
        const Extent& b = extents[i];
        if (a.at + a.len > b.at)
            out.push_back({finding_name(FindingId::objects_overlap), b.o->r.page,
                           fmt::format("slot {} (size {}) and slot {} overlap in page {}", a.o->slot, a.o->size,
                                       b.o->slot, b.o->r.page)});
    }
    // The units (a page, or a zspage's pages) that hold an object.
    auto unit_of = [&](uint32_t serial) {
        const PageSnapshot* p = snap.page(serial);
        return p && p->unit ? p->unit : serial;
    };
    std::vector<uint32_t> units_with_objects;
    for (const LiveObject& o : live) units_with_objects.push_back(unit_of(o.r.page));
    std::sort(units_with_objects.begin(), units_with_objects.end());
    for (const PageSnapshot& p : snap.pages)
        if (!std::binary_search(units_with_objects.begin(), units_with_objects.end(), p.unit ? p.unit : p.serial))
            out.push_back({finding_name(FindingId::empty_page_kept), p.serial,
                           fmt::format("page {} holds no object at rest", p.serial)});
    if (snap.pages_nr != static_cast<int64_t>(snap.pages.size()))
        out.push_back({finding_name(FindingId::accounting_pages), 0,
                       fmt::format("pages_nr is {} but {} pages are live", snap.pages_nr, snap.pages.size())});
    static thread_local std::vector<Violation> own;
    own.clear();
    target_.check_at_rest(snap, live, own);
    for (Violation& v : own) out.push_back({v.id, v.page, v.message});
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
