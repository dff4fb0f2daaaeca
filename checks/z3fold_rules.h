/* z3fold-harden: z3fold's structural rules for a page found on one of its
 * lists, written once for both implementations (the port's introspection
 * and the kernel adapter fill a z3fh_z3fold_page from their own structures).
 * The walks that find the pages are checks/list_check.h's. */
#ifndef Z3FH_CHECKS_Z3FOLD_RULES_H
#define Z3FH_CHECKS_Z3FOLD_RULES_H
#include "list_check.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One page, as the rules read it. */
struct z3fh_z3fold_page {
    const void *key; /* the page's identity (its descriptor) */
    uint32_t serial;
    int headless, claimed, stale;
    int refcount; /* the header's kref (not read for a headless page) */
    int locked;   /* the header's page lock is held (0 for a headless page) */
};

struct z3fh_z3fold_rules {
    /* 6.1's kernel drops a page from its lists in the kref release function,
     * under the page lock, and sets PAGE_STALE before it does: a listed page
     * at refcount 0, or STALE, is legal while (and only while) it stays
     * locked, since every list walker trylocks that lock before it takes a
     * reference. The port unlinks before the last put: never legal there. */
    int release_under_page_lock;
    z3fh_report_fn report;
    void *rctx;
    /* Pages whose buddy link was seen on a list, to catch one link on two. */
    const void *seen[512];
    size_t nseen;
};

static inline void z3fh_z3fold_rules_init(struct z3fh_z3fold_rules *r, int release_under_page_lock, z3fh_report_fn report,
                                          void *rctx) {
    r->release_under_page_lock = release_under_page_lock;
    r->report = report;
    r->rctx = rctx;
    r->nseen = 0;
}

/* The rules for a page on any list (the LRU, an unbuddied list). */
static inline void z3fh_z3fold_check_listed(struct z3fh_z3fold_rules *r, const struct z3fh_z3fold_page *p, const char *list) {
    char msg[128];
    const int release_held = r->release_under_page_lock && !p->headless && p->locked;
    if (!p->headless && p->refcount < 1 && !release_held) {
        snprintf(msg, sizeof msg, "page %u on %s has refcount %d", p->serial, list, p->refcount);
        r->report(r->rctx, Z3FH_FINDING_listed_page_zero_ref, p->serial, msg);
    }
    if (p->stale && !release_held) {
        snprintf(msg, sizeof msg, "released page %u is on %s", p->serial, list);
        r->report(r->rctx, Z3FH_FINDING_listed_page_stale, p->serial, msg);
    }
}

/* A page's buddy link seen on a list: on two lists if seen before. */
static inline void z3fh_z3fold_note_buddy(struct z3fh_z3fold_rules *r, const struct z3fh_z3fold_page *p) {
    char msg[128];
    size_t i;
    for (i = 0; i < r->nseen; i++)
        if (r->seen[i] == p->key) {
            snprintf(msg, sizeof msg, "page %u is linked on two lists through one link", p->serial);
            r->report(r->rctx, Z3FH_FINDING_page_on_two_lists, p->serial, msg);
            return;
        }
    if (r->nseen < sizeof r->seen / sizeof r->seen[0]) r->seen[r->nseen++] = p->key;
}

/* A page on unbuddied[cpu][index]. */
static inline void z3fh_z3fold_check_unbuddied(struct z3fh_z3fold_rules *r, const struct z3fh_z3fold_page *p, int cpu, int index) {
    char msg[128];
    z3fh_z3fold_note_buddy(r, p);
    if (p->headless) {
        snprintf(msg, sizeof msg, "headless page %u on unbuddied[%d][%d]", p->serial, cpu, index);
        r->report(r->rctx, Z3FH_FINDING_headless_on_unbuddied, p->serial, msg);
        return;
    }
    z3fh_z3fold_check_listed(r, p, "an unbuddied list");
    /* A claim holder takes the page off its list under the page lock it
     * still holds; otherwise a claimed page must not be findable by alloc. */
    if (p->claimed && !p->locked) {
        snprintf(msg, sizeof msg, "claimed page %u is on unbuddied[%d][%d] and unlocked", p->serial, cpu, index);
        r->report(r->rctx, Z3FH_FINDING_claimed_page_listed, p->serial, msg);
    }
}

/* A page on the stale list: released (STALE, refcount 0). */
static inline void z3fh_z3fold_check_stale(struct z3fh_z3fold_rules *r, const struct z3fh_z3fold_page *p) {
    char msg[128];
    z3fh_z3fold_note_buddy(r, p);
    if (!p->stale || p->refcount != 0) {
        snprintf(msg, sizeof msg, "page %u on the stale list is not released", p->serial);
        r->report(r->rctx, Z3FH_FINDING_stale_page_state, p->serial, msg);
    }
}

#ifdef __cplusplus
}
#endif
#endif
