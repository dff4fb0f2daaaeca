/* z3fold-harden kernel shim: the kernel API mm/z3fold.c (Linux 6.1, 6.12) uses,
 * in user space. Every lock, atomic, bit operation, READ_ONCE, work-queue
 * call and cond_resched is a call into kshim_runtime.cpp, which hands it to
 * the controlled sync layer: the scheduler owns every interleaving, exactly
 * as for the C++ port. WARN_ON, BUG_ON and VM_BUG_ON are findings carrying
 * the kernel file and line. Written for this project; no kernel code. */
#pragma once
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "kshim_series.h"
#include "kshim_types.h"

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int64_t s64;
typedef int isolate_mode_t;
enum migrate_mode { MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY };

/* ---- compiler and basic helpers ---- */
#define KBUILD_MODNAME "z3fold"
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __init
#define __exit
#define __aligned(x) __attribute__((aligned(x)))
#define __percpu /* sparse's address space: nothing to a compiler */
#define __always_unused __attribute__((unused))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define max(a, b) ((a) > (b) ? (a) : (b))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define round_up(x, y) ((((x)-1) | ((__typeof__(x))((y)-1))) + 1)
#define BUILD_BUG_ON(cond) _Static_assert(!(cond), "BUILD_BUG_ON(" #cond ")")
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define PAGE_MASK (~(PAGE_SIZE - 1))
#define offset_in_page(p) ((unsigned long)(p) & ~PAGE_MASK)
#define BITS_PER_LONG 64
#define __AC(x, y) (x##y)
#define _AC(x, y) __AC(x, y)
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define MAX(a, b) max(a, b)
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define SZ_16M 0x01000000
#define __maybe_unused __attribute__((unused))
#define __acquires(x)
#define __releases(x)
#define EXPORT_SYMBOL_GPL(sym) struct kshim_export_unused
static inline bool is_power_of_2(unsigned long n) { return n != 0 && (n & (n - 1)) == 0; }
/* IS_ENABLED(CONFIG_X): 1 when CONFIG_X is defined to 1 (kconfig.h's trick). */
#define KSHIM_PLACEHOLDER_1 0,
#define KSHIM_SECOND_ARG(ignored, val, ...) val
#define KSHIM_IS_DEFINED(x) KSHIM_IS_DEFINED_(x)
#define KSHIM_IS_DEFINED_(val) KSHIM_IS_DEFINED__(KSHIM_PLACEHOLDER_##val)
#define KSHIM_IS_DEFINED__(arg1_or_junk) KSHIM_SECOND_ARG(arg1_or_junk 1, 0)
#define IS_ENABLED(option) KSHIM_IS_DEFINED(option)
/* Error pointers: the last page of the address space holds -errno. */
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
static inline void *ERR_PTR(long error) { return (void *)error; }
static inline long PTR_ERR(const void *ptr) { return (long)ptr; }
static inline bool IS_ERR(const void *ptr) { return IS_ERR_VALUE((unsigned long)ptr); }
static inline bool IS_ERR_OR_NULL(const void *ptr) { return !ptr || IS_ERR_VALUE((unsigned long)ptr); }

/* READ_ONCE and WRITE_ONCE are relaxed atomics (TSan sees the kernel's
 * marked accesses as such). READ_ONCE is not a scheduling point of its own:
 * z3fold's one use peeks at each unbuddied list head before it takes
 * pool->lock, and that lock is the point where another thread may run. */
#define READ_ONCE(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ---- reports ---- */
void kshim_warn(const char *cond, const char *file, int line);
__attribute__((noreturn)) void kshim_bug(const char *cond, const char *file, int line);
#define WARN_ON(cond)                                                                                          \
    ({                                                                                                         \
        int kshim_c_ = !!(cond);                                                                               \
        if (unlikely(kshim_c_)) kshim_warn("WARN_ON(" #cond ")", __FILE__, __LINE__);                          \
        unlikely(kshim_c_);                                                                                    \
    })
#define WARN_ON_ONCE(cond) WARN_ON(cond)
#define VM_WARN_ON_ONCE(cond) ((void)WARN_ON(cond))
#define BUG_ON(cond)                                                                                           \
    do {                                                                                                       \
        if (unlikely(cond)) kshim_bug("BUG_ON(" #cond ")", __FILE__, __LINE__);                                \
    } while (0)
#define VM_BUG_ON(cond)                                                                                        \
    do {                                                                                                       \
        if (unlikely(cond)) kshim_bug("VM_BUG_ON(" #cond ")", __FILE__, __LINE__);                             \
    } while (0)
#define VM_BUG_ON_PAGE(cond, page)                                                                             \
    do {                                                                                                       \
        if (unlikely(cond)) kshim_bug("VM_BUG_ON_PAGE(" #cond ")", __FILE__, __LINE__);                        \
    } while (0)
/* Printing is left to the findings (WARN_ON follows every pr_err here). */
#define pr_err(...) ((void)0)
#define pr_info(...) ((void)0)
#define pr_warn(...) ((void)0)

/* ---- module and zpool registration: z3fold is driven by the adapter ---- */
#define THIS_MODULE ((struct module *)0)
#define MODULE_ALIAS(x) struct kshim_module_alias_unused
#define MODULE_LICENSE(x) struct kshim_module_license_unused
#define MODULE_AUTHOR(x) struct kshim_module_author_unused
#define MODULE_DESCRIPTION(x) struct kshim_module_description_unused
#define module_init(fn) int (*kshim_module_init)(void) = fn
#define module_exit(fn) void (*kshim_module_exit)(void) = fn
struct module;
struct zpool;
enum zpool_mapmode { ZPOOL_MM_RW, ZPOOL_MM_RO, ZPOOL_MM_WO, ZPOOL_MM_DEFAULT = ZPOOL_MM_RW };
#if KSHIM_ZPOOL_EVICT
struct zpool_ops {
    int (*evict)(struct zpool *pool, unsigned long handle);
};
#endif
struct zpool_driver {
    char *type;
    struct module *owner;
    bool sleep_mapped;
#if KSHIM_ZPOOL_EVICT
    void *(*create)(const char *name, gfp_t gfp, const struct zpool_ops *ops, struct zpool *zpool);
#else
    void *(*create)(const char *name, gfp_t gfp);
#endif
    void (*destroy)(void *pool);
    bool malloc_support_movable;
    int (*malloc)(void *pool, size_t size, gfp_t gfp, unsigned long *handle);
    void (*free)(void *pool, unsigned long handle);
#if KSHIM_ZPOOL_EVICT
    int (*shrink)(void *pool, unsigned int pages, unsigned int *reclaimed);
#endif
    void *(*map)(void *pool, unsigned long handle, enum zpool_mapmode mm);
    void (*unmap)(void *pool, unsigned long handle);
#if KSHIM_ZPOOL_EVICT
    u64 (*total_size)(void *pool);
#else
    u64 (*total_pages)(void *pool);
#endif
};
static inline void zpool_register_driver(struct zpool_driver *d) { (void)d; }
static inline int zpool_unregister_driver(struct zpool_driver *d) { (void)d; return 0; }

/* ---- gfp ---- */
#define __GFP_HIGHMEM 0x02u
#define __GFP_MOVABLE 0x08u
#define __GFP_HIGH 0x20u
#define __GFP_DIRECT_RECLAIM KSHIM_GFP_DIRECT_RECLAIM
#define __GFP_KSWAPD_RECLAIM 0x800u
#define __GFP_IO 0x40u
#define __GFP_FS 0x80u
#define __GFP_NOWARN 0x2000u
#define __GFP_NORETRY 0x10000u
#define GFP_ATOMIC (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_NOIO (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
static inline bool gfpflags_allow_blocking(gfp_t gfp) { return !!(gfp & __GFP_DIRECT_RECLAIM); }

/* ---- scheduling points without an object ---- */
void kshim_yield(const char *file, int line);
void kshim_cond_resched(const char *file, int line);
/* cond_resched may sleep (might_sleep); cpu_relax only lets others run. */
#define cond_resched() kshim_cond_resched(__FILE__, __LINE__)
#define cpu_relax() kshim_yield(__FILE__, __LINE__)
void kshim_might_sleep(const char *what, const char *file, int line);
#define might_sleep() kshim_might_sleep("might_sleep()", __FILE__, __LINE__)
/* Virtual CPUs and the kernel's context rules. The shim counts, per thread,
 * preempt_disable and migrate_disable depth (a spinning lock disables
 * preemption too): smp_processor_id() and this_cpu_ptr() in preemptible
 * code that is not under migrate_disable are findings (CONFIG_DEBUG_PREEMPT's
 * check_preemption_disabled), as is a call that may sleep with preemption
 * off (might_sleep). raw_smp_processor_id() is unchecked, as in the kernel. */
void kshim_preempt_disable(const char *file, int line);
void kshim_preempt_enable(const char *file, int line);
void kshim_migrate_disable(const char *file, int line);
void kshim_migrate_enable(const char *file, int line);
#define migrate_disable() kshim_migrate_disable(__FILE__, __LINE__)
#define migrate_enable() kshim_migrate_enable(__FILE__, __LINE__)
#define preempt_disable() kshim_preempt_disable(__FILE__, __LINE__)
#define preempt_enable() kshim_preempt_enable(__FILE__, __LINE__)
int kshim_current_cpu(void);
int kshim_checked_cpu(const char *what, const char *file, int line);
int kshim_nr_cpus(void);
#define smp_processor_id() kshim_checked_cpu("smp_processor_id()", __FILE__, __LINE__)
#define raw_smp_processor_id() kshim_current_cpu()
#define for_each_possible_cpu(cpu) for ((cpu) = 0; (cpu) < kshim_nr_cpus(); (cpu)++)
#define for_each_online_cpu(cpu) for ((cpu) = 0; (cpu) < kshim_nr_cpus(); (cpu)++)
#define cpu_online(cpu) ((cpu) >= 0 && (cpu) < kshim_nr_cpus())

/* ---- per-CPU data: one unit a virtual CPU, the stride kept in front, units
 * separated by redzones (poisoned under ASan); a list head in a redzone is a
 * percpu-out-of-bounds finding in every build ---- */
void *kshim_alloc_percpu(size_t size, size_t align);
void *kshim_per_cpu_ptr(const void *p, int cpu);
void kshim_free_percpu(void *p);
#define __alloc_percpu(size, align) kshim_alloc_percpu((size), (align))
#define alloc_percpu(type) ((type *)kshim_alloc_percpu(sizeof(type), __alignof__(type)))
#define free_percpu(p) kshim_free_percpu(p)
/* An alloc_percpu area, or a DEFINE_PER_CPU variable (kshim_system.h). */
#define per_cpu_ptr(p, cpu) ((__typeof__(p))kshim_per_cpu_ptr((p), (cpu)))
#define this_cpu_ptr(p) per_cpu_ptr(p, kshim_checked_cpu("this_cpu_ptr()", __FILE__, __LINE__))
#define get_cpu_ptr(p) (kshim_preempt_disable(__FILE__, __LINE__), this_cpu_ptr(p))
#define put_cpu_ptr(p) ((void)(p), kshim_preempt_enable(__FILE__, __LINE__))

/* ---- spinlock and rwlock ---- */
void kshim_spin_init(spinlock_t *l, const char *name);
void kshim_spin_lock(spinlock_t *l, const char *file, int line);
void kshim_spin_lock_nested(spinlock_t *l, int subclass, const char *file, int line);
int kshim_spin_trylock(spinlock_t *l, const char *file, int line);
void kshim_spin_unlock(spinlock_t *l, const char *file, int line);
#define spin_lock_init(l) kshim_spin_init((l), #l)
#define spin_lock(l) kshim_spin_lock((l), __FILE__, __LINE__)
/* lockdep's nesting annotation: another lock of a held lock's class, on purpose. */
#define SINGLE_DEPTH_NESTING 1
#define spin_lock_nested(l, subclass) kshim_spin_lock_nested((l), (subclass), __FILE__, __LINE__)
#define spin_trylock(l) kshim_spin_trylock((l), __FILE__, __LINE__)
#define spin_unlock(l) kshim_spin_unlock((l), __FILE__, __LINE__)
void kshim_rw_init(rwlock_t *l, const char *name);
void kshim_read_lock(rwlock_t *l, const char *file, int line);
void kshim_read_unlock(rwlock_t *l, const char *file, int line);
void kshim_write_lock(rwlock_t *l, const char *file, int line);
void kshim_write_unlock(rwlock_t *l, const char *file, int line);
#define rwlock_init(l) kshim_rw_init((l), #l)
#define read_lock(l) kshim_read_lock((l), __FILE__, __LINE__)
#define read_unlock(l) kshim_read_unlock((l), __FILE__, __LINE__)
#define write_lock(l) kshim_write_lock((l), __FILE__, __LINE__)
#define write_unlock(l) kshim_write_unlock((l), __FILE__, __LINE__)
/* qrwlock's: a writer waiting (or holding it) makes it contended; new
 * readers wait behind a waiting writer (__zs_compact's yield depends on it). */
int kshim_rwlock_is_contended(rwlock_t *l);
#define rwlock_is_contended(l) kshim_rwlock_is_contended(l)
/* lockdep_assert_held in effect: the caller must hold it. */
void kshim_assert_spin_held(const spinlock_t *l, const char *file, int line);
#define assert_spin_locked(l) kshim_assert_spin_held((l), __FILE__, __LINE__)

/* ---- atomics and kref ---- */
long long kshim_atomic_op(void *counter, int width, int op, long long arg, const char *file, int line);
#define atomic_read(v) ((int)kshim_atomic_op(&(v)->counter, 4, KSHIM_AT_READ, 0, __FILE__, __LINE__))
#define atomic_set(v, i) ((void)kshim_atomic_op(&(v)->counter, 4, KSHIM_AT_SET, (i), __FILE__, __LINE__))
#define atomic_inc(v) ((void)kshim_atomic_op(&(v)->counter, 4, KSHIM_AT_ADD_RETURN, 1, __FILE__, __LINE__))
#define atomic_dec(v) ((void)kshim_atomic_op(&(v)->counter, 4, KSHIM_AT_ADD_RETURN, -1, __FILE__, __LINE__))
#define atomic64_read(v) ((s64)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_READ, 0, __FILE__, __LINE__))
#define atomic64_set(v, i) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_SET, (i), __FILE__, __LINE__))
#define atomic64_inc(v) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_ADD_RETURN, 1, __FILE__, __LINE__))
#define atomic64_dec(v) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_ADD_RETURN, -1, __FILE__, __LINE__))
#define atomic_xchg(v, i) ((int)kshim_atomic_op(&(v)->counter, 4, KSHIM_AT_XCHG, (i), __FILE__, __LINE__))
#define atomic_long_read(v) ((long)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_READ, 0, __FILE__, __LINE__))
#define atomic_long_set(v, i) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_SET, (i), __FILE__, __LINE__))
#define atomic_long_add(i, v) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_ADD_RETURN, (i), __FILE__, __LINE__))
#define atomic_long_sub(i, v) ((void)kshim_atomic_op(&(v)->counter, 8, KSHIM_AT_ADD_RETURN, -(long)(i), __FILE__, __LINE__))

void kshim_kref_init(struct kref *k, const char *file, int line);
void kshim_kref_get(struct kref *k, const char *file, int line);
int kshim_kref_get_unless_zero(struct kref *k, const char *file, int line);
int kshim_kref_put(struct kref *k, void (*release)(struct kref *), const char *file, int line);
unsigned int kshim_kref_read(const struct kref *k);
#define kref_init(k) kshim_kref_init((k), __FILE__, __LINE__)
#define kref_get(k) kshim_kref_get((k), __FILE__, __LINE__)
#define kref_get_unless_zero(k) kshim_kref_get_unless_zero((k), __FILE__, __LINE__)
#define kref_put(k, release) kshim_kref_put((k), (release), __FILE__, __LINE__)
#define kref_read(k) kshim_kref_read(k)

/* ---- bit operations (each one scheduling point, atomic by construction) ---- */
int kshim_bitop(int op, long nr, volatile unsigned long *addr, const char *file, int line);
#define test_bit(nr, addr) kshim_bitop(KSHIM_BIT_TEST, (nr), (addr), __FILE__, __LINE__)
#define set_bit(nr, addr) ((void)kshim_bitop(KSHIM_BIT_SET, (nr), (addr), __FILE__, __LINE__))
#define clear_bit(nr, addr) ((void)kshim_bitop(KSHIM_BIT_CLEAR, (nr), (addr), __FILE__, __LINE__))
#define test_and_set_bit(nr, addr) kshim_bitop(KSHIM_BIT_TEST_SET, (nr), (addr), __FILE__, __LINE__)
#define test_and_clear_bit(nr, addr) kshim_bitop(KSHIM_BIT_TEST_CLEAR, (nr), (addr), __FILE__, __LINE__)

/* ---- list.h (the kernel's semantics, including poisoned links on list_del) ----
 * Every add and delete also goes through the shim's list-guard check: the
 * adapter registers which lock guards each of the pool's list heads, nodes
 * linked there are remembered, and an add or delete on such a list without
 * its lock held is a finding (lockdep_assert_held, in effect). */
#define LIST_POISON1 ((struct list_head *)0xdead000000000100UL)
#define LIST_POISON2 ((struct list_head *)0xdead000000000122UL)
#define LIST_HEAD_INIT(name) { &(name), &(name) }
void kshim_list_added(const struct list_head *n, const struct list_head *prev, const struct list_head *next,
                      const char *file, int line);
void kshim_list_deleted(const struct list_head *entry, const char *file, int line);
void kshim_list_forget(const struct list_head *entry);
static inline void INIT_LIST_HEAD(struct list_head *list) {
    kshim_list_forget(list);
    WRITE_ONCE(list->next, list);
    WRITE_ONCE(list->prev, list);
}
static inline void kshim_list_add_between(struct list_head *n, struct list_head *prev, struct list_head *next,
                                          const char *file, int line) {
    kshim_list_added(n, prev, next, file, line);
    next->prev = n;
    n->next = next;
    n->prev = prev;
    WRITE_ONCE(prev->next, n);
}
static inline void kshim_list_unlink(struct list_head *entry, const char *file, int line) {
    struct list_head *prev = entry->prev, *next = entry->next;
    kshim_list_deleted(entry, file, line);
    next->prev = prev;
    WRITE_ONCE(prev->next, next);
}
void kshim_list_check_head(const struct list_head *head, const char *file, int line);
static inline void kshim_list_add_at(struct list_head *n, struct list_head *head, int tail, const char *file,
                                     int line) {
    kshim_list_check_head(head, file, line);
    if (tail) kshim_list_add_between(n, head->prev, head, file, line);
    else kshim_list_add_between(n, head, head->next, file, line);
}
#define list_add(n, head) kshim_list_add_at((n), (head), 0, __FILE__, __LINE__)
#define list_add_tail(n, head) kshim_list_add_at((n), (head), 1, __FILE__, __LINE__)
#define list_del(entry)                                                                                        \
    do {                                                                                                       \
        struct list_head *kshim_e_ = (entry);                                                                  \
        kshim_list_unlink(kshim_e_, __FILE__, __LINE__);                                                       \
        kshim_e_->next = LIST_POISON1;                                                                         \
        kshim_e_->prev = LIST_POISON2;                                                                         \
    } while (0)
#define list_del_init(entry)                                                                                   \
    do {                                                                                                       \
        struct list_head *kshim_e_ = (entry);                                                                  \
        kshim_list_unlink(kshim_e_, __FILE__, __LINE__);                                                       \
        INIT_LIST_HEAD(kshim_e_);                                                                              \
    } while (0)
#define list_move(entry, head)                                                                                 \
    do {                                                                                                       \
        struct list_head *kshim_e_ = (entry), *kshim_h_ = (head);                                              \
        kshim_list_unlink(kshim_e_, __FILE__, __LINE__);                                                       \
        kshim_list_add_at(kshim_e_, kshim_h_, 0, __FILE__, __LINE__);                                          \
    } while (0)
static inline int list_empty(const struct list_head *head) {
    return __atomic_load_n(&head->next, __ATOMIC_RELAXED) == head;
}
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(ptr, type, member) list_entry((ptr)->next, type, member)
#define list_first_entry_or_null(ptr, type, member)                                                            \
    ({                                                                                                         \
        struct list_head *head__ = (ptr);                                                                      \
        struct list_head *pos__ = __atomic_load_n(&head__->next, __ATOMIC_RELAXED);                            \
        pos__ != head__ ? list_entry(pos__, type, member) : NULL;                                              \
    })
#define list_for_each(pos, head) for (pos = (head)->next; pos != (head); pos = pos->next)
#define list_next_entry(pos, member) list_entry((pos)->member.next, __typeof__(*(pos)), member)
#define list_for_each_entry_safe(pos, n, head, member)                                                         \
    for (pos = list_first_entry(head, __typeof__(*pos), member), n = list_next_entry(pos, member);             \
         &pos->member != (head); pos = n, n = list_next_entry(n, member))
#define LIST_HEAD(name) struct list_head name = LIST_HEAD_INIT(name)
/* Every node of `list` moves to the front of `head` (a deletion from
 * `list`, guarded as list_del is; the nodes then are `head`'s, guarded as
 * it is), and `list` is left empty. */
void kshim_list_spliced(const struct list_head *list, const struct list_head *head, const char *file, int line);
static inline void kshim_list_splice_init(struct list_head *list, struct list_head *head, const char *file, int line) {
    if (list_empty(list)) return;
    kshim_list_spliced(list, head, file, line);
    struct list_head *first = list->next, *last = list->prev, *at = head->next;
    first->prev = head;
    WRITE_ONCE(head->next, first);
    last->next = at;
    at->prev = last;
    INIT_LIST_HEAD(list);
}
#define list_splice_init(list, head) kshim_list_splice_init((list), (head), __FILE__, __LINE__)
#define list_for_each_prev(pos, head) for (pos = (head)->prev; pos != (head); pos = pos->prev)

/* ---- work queues: scheduled workers of the controlled runtime ---- */
struct workqueue_struct;
void kshim_init_work(struct work_struct *w, work_func_t fn);
bool kshim_queue_work(int cpu, struct workqueue_struct *wq, struct work_struct *w, const char *file, int line);
bool kshim_cancel_work_sync(struct work_struct *w, const char *file, int line);
bool kshim_work_pending(const struct work_struct *w);
struct workqueue_struct *kshim_create_workqueue(const char *name);
void kshim_destroy_workqueue(struct workqueue_struct *wq, const char *file, int line);
#define INIT_WORK(w, fn) kshim_init_work((w), (fn))
/* queue_work passes WORK_CPU_UNBOUND; queue_work_on must name a possible CPU
 * (an unbound queue maps it to a NUMA node: cpu_to_node(-1) reads out of
 * bounds), else a queue-work-cpu finding. */
#define queue_work(wq, w) kshim_queue_work(KSHIM_WORK_CPU_UNBOUND, (wq), (w), __FILE__, __LINE__)
#define queue_work_on(cpu, wq, w) kshim_queue_work((cpu), (wq), (w), __FILE__, __LINE__)
#define cancel_work_sync(w) kshim_cancel_work_sync((w), __FILE__, __LINE__)
#define work_pending(w) kshim_work_pending(w)
#define create_singlethread_workqueue(name) kshim_create_workqueue(name)
#define destroy_workqueue(wq) kshim_destroy_workqueue((wq), __FILE__, __LINE__)
/* system_wq: one unbound queue a run, made on first use, never destroyed
 * by the file (it is the kernel's). flush_work waits for the item to be idle. */
struct workqueue_struct *kshim_system_wq(void);
bool kshim_flush_work(struct work_struct *w, const char *file, int line);
#define schedule_work(w) kshim_queue_work(KSHIM_WORK_CPU_UNBOUND, kshim_system_wq(), (w), __FILE__, __LINE__)
#define flush_work(w) kshim_flush_work((w), __FILE__, __LINE__)

/* ---- pages ---- */
struct movable_operations {
    bool (*isolate_page)(struct page *, isolate_mode_t);
    int (*migrate_page)(struct page *dst, struct page *src, enum migrate_mode);
    void (*putback_page)(struct page *);
};
#define MIGRATEPAGE_SUCCESS 0
struct page *kshim_alloc_page(gfp_t gfp, const char *file, int line);
void kshim_put_page(struct page *page, const char *file, int line);
void kshim_get_page(struct page *page, const char *file, int line);
#define alloc_page(gfp) kshim_alloc_page((gfp), __FILE__, __LINE__)
#define page_count(page) __atomic_load_n(&(page)->_refcount.counter, __ATOMIC_RELAXED)
#define __free_page(page) kshim_put_page((page), __FILE__, __LINE__)
#define put_page(page) kshim_put_page((page), __FILE__, __LINE__)
#define get_page(page) kshim_get_page((page), __FILE__, __LINE__)
#define KSHIM_BLOCK_SIZE (2 * PAGE_SIZE)
static inline void *page_address(const struct page *page) { return (char *)page - PAGE_SIZE; }
static inline struct page *virt_to_page(const void *addr) {
    return (struct page *)(((uintptr_t)addr & ~(uintptr_t)(KSHIM_BLOCK_SIZE - 1)) + PAGE_SIZE);
}
void kshim_lock_page(struct page *page, const char *file, int line);
int kshim_trylock_page(struct page *page, const char *file, int line);
void kshim_unlock_page(struct page *page, const char *file, int line);
#define lock_page(page) kshim_lock_page((page), __FILE__, __LINE__)
#define trylock_page(page) kshim_trylock_page((page), __FILE__, __LINE__)
#define unlock_page(page) kshim_unlock_page((page), __FILE__, __LINE__)
#define PageLocked(page) ((__atomic_load_n(&(page)->flags, __ATOMIC_RELAXED) & KSHIM_PG_locked) != 0)
/* The movable state is guarded by the page lock: 6.1's PageMovable,
 * __SetPageMovable and __ClearPageMovable assert it (VM_BUG_ON_PAGE). As in
 * the kernel, page->mapping holds the operations with PAGE_MAPPING_MOVABLE
 * set, and __ClearPageMovable leaves the type bit without the operations
 * (a page still typed movable that is no longer: migration's re-check). */
#define __PageMovable(page)                                                                                    \
    ((__atomic_load_n(&(page)->mapping, __ATOMIC_RELAXED) & 3UL) == KSHIM_PAGE_MAPPING_MOVABLE)
static inline const struct movable_operations *kshim_page_mops(const struct page *page) {
    unsigned long m = __atomic_load_n(&page->mapping, __ATOMIC_RELAXED);
    return (m & 3UL) == KSHIM_PAGE_MAPPING_MOVABLE ? (const struct movable_operations *)(m & ~3UL) : NULL;
}
#define PageMovable(page) kshim_page_movable((page), __FILE__, __LINE__)
#define __SetPageMovable(page, ops) kshim_set_page_movable((page), (ops), __FILE__, __LINE__)
#define __ClearPageMovable(page) kshim_clear_page_movable((page), __FILE__, __LINE__)
static inline bool kshim_page_movable(struct page *page, const char *file, int line) {
    if (unlikely(!PageLocked(page))) kshim_bug("VM_BUG_ON_PAGE(!PageLocked(page)) in PageMovable", file, line);
    return __PageMovable(page) && kshim_page_mops(page) != NULL;
}
static inline void kshim_set_page_movable(struct page *page, const struct movable_operations *ops, const char *file,
                                          int line) {
    if (unlikely(!PageLocked(page))) kshim_bug("VM_BUG_ON_PAGE(!PageLocked(page)) in __SetPageMovable", file, line);
    __atomic_store_n(&page->mapping, (unsigned long)ops | KSHIM_PAGE_MAPPING_MOVABLE, __ATOMIC_RELAXED);
}
static inline void kshim_clear_page_movable(struct page *page, const char *file, int line) {
    if (unlikely(!kshim_page_movable(page, file, line)))
        kshim_bug("VM_BUG_ON_PAGE(!PageMovable(page)) in __ClearPageMovable", file, line);
    __atomic_store_n(&page->mapping, KSHIM_PAGE_MAPPING_MOVABLE, __ATOMIC_RELAXED);
}
/* page->flags bits are atomic bit operations in the kernel. */
#define PageIsolated(page) ((__atomic_load_n(&(page)->flags, __ATOMIC_RELAXED) & KSHIM_PG_isolated) != 0)
#define SetPageIsolated(page) ((void)__atomic_fetch_or(&(page)->flags, KSHIM_PG_isolated, __ATOMIC_RELAXED))
#define ClearPageIsolated(page) ((void)__atomic_fetch_and(&(page)->flags, ~KSHIM_PG_isolated, __ATOMIC_RELAXED))
/* PG_private marks zsmalloc's first page of a zspage; private is the page's
 * owner's word. */
#define PagePrivate(page) ((__atomic_load_n(&(page)->flags, __ATOMIC_RELAXED) & KSHIM_PG_private) != 0)
#define SetPagePrivate(page) ((void)__atomic_fetch_or(&(page)->flags, KSHIM_PG_private, __ATOMIC_RELAXED))
#define ClearPagePrivate(page) ((void)__atomic_fetch_and(&(page)->flags, ~KSHIM_PG_private, __ATOMIC_RELAXED))
#define page_private(page) ((page)->private)
#define set_page_private(page, v) ((page)->private = (v))
/* 6.12's page types (page-flags.h): the top byte of page_type names the
 * type, UINT_MAX is none; setting a type on a typed page, or clearing one
 * the page does not have, is VM_BUG_ON_PAGE. */
#define KSHIM_PGTY_zsmalloc 0xf6u
#define PageZsmalloc(page) (((page)->page_type >> 24) == KSHIM_PGTY_zsmalloc)
#define __SetPageZsmalloc(pg_)                                                                                 \
    do {                                                                                                       \
        struct page *kshim_p_ = (pg_);                                                                        \
        if (!PageZsmalloc(kshim_p_)) {                                                                         \
            VM_BUG_ON_PAGE(kshim_p_->page_type != 0xffffffffu, kshim_p_);                                      \
            kshim_p_->page_type = KSHIM_PGTY_zsmalloc << 24;                                                   \
        }                                                                                                      \
    } while (0)
#define __ClearPageZsmalloc(pg_)                                                                               \
    do {                                                                                                       \
        struct page *kshim_p_ = (pg_);                                                                        \
        if (kshim_p_->page_type != 0xffffffffu) {                                                              \
            VM_BUG_ON_PAGE(!PageZsmalloc(kshim_p_), kshim_p_);                                                 \
            kshim_p_->page_type = 0xffffffffu;                                                                 \
        }                                                                                                      \
    } while (0)
/* A page's frame number: its block's address in pages (blocks are 8 KiB
 * aligned, so every live page has its own; user-space addresses fit the
 * 40 bits zsmalloc keeps with MAX_POSSIBLE_PHYSMEM_BITS 52). */
#define MAX_POSSIBLE_PHYSMEM_BITS 52
static inline unsigned long page_to_pfn(const struct page *page) {
    return (unsigned long)((uintptr_t)page_address(page) >> PAGE_SHIFT);
}
static inline struct page *pfn_to_page(unsigned long pfn) {
    return virt_to_page((const void *)(uintptr_t)(pfn << PAGE_SHIFT));
}
#define copy_page(to, from) memcpy((to), (from), PAGE_SIZE)
#define kmsan_copy_page_meta(dst, src) ((void)(dst), (void)(src))
/* One zone: its counters are the mm's statistics, not state any code reads. */
struct zone;
enum node_stat_item { NR_ZSPAGES };
#define page_zone(page) ((struct zone *)0)
#define inc_zone_page_state(page, item) ((void)(page), (void)(item))
#define dec_zone_page_state(page, item) ((void)(page), (void)(item))
/* Sleeps until the page is unlocked, without taking the lock (pagemap.h):
 * a trylock by anyone else meanwhile still sees the holder's lock only. */
void kshim_wait_on_page_locked(struct page *page, const char *file, int line);
#define wait_on_page_locked(page) kshim_wait_on_page_locked((page), __FILE__, __LINE__)

/* ---- slab ---- */
struct kmem_cache;
struct kmem_cache *kshim_kmem_cache_create(const char *name, size_t size, size_t align);
void *kshim_kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp, const char *file, int line);
void kshim_kmem_cache_free(struct kmem_cache *c, void *obj, const char *file, int line);
void kshim_kmem_cache_destroy(struct kmem_cache *c, const char *file, int line);
#define kmem_cache_create(name, size, align, flags, ctor) kshim_kmem_cache_create((name), (size), (align))
#define kmem_cache_zalloc(c, gfp) kshim_kmem_cache_alloc((c), (gfp), __FILE__, __LINE__)
#define kmem_cache_alloc(c, gfp) kshim_kmem_cache_alloc((c), (gfp), __FILE__, __LINE__)
#define kmem_cache_free(c, obj) kshim_kmem_cache_free((c), (obj), __FILE__, __LINE__)
#define kmem_cache_destroy(c) kshim_kmem_cache_destroy((c), __FILE__, __LINE__)
void *kshim_kzalloc(size_t size, gfp_t gfp, const char *file, int line);
void kshim_kfree(const void *p);
#define kzalloc(size, gfp) kshim_kzalloc((size), (gfp), __FILE__, __LINE__)
#define kmalloc(size, gfp) kshim_kzalloc((size), (gfp), __FILE__, __LINE__)
#define kfree(p) kshim_kfree(p)
#define kmemleak_not_leak(p) ((void)(p))
char *kshim_kasprintf(gfp_t gfp, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define kasprintf(gfp, ...) kshim_kasprintf((gfp), __FILE__, __LINE__, __VA_ARGS__)
#define kstrdup(s, gfp) kshim_kasprintf((gfp), __FILE__, __LINE__, "%s", (s))
/* Hard and soft interrupts are not modelled: no code runs in one. */
#define in_interrupt() 0

#include "kshim_system.h"
