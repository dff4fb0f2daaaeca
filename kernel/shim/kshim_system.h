/* z3fold-harden kernel shim: what a kernel file borrows from the rest of
 * the kernel besides locks, pages and slabs: static per-CPU data
 * (DEFINE_PER_CPU), CPU hotplug states, shrinkers, and the atomic mapping
 * context (kmap_atomic, local_lock, pagefault_disable) zsmalloc's mapping
 * lives in. Included by kshim.h; written for this project. */
#pragma once

/* ---- static per-CPU data: the definition is the template (its
 * initializer), in a section of its own; every virtual CPU's copy is the
 * shim's, made afresh from the template at every run's start, so a run
 * never sees what an earlier one left there ---- */
#define DEFINE_PER_CPU(type, name) __typeof__(type) name __attribute__((section("kshim_percpu"), aligned(64)))
#define per_cpu(var, cpu) (*per_cpu_ptr(&(var), (cpu)))

/* ---- the atomic mapping context (a kernel without HIGHMEM or PREEMPT_RT):
 * kmap_atomic disables preemption and page faults and returns the page's
 * address; local_lock disables preemption (its lockdep map aside). A thread
 * with preemption off owns its virtual CPU: no other thread runs on that CPU
 * until it enables preemption again ---- */
void kshim_pagefault_disable(const char *file, int line);
void kshim_pagefault_enable(const char *file, int line);
#define pagefault_disable() kshim_pagefault_disable(__FILE__, __LINE__)
#define pagefault_enable() kshim_pagefault_enable(__FILE__, __LINE__)
static inline void *kshim_kmap_atomic(struct page *page, const char *file, int line) {
    kshim_preempt_disable(file, line);
    kshim_pagefault_disable(file, line);
    return page_address(page);
}
static inline void kshim_kunmap_atomic(const void *addr, const char *file, int line) {
    (void)addr;
    kshim_pagefault_enable(file, line);
    kshim_preempt_enable(file, line);
}
#define kmap_atomic(page) kshim_kmap_atomic((page), __FILE__, __LINE__)
#define kunmap_atomic(addr) kshim_kunmap_atomic((addr), __FILE__, __LINE__)
typedef struct {
} local_lock_t;
#define INIT_LOCAL_LOCK(lockname) {}
#define local_lock(l) ((void)(l), kshim_preempt_disable(__FILE__, __LINE__))
#define local_unlock(l) ((void)(l), kshim_preempt_enable(__FILE__, __LINE__))

/* ---- CPU hotplug: a state's startup runs for every virtual CPU when it is
 * set up, its teardown for every one when it is removed ---- */
int kshim_cpuhp_setup_state(enum cpuhp_state state, int (*startup)(unsigned int), int (*teardown)(unsigned int));
void kshim_cpuhp_remove_state(enum cpuhp_state state);
#define cpuhp_setup_state(state, name, startup, teardown) kshim_cpuhp_setup_state((state), (startup), (teardown))
#define cpuhp_remove_state(state) kshim_cpuhp_remove_state(state)

/* ---- shrinkers (6.12's shrinker_alloc API): registered ones are what the
 * harness's memory pressure runs (shrink_slab: count, then scan) ---- */
struct shrinker *kshim_shrinker_alloc(unsigned int flags, const char *file, int line);
void kshim_shrinker_register(struct shrinker *s);
void kshim_shrinker_free(struct shrinker *s);
#define shrinker_alloc(flags, ...) kshim_shrinker_alloc((flags), __FILE__, __LINE__)
#define shrinker_register(s) kshim_shrinker_register(s)
#define shrinker_free(s) kshim_shrinker_free(s)
