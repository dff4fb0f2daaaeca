/* z3fold-harden: the list checks every allocator's structural validator
 * shares, written once in C for the port (C++) and the kernel adapter (C):
 * a walk of one list from its head, every node checked to lie in a live page
 * before it is read, and the links of one node checked both ways for the
 * validation of the pages one step touched. The kernel's struct list_head
 * and the port's ListNode are both {next, prev}: the checks read either as
 * z3fh_links. What is wrong goes to a report callback with the finding's id
 * (findings.def). */
#ifndef Z3FH_CHECKS_LIST_CHECK_H
#define Z3FH_CHECKS_LIST_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "findings.h"

#ifdef __cplusplus
extern "C" {
#endif

struct z3fh_links {
    const struct z3fh_links *next, *prev;
};

/* list_del's poison (the kernel's LIST_POISON1/2 on x86-64). */
#define Z3FH_LIST_POISON1 ((const struct z3fh_links *)0xdead000000000100UL)
#define Z3FH_LIST_POISON2 ((const struct z3fh_links *)0xdead000000000122UL)

typedef void (*z3fh_report_fn)(void *rctx, enum z3fh_finding_id id, uint32_t page, const char *message);
/* The page data a node lies in (an LRU link in the page descriptor, a buddy
 * link in the page itself: each list says). */
typedef const void *(*z3fh_data_of_fn)(const struct z3fh_links *node);

/* The implementation's pages and list heads, as the checks ask about them. */
struct z3fh_list_world {
    void *ctx;
    int (*is_live)(void *ctx, const void *data);       /* a live page's data */
    uint32_t (*serial_of)(void *ctx, const void *data); /* a live page's serial */
    int (*is_head)(void *ctx, const struct z3fh_links *x);
};

static inline int z3fh_link_poisoned(const struct z3fh_links *n) {
    return n == Z3FH_LIST_POISON1 || n == Z3FH_LIST_POISON2 || n == NULL;
}

/* Nearly all unbuddied heads are empty at any step: one that points at
 * itself both ways has nothing to walk. */
static inline int z3fh_list_head_empty(const void *head) {
    const struct z3fh_links *h = (const struct z3fh_links *)head;
    return h->next == h && h->prev == h;
}

/* Walk the list at `head`, calling visit(vctx, node) for each node in a live
 * page; broken links and freed pages go to `report` (none if NULL). Returns
 * the nodes visited. */
static inline size_t z3fh_walk_list(const struct z3fh_list_world *w, const void *head_, const char *name,
                                    z3fh_data_of_fn data_of, void (*visit)(void *vctx, const struct z3fh_links *node),
                                    void *vctx, z3fh_report_fn report, void *rctx) {
    char msg[160];
    size_t n = 0;
    const struct z3fh_links *head = (const struct z3fh_links *)head_, *prev = head, *node;
    for (node = head->next; node != head; node = node->next) {
        const void *data;
        if (z3fh_link_poisoned(node)) {
            snprintf(msg, sizeof msg, "%s reaches a deleted (poisoned) link", name);
            if (report) report(rctx, Z3FH_FINDING_list_link, 0, msg);
            return n;
        }
        data = data_of(node);
        if (!w->is_live(w->ctx, data)) {
            snprintf(msg, sizeof msg, "a freed page is linked on %s", name);
            if (report) report(rctx, Z3FH_FINDING_listed_page_freed, 0, msg);
            return n;
        }
        if (node->prev != prev) {
            snprintf(msg, sizeof msg, "%s: node->prev does not point back to its predecessor", name);
            if (report) report(rctx, Z3FH_FINDING_list_link, w->serial_of(w->ctx, data), msg);
            return n;
        }
        if (visit) visit(vctx, node);
        prev = node;
        if (++n > 1000000) {
            snprintf(msg, sizeof msg, "%s: cycle", name);
            if (report) report(rctx, Z3FH_FINDING_list_link, 0, msg);
            return n;
        }
    }
    if (head->prev != prev && report) {
        snprintf(msg, sizeof msg, "%s: head->prev is not the last node", name);
        report(rctx, Z3FH_FINDING_list_link, 0, msg);
    }
    return n;
}

/* A link that may be followed: a list head, or a node in a live page. */
static inline int z3fh_link_reachable(const struct z3fh_list_world *w, const struct z3fh_links *x, z3fh_data_of_fn data_of) {
    return w->is_head(w->ctx, x) || (!z3fh_link_poisoned(x) && w->is_live(w->ctx, data_of(x)));
}

/* Whether `node` is linked (*linked), its links and its neighbours' back
 * links checked; 0 if they do not check out (a freed page, a broken or
 * stale link). */
static inline int z3fh_links_of(const struct z3fh_list_world *w, const void *node_, z3fh_data_of_fn data_of, int *linked) {
    const struct z3fh_links *node = (const struct z3fh_links *)node_;
    *linked = 0;
    if (node->next == node || node->next == Z3FH_LIST_POISON1) return node->prev == node || node->prev == Z3FH_LIST_POISON2;
    if (!z3fh_link_reachable(w, node->prev, data_of) || node->prev->next != node) return 0;
    if (!z3fh_link_reachable(w, node->next, data_of) || node->next->prev != node) return 0;
    *linked = 1;
    return 1;
}

/* The head of the list `node` is on (*head, NULL: none), found by walking
 * forward with every link checked both ways; 0 if a link does not check out. */
static inline int z3fh_head_of(const struct z3fh_list_world *w, const void *node_, z3fh_data_of_fn data_of,
                               const struct z3fh_links **head) {
    const struct z3fh_links *at = (const struct z3fh_links *)node_, *x;
    int linked, steps;
    *head = NULL;
    if (!z3fh_links_of(w, node_, data_of, &linked)) return 0;
    if (!linked) return 1;
    for (steps = 0; steps < 1000000; steps++) {
        x = at->next;
        if (!z3fh_link_reachable(w, x, data_of) || x->prev != at) return 0;
        if (w->is_head(w->ctx, x)) {
            *head = x;
            return 1;
        }
        at = x;
    }
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif
