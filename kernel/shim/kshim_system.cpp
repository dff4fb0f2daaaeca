// z3fold-harden kernel shim: static per-CPU data, CPU hotplug states,
// shrinkers, system_wq and flush_work, the page-fault-disabled count,
// kasprintf, and waiting for a page's unlock (kshim_system.h). Serialised by
// the scheduler like the rest of the shim's world.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "kshim_world.h"

extern "C" {
#include "kshim_registry.h"
// kshim.h's C API this file calls (kshim.h itself is C: its macros are not for C++).
size_t kshim_percpu_unit(const void* p);
void* kshim_kzalloc(size_t size, gfp_t gfp, const char* file, int line);
void kshim_kfree(const void* p);
void kshim_yield(const char* file, int line);
struct workqueue_struct* kshim_create_workqueue(const char* name);
}
namespace {
constexpr gfp_t kGfpKernel = 0x400u | 0x800u | 0x40u | 0x80u;  // GFP_KERNEL, as kshim.h has it
constexpr int kDefaultSeeks = 2;
}  // namespace

using namespace kshim;

// The DEFINE_PER_CPU section's bounds, from the linker (absent, and null,
// when the kernel file defines no per-CPU variable).
extern "C" {
extern char __start_kshim_percpu[] __attribute__((weak));
extern char __stop_kshim_percpu[] __attribute__((weak));
}

namespace kshim {

namespace {
size_t percpu_section_size() {
    return __start_kshim_percpu && __stop_kshim_percpu
               ? static_cast<size_t>(__stop_kshim_percpu - __start_kshim_percpu)
               : 0;
}
}  // namespace

// Every CPU's copy of the section, each followed by a redzone as long as it
// (poisoned under ASan), copied from the template: the kernel's per-CPU
// variables start each boot from their initializer; ours each run.
void reset_system(World& w) {
    const size_t size = percpu_section_size();
    if (w.percpu_static) {
        KSHIM_UNPOISON(w.percpu_static, w.percpu_static_stride * static_cast<size_t>(w.percpu_static_units));
        std::free(w.percpu_static);
        w.percpu_static = nullptr;
    }
    if (size) {
        const size_t unit = (size + 63) / 64 * 64;
        w.percpu_static_stride = 2 * unit;
        w.percpu_static_units = w.nr_cpus;
        w.percpu_static = static_cast<char*>(std::aligned_alloc(64, w.percpu_static_stride * static_cast<size_t>(w.nr_cpus)));
        for (int cpu = 0; cpu < w.nr_cpus; cpu++) {
            char* copy = w.percpu_static + static_cast<size_t>(cpu) * w.percpu_static_stride;
            std::memcpy(copy, __start_kshim_percpu, size);
            KSHIM_POISON(copy + size, w.percpu_static_stride - size);
        }
    }
    for (auto& t : w.cpuhp_teardown) t = nullptr;
    w.in_cpuhp_startup = false;
    w.shrinkers.clear();
    w.system_wq = nullptr;
}

}  // namespace kshim

extern "C" void* kshim_per_cpu_ptr(const void* p, int cpu) {
    TsanHidden hidden;  // the shim's registries are serialised by the scheduler
    World& w = world();
    if (cpu < 0 || cpu >= w.nr_cpus)
        fatal(ErrorKind::percpu_out_of_bounds, SrcLoc{"(per_cpu_ptr)", 0},
              fmt::format("per_cpu_ptr for CPU {} with {} possible CPU(s)", cpu, w.nr_cpus));
    const char* c = static_cast<const char*>(p);
    if (percpu_section_size() && c >= __start_kshim_percpu && c < __stop_kshim_percpu)
        return w.percpu_static + static_cast<size_t>(cpu) * w.percpu_static_stride + (c - __start_kshim_percpu);
    return const_cast<char*>(c) + static_cast<size_t>(cpu) * kshim_percpu_unit(p);
}

extern "C" void kshim_pagefault_disable(const char*, int) {
    TsanHidden hidden;
    current_context().pagefault_disabled++;
}
extern "C" void kshim_pagefault_enable(const char* file, int line) {
    TsanHidden hidden;
    ThreadContext& c = current_context();
    if (c.pagefault_disabled <= 0) fatal(ErrorKind::check, loc_of(file, line), "pagefault_enable without pagefault_disable");
    c.pagefault_disabled--;
}

// ---- CPU hotplug ----

extern "C" int kshim_cpuhp_setup_state(enum cpuhp_state state, int (*startup)(unsigned int),
                                       int (*teardown)(unsigned int)) {
    World& w = world();
    {
        TsanHidden hidden;
        w.cpuhp_teardown[state] = teardown;
        w.in_cpuhp_startup = true;
    }
    int rc = 0;
    for (int cpu = 0; cpu < w.nr_cpus && rc == 0; cpu++) rc = startup ? startup(static_cast<unsigned>(cpu)) : 0;
    TsanHidden hidden;
    w.in_cpuhp_startup = false;
    return rc;
}

extern "C" void kshim_cpuhp_remove_state(enum cpuhp_state state) {
    World& w = world();
    int (*teardown)(unsigned int);
    {
        TsanHidden hidden;
        teardown = w.cpuhp_teardown[state];
        w.cpuhp_teardown[state] = nullptr;
    }
    if (teardown)
        for (int cpu = 0; cpu < w.nr_cpus; cpu++) (void)teardown(static_cast<unsigned>(cpu));
}

// ---- shrinkers ----

extern "C" struct shrinker* kshim_shrinker_alloc(unsigned int flags, const char* file, int line) {
    auto* s = static_cast<struct shrinker*>(kshim_kzalloc(sizeof(struct shrinker), kGfpKernel, file, line));
    if (s) {
        s->flags = flags;
        s->seeks = kDefaultSeeks;
    }
    return s;
}
extern "C" void kshim_shrinker_register(struct shrinker* s) {
    TsanHidden hidden;
    world().shrinkers.push_back(s);
}
extern "C" void kshim_shrinker_free(struct shrinker* s) {
    if (!s) return;  // 6.12's shrinker_free takes NULL (an unregistered pool's error path)
    {
        TsanHidden hidden;
        auto& v = world().shrinkers;
        v.erase(std::remove(v.begin(), v.end(), s), v.end());
    }
    kshim_kfree(s);
}

// shrink_slab for every registered shrinker, as direct reclaim runs it
// (do_shrink_slab: count, then scan in batches of `batch` or 128 while
// there is work and the scan makes progress). What they freed.
extern "C" unsigned long kshim_run_shrinkers(unsigned long nr_to_scan) {
    std::vector<struct shrinker*> now;
    {
        TsanHidden hidden;
        now = world().shrinkers;
    }
    unsigned long freed = 0;
    for (struct shrinker* s : now) {
        struct shrink_control sc = {kGfpKernel, 0, 0, 0, nullptr};
        const unsigned long count = s->count_objects(s, &sc);
        if (count == 0 || count == SHRINK_EMPTY) continue;
        const unsigned long batch = s->batch ? static_cast<unsigned long>(s->batch) : 128;
        unsigned long left = std::min(count, nr_to_scan);
        while (left > 0) {
            sc.nr_to_scan = std::min(left, batch);
            sc.nr_scanned = sc.nr_to_scan;
            const unsigned long ret = s->scan_objects(s, &sc);
            if (ret == SHRINK_STOP) break;
            freed += ret;
            left -= std::min(left, sc.nr_scanned ? sc.nr_scanned : sc.nr_to_scan);
        }
    }
    return freed;
}

// ---- system_wq and flush_work ----

extern "C" struct workqueue_struct* kshim_system_wq(void) {
    World& w = world();
    {
        TsanHidden hidden;
        if (w.system_wq) return static_cast<struct workqueue_struct*>(const_cast<void*>(w.system_wq));
    }
    struct workqueue_struct* q = kshim_create_workqueue("events");
    TsanHidden hidden;
    w.system_wq = q;
    return q;
}

extern "C" struct workqueue_struct* kshim_system_wq_if_made(void) {
    TsanHidden hidden;
    return static_cast<struct workqueue_struct*>(const_cast<void*>(world().system_wq));
}

// Waits until the item is idle: here by flushing its whole queue (the
// kernel's flush_work waits for the one item; a whole queue drained is at
// least that, never less).
extern "C" bool kshim_flush_work(struct work_struct* w, const char* file, int line) {
    struct workqueue_struct* q = nullptr;
    bool pending;
    {
        TsanHidden hidden;
        might_sleep_here("flush_work", loc_of(file, line));
        pending = (__atomic_load_n(&w->data, __ATOMIC_RELAXED) & KSHIM_WORK_STRUCT_PENDING) != 0;
        auto it = world().works.find(reinterpret_cast<uintptr_t>(w));
        if (it != world().works.end() && it->second->wq && world().workqueues.count(it->second->wq))
            q = reinterpret_cast<struct workqueue_struct*>(it->second->wq);
    }
    if (q) reinterpret_cast<KWorkQueue*>(q)->q.flush();
    return pending;
}

// ---- strings and page waits ----

extern "C" char* kshim_kasprintf(gfp_t gfp, const char* file, int line, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(nullptr, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return nullptr;
    auto* s = static_cast<char*>(kshim_kzalloc(static_cast<size_t>(n) + 1, gfp, file, line));
    if (!s) return nullptr;
    va_start(ap, fmt);
    std::vsnprintf(s, static_cast<size_t>(n) + 1, fmt, ap);
    va_end(ap);
    return s;
}

// Sleeps until the page is unlocked, never taking the lock: each look is a
// point where the holder (or anyone) runs on.
extern "C" void kshim_wait_on_page_locked(struct page* pg, const char* file, int line) {
    {
        TsanHidden hidden;
        might_sleep_here("wait_on_page_locked", loc_of(file, line));
    }
    while (__atomic_load_n(&pg->flags, __ATOMIC_RELAXED) & KSHIM_PG_locked) kshim_yield(file, line);
}
