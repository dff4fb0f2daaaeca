/* z3fold-harden kernel shim: the kernel types z3fold.c uses, laid out so the
 * C++ side of the shim (kshim_runtime.cpp) can read them too. Only what
 * mm/z3fold.c (Linux 6.1) needs; a compile error names anything missing. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef unsigned int gfp_t;
#define KSHIM_GFP_DIRECT_RECLAIM 0x400u /* __GFP_DIRECT_RECLAIM: the caller may sleep */

/* The operations behind the atomic and bit macros of kshim.h. */
enum { KSHIM_AT_READ, KSHIM_AT_SET, KSHIM_AT_ADD_RETURN, KSHIM_AT_XCHG };
enum { KSHIM_BIT_TEST, KSHIM_BIT_SET, KSHIM_BIT_CLEAR, KSHIM_BIT_TEST_SET, KSHIM_BIT_TEST_CLEAR };

struct list_head {
    struct list_head *next, *prev;
};

/* The kernel's own layouts, as a non-debug x86-64 build has them
 * (CONFIG_DEBUG_SPINLOCK, LOCKDEP and DEBUG_OBJECTS off), so z3fold's
 * structures have their real sizes and offsets (tests/kernel checks
 * sizeof(struct z3fold_header) == 88). What the scheduler needs of a lock
 * or a work item (owner, waiters, queue links) lives in the shim's side
 * tables (kshim_runtime.cpp), keyed by address and made afresh by
 * spin_lock_init, rwlock_init and INIT_WORK: a header that migration
 * memcpy()s to a new page gets new lock state when z3fold re-initialises it. */

/* arch_spinlock_t, a qspinlock: one 32-bit word. The shim keeps it 1 while
 * the lock is held (so a lock in freed memory is an access ASan sees). */
typedef struct {
    unsigned int kshim_locked;
} spinlock_t;

/* arch_rwlock_t, a qrwlock: the reader/writer counts and the wait lock. */
typedef struct {
    unsigned int kshim_cnts;
    unsigned int kshim_wait_lock;
} rwlock_t;

typedef struct {
    int counter;
} atomic_t;
typedef struct {
    int64_t counter;
} atomic64_t;
typedef struct {
    long counter;
} atomic_long_t;
typedef struct {
    atomic_t refs;
} refcount_t;
struct kref {
    refcount_t refcount;
};

/* struct work_struct: atomic_long_t data (bit 0: pending), the queue link
 * and the function. The shim's queue link is in its side table. */
struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);
struct work_struct {
    long data;
    struct list_head entry;
    work_func_t func;
};
#define KSHIM_WORK_STRUCT_PENDING 1L
#define KSHIM_WORK_CPU_UNBOUND (-1000) /* what queue_work passes (the kernel's WORK_CPU_UNBOUND) */

struct movable_operations;

/* struct page, 64 bytes as in the kernel: flags, lru, mapping, index,
 * private, page_type (the union with _mapcount), _refcount, memcg_data.
 * z3fold uses flags (through the page lock and isolation), lru, mapping
 * (the movable operations, as __SetPageMovable stores them) and private;
 * zsmalloc also index (the next page of a zspage, a huge object's handle)
 * and page_type (PGTY_zsmalloc and the first object's offset). It lives in
 * the second half of an 8 KiB block whose first half is the page's memory,
 * so virt_to_page is address arithmetic and ASan sees a freed page whole;
 * the shim's own record of the page (its serial) follows it there. */
struct page {
    unsigned long flags; /* KSHIM_PG_* */
    struct list_head lru;
    unsigned long mapping; /* movable_operations | KSHIM_PAGE_MAPPING_MOVABLE */
    unsigned long index;
#ifdef __cplusplus
    unsigned long private_; /* "private" is a C++ keyword; same field */
#else
    unsigned long private;
#endif
    unsigned int page_type; /* UINT_MAX: no type (the kernel's _mapcount -1) */
    atomic_t _refcount;
    unsigned long memcg_data;
};
/* The shim's record of a page, beside its struct page: the serial traces
 * name it by (never an address, so every run numbers pages alike). */
struct kshim_page_extra {
    unsigned long serial;
};
static inline struct kshim_page_extra *kshim_page_extra(const struct page *pg) {
    return (struct kshim_page_extra *)((char *)pg + sizeof(struct page));
}
#define KSHIM_PG_locked 1UL    /* PG_locked is bit 0 */
#define KSHIM_PG_isolated 2UL
#define KSHIM_PG_private 4UL
#define KSHIM_PAGE_MAPPING_MOVABLE 2UL

/* CPU hotplug states and shrinkers (kshim_system.h), read by the C++ side too. */
enum cpuhp_state { CPUHP_MM_ZS_PREPARE = 1, KSHIM_CPUHP_STATES };
struct mem_cgroup;
struct shrink_control {
    gfp_t gfp_mask;
    int nid;
    unsigned long nr_to_scan;
    unsigned long nr_scanned;
    struct mem_cgroup *memcg;
};
#define SHRINK_STOP (~0UL)
#define SHRINK_EMPTY (~0UL - 1)
#define DEFAULT_SEEKS 2
struct shrinker {
    unsigned long (*count_objects)(struct shrinker *, struct shrink_control *sc);
    unsigned long (*scan_objects)(struct shrinker *, struct shrink_control *sc);
    long batch;
    int seeks;
    unsigned flags;
    void *private_data;
};

#ifdef __cplusplus
#define KSHIM_STATIC_ASSERT static_assert
#else
#define KSHIM_STATIC_ASSERT _Static_assert
#endif
KSHIM_STATIC_ASSERT(sizeof(spinlock_t) == 4, "spinlock_t as a non-debug x86-64 kernel has it");
KSHIM_STATIC_ASSERT(sizeof(rwlock_t) == 8, "rwlock_t as a non-debug x86-64 kernel has it");
KSHIM_STATIC_ASSERT(sizeof(struct work_struct) == 32, "work_struct as a non-debug x86-64 kernel has it");
KSHIM_STATIC_ASSERT(sizeof(struct page) == 64, "struct page as a non-debug x86-64 kernel has it");

#ifdef __cplusplus
}
#endif
