// z3fold-harden: the kernel's circular doubly-linked list (list.h), with the
// lock that protects each list named at every mutation and checked
// (lockdep_assert_held), and poisoned links after list_del.
#pragma once
#include <cstdint>

#include "report.h"
#include "sync/sync.h"

namespace z3fh {

struct ListNode {
    ListNode* next;
    ListNode* prev;
};

// LIST_POISON1/2: a deleted node's links point here, so a stale walk faults.
inline ListNode* const kListPoison1 = reinterpret_cast<ListNode*>(uintptr_t{0xdead000000000100});
inline ListNode* const kListPoison2 = reinterpret_cast<ListNode*>(uintptr_t{0xdead000000000122});

inline void list_init(ListNode* n) {
    sync::shared_write(n);
    n->next = n->prev = n;
}
inline bool list_empty(const ListNode* head) { return head->next == head; }

[[noreturn]] void list_corrupted(const char* what, const void* node, sync::SrcLoc loc);

inline void list_check_add(ListNode* n, ListNode* prev, ListNode* next, sync::SrcLoc loc) {
    if (next->prev != prev) list_corrupted("list_add: next->prev != prev", n, loc);
    if (prev->next != next) list_corrupted("list_add: prev->next != next", n, loc);
    if (n == prev || n == next) list_corrupted("list_add: double add", n, loc);
}

// list_add (at head) under `lock`.
inline void list_add(ListNode* n, ListNode* head, const sync::SpinLock& lock,
                     sync::SrcLoc loc = sync::SrcLoc::here()) {
    lock.assert_held(loc);
    ListNode* next = head->next;
    list_check_add(n, head, next, loc);
    sync::shared_write(n);  // and head, which is no page's
    sync::shared_write(next);
    next->prev = n;
    n->next = next;
    n->prev = head;
    head->next = n;
}

inline void list_add_tail(ListNode* n, ListNode* head, const sync::SpinLock& lock,
                          sync::SrcLoc loc = sync::SrcLoc::here()) {
    lock.assert_held(loc);
    ListNode* prev = head->prev;
    list_check_add(n, prev, head, loc);
    sync::shared_write(n);
    sync::shared_write(prev);
    prev->next = n;
    n->prev = prev;
    n->next = head;
    head->prev = n;
}

inline void list_unlink_checked(ListNode* n, sync::SrcLoc loc) {
    if (n->next == kListPoison1 || n->prev == kListPoison2) list_corrupted("list_del: node already deleted", n, loc);
    if (n->prev->next != n) list_corrupted("list_del: prev->next != node", n, loc);
    if (n->next->prev != n) list_corrupted("list_del: next->prev != node", n, loc);
    sync::shared_write(n);
    sync::shared_write(n->prev);
    sync::shared_write(n->next);
    n->next->prev = n->prev;
    n->prev->next = n->next;
}

// list_del under `lock`: the node's links are poisoned afterwards.
inline void list_del(ListNode* n, const sync::SpinLock& lock, sync::SrcLoc loc = sync::SrcLoc::here()) {
    lock.assert_held(loc);
    list_unlink_checked(n, loc);
    n->next = kListPoison1;
    n->prev = kListPoison2;
}

// list_del_init under `lock`: a no-op on an empty (self-linked) node.
inline void list_del_init(ListNode* n, const sync::SpinLock& lock, sync::SrcLoc loc = sync::SrcLoc::here()) {
    lock.assert_held(loc);
    if (n->next == n) return;
    list_unlink_checked(n, loc);
    list_init(n);
}

}  // namespace z3fh
