// z3fold-harden kernel shim: the registries the adapter's introspection
// reads (kshim_registry.h): which pages, slab objects and work items are
// live, by serial, and the reset between runs. Every query is made while no
// scheduled thread runs (the checks between steps).
#include <algorithm>
#include <cstdlib>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kshim_leftovers.h"
#include "kshim_world.h"

extern "C" {
#include "kshim_registry.h"
}

using namespace kshim;

namespace {

// (serial, address) pairs, for listing pages or objects in serial order;
// asked by the validator at every step, so the storage is kept.
std::vector<std::pair<uint32_t, uintptr_t>>& serial_scratch() {
    static std::vector<std::pair<uint32_t, uintptr_t>> v;
    v.clear();
    return v;
}

// Sort the (serial, address) pairs and copy the addresses out (as many as
// `cap` holds); how many there are.
size_t copy_in_serial_order(std::vector<std::pair<uint32_t, uintptr_t>>& by_serial, void* out[], size_t cap) {
    std::sort(by_serial.begin(), by_serial.end());
    for (size_t i = 0; i < by_serial.size() && i < cap; i++) out[i] = reinterpret_cast<void*>(by_serial[i].second);
    return by_serial.size();
}

}  // namespace

extern "C" void kshim_reset(int nr_cpus) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    w.nr_cpus = nr_cpus < 1 ? 1 : nr_cpus;
    w.next_page_serial = 1;
    w.next_slab_serial = 1;
    w.next_wq_serial = 1;
    // Pages and objects a finished run leaked stay allocated (LeakSanitizer
    // reports them); the registry forgets them so serials start afresh.
    w.pages.clear();
    w.page_sites.clear();
    w.objects.clear();
    for (const auto& [addr, block] : w.kmallocs) w.abandoned.push_back(reinterpret_cast<const void*>(addr));
    w.kmallocs.clear();
    w.heads.clear();
    w.members.clear();
    w.works.clear();
    w.work_runs.clear();
    w.work_arena.reset();
    w.percpu.clear();
    reset_system(w);
    reset_locks();
    w.fail_countdown[0] = w.fail_countdown[1] = 0;
    // A run abandoned mid-way (a finding, a hang) leaves its queues and
    // caches; they belong to its scheduler, so they are set aside, not
    // deleted (a queue's destructor would flush and retire a worker of this
    // run's scheduler). Kept reachable, so LeakSanitizer says nothing.
    for (const void* q : w.workqueues) w.abandoned.push_back(q);
    for (KWorkQueue* q : w.dead_workqueues) w.abandoned.push_back(q);
    for (KmemCache* c : w.zombie_caches) w.abandoned.push_back(c);
    for (KmemCache* c : w.caches) w.abandoned.push_back(c);
    w.caches.clear();
    w.workqueues.clear();
    w.dead_workqueues.clear();
    w.zombie_caches.clear();
}

extern "C" void kshim_free_leftovers(void) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    for (auto& [addr, obj] : w.objects) std::free(reinterpret_cast<void*>(addr));
    w.objects.clear();
    for (KmemCache* c : w.zombie_caches) delete c;
    for (KWorkQueue* q : w.dead_workqueues) delete q;
    w.dead_workqueues.clear();
    // system_wq is the kernel's, made for this run (drained by now).
    if (w.system_wq) {
        w.workqueues.erase(w.system_wq);
        delete static_cast<const KWorkQueue*>(w.system_wq);
        w.system_wq = nullptr;
    }
    w.zombie_caches.clear();
    for (auto& [block, serial] : w.pages) std::free(reinterpret_cast<void*>(block));
    w.pages.clear();
    w.page_sites.clear();
    for (auto& [addr, block] : w.kmallocs) std::free(reinterpret_cast<void*>(addr));
    w.kmallocs.clear();
    for (KmemCache* c : w.caches) delete c;
    w.caches.clear();
    w.members.clear();
}

std::vector<z3fh::Leftover> kshim_live_allocations(bool everything) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    std::vector<z3fh::Leftover> out;
    // Slab objects and pages in allocation order, then the pool's own
    // allocations: the first is the signature's.
    std::vector<std::pair<uint32_t, uintptr_t>>& by_serial = serial_scratch();
    for (const auto& [addr, obj] : w.objects) by_serial.emplace_back(obj.serial, addr);
    std::sort(by_serial.begin(), by_serial.end());
    for (const auto& [serial, addr] : by_serial) {
        const SlabObject& obj = w.objects.find(addr)->second;
        out.push_back({fmt::format("a {} object", obj.cache->name), z3fh::alloc_site_name(obj.site), serial});
    }
    by_serial.clear();
    for (const auto& [block, serial] : w.pages) by_serial.emplace_back(serial, block);
    std::sort(by_serial.begin(), by_serial.end());
    for (const auto& [serial, block] : by_serial) {
        auto site = w.page_sites.find(block);
        out.push_back({"a page", site == w.page_sites.end() ? "unknown" : z3fh::alloc_site_name(site->second), serial});
    }
    if (!everything) return out;
    for (const auto& [addr, block] : w.kmallocs)
        if (!block.cpu_lifetime) out.push_back({fmt::format("a kzalloc block of {} bytes", block.size), z3fh::alloc_site_name(block.site), 0});
    for (const PercpuArea& a : w.percpu)
        out.push_back({fmt::format("a per-CPU area of {} bytes a CPU", a.size), z3fh::alloc_site_name(a.site), 0});
    for (const KmemCache* c : w.caches)
        out.push_back({fmt::format("the kmem_cache {}", c->name), z3fh::alloc_site_name(c->site), 0});
    for (const void* q : w.workqueues)
        if (q != w.system_wq) out.push_back({"a workqueue", z3fh::alloc_site_name(static_cast<const KWorkQueue*>(q)->site), 0});
    return out;
}

extern "C" int kshim_page_is_live(const void* data) { return kshim_live_page_serial(data) != 0; }

extern "C" uint32_t kshim_page_serial(const void* addr) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    auto p = w.pages.find(reinterpret_cast<uintptr_t>(addr) & ~(uintptr_t{kBlockSize} - 1));
    return p == w.pages.end() ? 0 : p->second;
}

extern "C" uint32_t kshim_live_page_serial(const void* data) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    auto a = reinterpret_cast<uintptr_t>(data);
    if ((a & (kPageSize - 1)) != 0) return 0;
    World& w = world();
    auto p = w.pages.find(a);
    return p == w.pages.end() ? 0 : p->second;
}

extern "C" const void* kshim_page_data_of(const void* addr) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    auto block = reinterpret_cast<uintptr_t>(addr) & ~(uintptr_t{kBlockSize} - 1);
    return world().pages.count(block) ? reinterpret_cast<const void*>(block) : nullptr;
}

extern "C" const void* kshim_page_data_by_serial(uint32_t serial) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    for (auto& [block, s] : world().pages)
        if (s == serial) return reinterpret_cast<const void*>(block);
    return nullptr;
}

extern "C" size_t kshim_live_pages(void* out_data[], size_t cap) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    // In serial order: the snapshot lists pages in allocation order.
    World& w = world();
    std::vector<std::pair<uint32_t, uintptr_t>>& by_serial = serial_scratch();
    for (auto& [block, serial] : w.pages) by_serial.emplace_back(serial, block);
    return copy_in_serial_order(by_serial, out_data, cap);
}

extern "C" uint32_t kshim_slab_serial(const void* obj) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    auto o = w.objects.find(reinterpret_cast<uintptr_t>(obj));
    return o == w.objects.end() ? 0 : o->second.serial;
}

extern "C" size_t kshim_live_slab_objects(const struct kmem_cache* cache, void* out[], size_t cap) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    std::vector<std::pair<uint32_t, uintptr_t>>& by_serial = serial_scratch();
    for (auto& [addr, obj] : w.objects)
        if (obj.cache == reinterpret_cast<const KmemCache*>(cache)) by_serial.emplace_back(obj.serial, addr);
    return copy_in_serial_order(by_serial, out, cap);
}

extern "C" size_t kshim_slab_objects_total(void) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    return world().objects.size();
}

extern "C" size_t kshim_slab_live_count(const struct kmem_cache* cache) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    return cache ? reinterpret_cast<const KmemCache*>(cache)->live : 0;
}

// work_pending reads PENDING from work->data, as the kernel's does.
extern "C" bool kshim_work_pending(const work_struct* w) {
    TsanHidden hidden;
    return (__atomic_load_n(&w->data, __ATOMIC_RELAXED) & KSHIM_WORK_STRUCT_PENDING) != 0;
}

extern "C" void kshim_flush_workqueue(struct workqueue_struct* wq) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    if (wq) reinterpret_cast<KWorkQueue*>(wq)->q.flush();
}

extern "C" uint64_t kshim_work_runs(work_func_t fn) {
    TsanHidden hidden;
    auto it = world().work_runs.find(reinterpret_cast<uintptr_t>(fn));
    return it == world().work_runs.end() ? 0 : it->second;
}

extern "C" int kshim_workqueue_idle(const struct workqueue_struct* wq) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    return !wq || reinterpret_cast<const KWorkQueue*>(wq)->q.idle();
}

