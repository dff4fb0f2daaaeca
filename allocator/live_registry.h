// z3fold-harden: the registry of live objects (pages, slots objects) that the
// validator and the handle checks consult: membership by address in
// O(log n) and iteration in allocation order, neither allocating. Both run
// at every scheduling point; a hash set's lookup and a sort per call were a
// tenth of an execution under ASan. The owner locks around it.
#pragma once
#include <algorithm>
#include <functional>
#include <vector>

#include "alloc_site.h"

namespace z3fh {

template <typename T>
class LiveRegistry {
public:
    // Room for a typical run's objects up front: growing by doubling cost a
    // handful of allocations a run, each a stack unwind under ASan.
    LiveRegistry() {
        in_order_.reserve(32);
        by_address_.reserve(32);
    }
    // Objects are inserted in allocation order (their serials increase),
    // each with the site that allocated it (a leak's signature).
    void insert(T* p, const AllocSite& site) {
        in_order_.push_back(p);
        sites_.push_back(site);
        by_address_.insert(std::upper_bound(by_address_.begin(), by_address_.end(), p, std::less<T*>()), p);
    }
    void erase(T* p) {
        auto o = std::find(in_order_.begin(), in_order_.end(), p);
        if (o != in_order_.end()) {
            sites_.erase(sites_.begin() + (o - in_order_.begin()));
            in_order_.erase(o);
        }
        auto a = std::lower_bound(by_address_.begin(), by_address_.end(), p, std::less<T*>());
        if (a != by_address_.end() && *a == p) by_address_.erase(a);
    }
    bool contains(T* p) const {
        return std::binary_search(by_address_.begin(), by_address_.end(), p, std::less<T*>());
    }
    size_t size() const { return in_order_.size(); }
    // Oldest first.
    const std::vector<T*>& in_order() const { return in_order_; }
    // The site of in_order()[i].
    const AllocSite& site(size_t i) const { return sites_[i]; }

private:
    std::vector<T*> in_order_;
    std::vector<AllocSite> sites_;  // parallel to in_order_
    std::vector<T*> by_address_;  // sorted by address
};

}  // namespace z3fh
