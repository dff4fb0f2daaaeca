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
enum { KSHIM_AT_READ, KSHIM_AT_SET, KSHIM_AT_ADD_RETURN };
enum { KSHIM_BIT_TEST, KSHIM_BIT_SET, KSHIM_BIT_CLEAR, KSHIM_BIT_TEST_SET, KSHIM_BIT_TEST_CLEAR };

struct list_head {
    struct list_head *next, *prev;
};

/* Lock classes the shim knows (sync::ObjClass values, chosen at init from
 * the lock's name: "&pool->lock" is the pool lock). */
typedef struct {
    int owner;         /* scheduled thread holding it, or -1 */
    unsigned char cls; /* sync::ObjClass */
} spinlock_t;

typedef struct {
    int writer;
    int readers;
    unsigned char cls;
} rwlock_t;

typedef struct {
    int counter;
} atomic_t;
typedef struct {
    int64_t counter;
} atomic64_t;
typedef struct {
    atomic_t refs;
} refcount_t;
struct kref {
    refcount_t refcount;
};

/* The first four fields are sync::WorkItem's (the controlled work queue
 * runs it); func is the kernel's work function, wq the queue it went on. */
struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);
struct work_struct {
    void *kshim_next;
    void *kshim_prev;
    void (*kshim_fn)(void *);
    bool kshim_pending;
    void *kshim_wq;
    work_func_t func;
};

struct movable_operations;

/* struct page: the fields z3fold uses, plus the shim's own. It lives in the
 * second half of an 8 KiB block whose first half is the page's memory, so
 * virt_to_page is address arithmetic and ASan sees a freed page whole. */
struct page {
    unsigned long flags; /* KSHIM_PG_* */
#ifdef __cplusplus
    unsigned long private_; /* "private" is a C++ keyword; same field */
#else
    unsigned long private;
#endif
    struct list_head lru;
    atomic_t _refcount;
    const struct movable_operations *mops;
    spinlock_t kshim_lock; /* lock_page */
    uint32_t kshim_serial; /* page number in traces; never an address */
    uint32_t kshim_magic;
};
#define KSHIM_PAGE_MAGIC 0x7a33666bu
#define KSHIM_PG_isolated 1UL

#ifdef __cplusplus
}
#endif
