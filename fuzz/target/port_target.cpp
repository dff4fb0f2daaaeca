// z3fold-harden: the C++ port as a TargetPool.
#include "target/port_target.h"
#include "target/z3fold_at_rest.h"

namespace z3fh::fuzz {

PoolSnapshot PortTarget::snapshot() { return PoolInspector::snapshot(pool_); }

void PortTarget::check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                               std::vector<Violation>& out) {
    z3fold_check_at_rest(*this, snap, live, out);
}

void PortTarget::validate(std::vector<Violation>& out) { PoolInspector::validate(pool_, out); }

bool PortTarget::validate_scope(const StepScope& scope, std::vector<Violation>& out) {
    if (scope.all) return false;
    return PoolInspector::validate_pages(pool_, scope.addresses, scope.n_addresses, scope.page_serial, out);
}

bool PortTarget::resolve(Handle h, ResolvedHandle* out) {
    const uint8_t* obj = nullptr;
    if (!PoolInspector::resolve(pool_, h, &out->page, &out->bud, &out->offset, &obj)) return false;
    out->object = obj;
    if (out->bud == Buddy::HEADLESS) {
        out->refcount = 0;
        out->slots_serial = 0;
        return true;
    }
    auto* z = reinterpret_cast<const Z3foldHeader*>(reinterpret_cast<uintptr_t>(obj) & PAGE_MASK);
    out->refcount = z->refcount.peek();
    out->slots_serial = handle_to_slots(h)->serial;
    return true;
}

TargetCounts PortTarget::counts() {
    return TargetCounts{static_cast<int64_t>(pool_.total_pages()), pool_.page_source().live_pages(),
                        pool_.slots_cache().live()};
}

// Slots objects first: a page's leak usually leaks its slots object too,
// and the slots object's site is the more telling one.
std::vector<Leftover> PortTarget::live_allocations() {
    std::vector<Leftover> out = pool_.slots_cache().live_allocations();
    std::vector<Leftover> pages = pool_.page_source().live_allocations();
    out.insert(out.end(), pages.begin(), pages.end());
    return out;
}

std::vector<uint32_t> PortTarget::live_slots_objects() {
    std::vector<uint32_t> out;
    for (BuddySlots* bs : pool_.slots_cache().live_ordered()) out.push_back(bs->serial);
    return out;
}

}  // namespace z3fh::fuzz
