// z3fold-harden: a work item (the kernel's work_struct): an intrusive queue
// link, the function, and the pending bit. Its queue owns the link fields.
#pragma once

namespace z3fh::sync {

struct WorkItem {
    using Fn = void (*)(WorkItem*);
    WorkItem* next = nullptr;
    WorkItem* prev = nullptr;
    Fn fn = nullptr;
    bool pending = false;  // guarded by the queue's own lock

    // INIT_WORK: also used after a page copy (migration) to reset a copied item.
    void init(Fn f) {
        next = prev = nullptr;
        fn = f;
        pending = false;
    }
};

// The queue's item list, shared by both backends. Callers hold the queue's lock.
struct WorkList {
    WorkItem* head = nullptr;
    WorkItem* tail = nullptr;

    bool empty() const { return head == nullptr; }
    void push(WorkItem* w) {
        w->next = nullptr;
        w->prev = tail;
        if (tail) tail->next = w; else head = w;
        tail = w;
    }
    void remove(WorkItem* w) {
        if (w->prev) w->prev->next = w->next; else head = w->next;
        if (w->next) w->next->prev = w->prev; else tail = w->prev;
        w->next = w->prev = nullptr;
    }
    WorkItem* pop() {
        WorkItem* w = head;
        if (w) remove(w);
        return w;
    }
};

}  // namespace z3fh::sync
