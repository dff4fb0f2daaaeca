/* z3fold-harden kernel shim: what the adapter's introspection reads about
 * the shim's pages, slab objects, locks and work queues (quiescent only:
 * no scheduled thread runs while these are called). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kshim_types.h"

#ifdef __cplusplus
extern "C" {
#endif

struct kmem_cache;
struct workqueue_struct;

/* Start a run's kernel world with nr_cpus virtual CPUs (serials from 1). */
void kshim_reset(int nr_cpus);
/* data: a page's address (page_address); live = allocated and not freed. */
int kshim_page_is_live(const void *data);
/* The serial of the live page whose block holds addr, 0 if none. */
uint32_t kshim_page_serial(const void *addr);
/* The serial of the live page whose data starts at `data`; 0 if none (one
 * lookup where kshim_page_is_live and kshim_page_serial take two). */
uint32_t kshim_live_page_serial(const void *data);
/* The data address of the live page whose block (data page, then struct
 * page) holds addr, NULL if none; and of the live page numbered serial. */
const void *kshim_page_data_of(const void *addr);
const void *kshim_page_data_by_serial(uint32_t serial);
/* Live pages' data addresses in allocation order; returns how many exist. */
size_t kshim_live_pages(void *out_data[], size_t cap);
/* A live slab object's serial (0 if obj is not a live object's start). */
uint32_t kshim_slab_serial(const void *obj);
size_t kshim_live_slab_objects(const struct kmem_cache *cache, void *out[], size_t cap);
size_t kshim_slab_live_count(const struct kmem_cache *cache);
/* Every live slab object, of any cache (after a pool's caches are gone). */
size_t kshim_slab_objects_total(void);
int kshim_spin_is_locked(const spinlock_t *l);
/* The pool's list heads and the locks that guard them (kshim.h's list-guard check). */
void kshim_guard_list(const struct list_head *head, const spinlock_t *lock);
void kshim_unguard_list(const struct list_head *head);
/* get_page_unless_zero on the page whose data starts at `data`: NULL if it
 * is free (the kernel's struct page outlives the page; the shim's does not,
 * so the scan names a page by its data address). A scheduling point. */
struct page *kshim_get_page_unless_zero(const void *data, const char *file, int line);
/* The mm core's own page allocation (compaction_alloc's free page): never
 * one of the program's injected failures, which are the allocator's. */
struct page *kshim_alloc_free_page(const char *file, int line);
/* After the pool is destroyed: free what it left (the harness has already
 * reported it as a leak), so one run's leak is not the next one's. */
void kshim_free_leftovers(void);
/* Fault injection: the n-th page (which 0) or slab-object (which 1)
 * allocation from now fails (n >= 1; 0 cancels). */
void kshim_fail_nth(int which, int n);
/* The harness's own bookkeeping in C (the adapter's): serialised by the
 * scheduler, hidden from TSan like the C++ side's (sync::TsanHidden). */
void kshim_tsan_hide(void);
void kshim_tsan_unhide(void);
/* The allocator's caller is atomic around its call (its own spinning lock
 * held): the context rules hold the allocator to it, and the allocator
 * returns with exactly that much taken. */
void kshim_caller_atomic_begin(const char *file, int line);
void kshim_caller_atomic_end(void);
/* After an operation returns (or a work item ends): no lock may be held. */
void kshim_check_returned(const char *what);
void kshim_might_sleep(const char *what, const char *file, int line);
/* A zpool call made by its user with `gfp` (gfp-contract: what the
 * allocator allocates inside may block only if gfp allows it), and its end. */
void kshim_enter_caller(gfp_t gfp);
/* Whether scheduled thread `thread`, holding `held` sync-layer locks, may
 * move to another virtual CPU now (ControlledRuntime::set_preemptible). */
bool kshim_thread_preemptible(int thread, int held);
/* Whether it owns its virtual CPU now (ControlledRuntime::set_owns_cpu's
 * CpuClaim, same values): 0 no, 1 it spins for a lock (`waiting`: found it
 * taken), 2 preemption is off (a spinning lock held, preempt_disable). */
enum { KSHIM_CPU_FREE = 0, KSHIM_CPU_SPIN_WAIT = 1, KSHIM_CPU_PREEMPT_OFF = 2 };
int kshim_thread_owns_cpu(int thread, int held, bool waiting);
void kshim_leave_caller(void);
/* Main context only: run what is queued, inline, until empty. */
void kshim_flush_workqueue(struct workqueue_struct *wq);
int kshim_workqueue_idle(const struct workqueue_struct *wq);
/* shrink_slab: every registered shrinker counts, then scans up to
 * nr_to_scan objects (from a sleepable context); what they freed. */
unsigned long kshim_run_shrinkers(unsigned long nr_to_scan);
/* This run's system_wq, NULL if nothing queued on it yet. */
struct workqueue_struct *kshim_system_wq_if_made(void);
/* How many times the work function fn ran since the run began. */
uint64_t kshim_work_runs(work_func_t fn);

#ifdef __cplusplus
}
#endif
