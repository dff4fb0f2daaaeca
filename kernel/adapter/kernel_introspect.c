/* z3fold-harden kernel adapter: the introspection of the kernel's
 * z3fold.c (the snapshot the shadow model reads, and the structural
 * validator), over the file's own structures. Included by kernel_adapter.c,
 * the one translation unit that sees z3fold.c's types; the list walks and
 * z3fold's rules are the ones the port uses too (checks/). Written for this
 * project. */

/* The page data a list node belongs to: lru nodes live in struct page,
 * buddy nodes in the header at the start of the page. */
static const void *kz_lru_data(const struct z3fh_links *n) {
    return page_address(container_of((const struct list_head *)n, struct page, lru));
}
static const void *kz_buddy_data(const struct z3fh_links *n) { return (const void *)((uintptr_t)n & PAGE_MASK); }

/* The pool's LRU head, or NULL in a series without one (6.12). */
static const struct list_head *kz_lru_head(struct kz_pool *kz) {
#if KSHIM_ZPOOL_EVICT
    return &kz->pool->lru;
#else
    (void)kz;
    return NULL;
#endif
}

/* Which unbuddied head x is (*cpu, *index), if one. */
static int kz_unbuddied_head(struct kz_pool *kz, const void *x, int *cpu, int *index) {
    int i;
    for (i = 0; i < kz->cpus; i++)
        if ((const struct list_head *)x >= kz->unbuddied_of[i] && (const struct list_head *)x < kz->unbuddied_of[i] + NCHUNKS) {
            *cpu = i;
            *index = (int)((const struct list_head *)x - kz->unbuddied_of[i]);
            return 1;
        }
    return 0;
}

static int kz_world_is_head(void *ctx, const struct z3fh_links *x) {
    struct kz_pool *kz = ctx;
    int cpu, index;
    return (x && (const void *)x == kz_lru_head(kz)) || (const void *)x == &kz->pool->stale ||
           kz_unbuddied_head(kz, x, &cpu, &index);
}
static int kz_world_is_live(void *ctx, const void *data) {
    (void)ctx;
    return kshim_page_is_live(data);
}
static uint32_t kz_world_serial(void *ctx, const void *data) {
    (void)ctx;
    return kshim_page_serial(data);
}
static struct z3fh_list_world kz_world(struct kz_pool *kz) {
    struct z3fh_list_world w = {kz, kz_world_is_live, kz_world_serial, kz_world_is_head};
    return w;
}

static size_t kz_walk(struct kz_pool *kz, const struct list_head *head, const char *name, z3fh_data_of_fn data_of,
                      void (*visit)(void *, const struct z3fh_links *), void *vctx, z3fh_report_fn report, void *rctx) {
    struct z3fh_list_world w = kz_world(kz);
    return z3fh_walk_list(&w, head, name, data_of, visit, vctx, report, rctx);
}

/* Which unbuddied list a visited node is on. */
struct kz_where {
    int cpu, index;
};

/* A visitor for each kind of list; `at` is set before each unbuddied list. */
struct kz_visitors {
    void (*lru)(void *ctx, const struct z3fh_links *n);
    void (*unbuddied)(void *ctx, const struct z3fh_links *n);
    void (*stale)(void *ctx, const struct z3fh_links *n);
    void *ctx;
    struct kz_where *at;
};

/* Walk every list of the pool: the LRU, each CPU's non-empty unbuddied
 * lists, the stale list. */
static void kz_walk_lists(struct kz_pool *kz, const struct kz_visitors *v, z3fh_report_fn report, void *rctx) {
    int cpu, idx;
    if (kz_lru_head(kz)) kz_walk(kz, kz_lru_head(kz), "the LRU", kz_lru_data, v->lru, v->ctx, report, rctx);
    for (cpu = 0; cpu < kz->cpus; cpu++) {
        const struct list_head *unbuddied = kz->unbuddied_of[cpu];
        for (idx = 0; idx < (int)NCHUNKS; idx++) {
            if (z3fh_list_head_empty(&unbuddied[idx])) continue;
            v->at->cpu = cpu;
            v->at->index = idx;
            kz_walk(kz, &unbuddied[idx], "an unbuddied list", kz_buddy_data, v->unbuddied, v->ctx, report, rctx);
        }
    }
    kz_walk(kz, &kz->pool->stale, "the stale list", kz_buddy_data, v->stale, v->ctx, report, rctx);
}

/* ---- the snapshot ---- */

struct kz_snap_ctx {
    struct kz_page_info *pages;
    size_t n;
    struct kz_where at;
};

static struct kz_page_info *kz_find(struct kz_snap_ctx *c, const void *data) {
    uint32_t serial = kshim_page_serial(data);
    size_t i;
    for (i = 0; i < c->n; i++)
        if (c->pages[i].serial == serial) return &c->pages[i];
    return NULL;
}
static void kz_mark_lru(void *ctx, const struct z3fh_links *n) {
    struct kz_page_info *p = kz_find(ctx, kz_lru_data(n));
    if (p) p->on_lru = 1;
}
static void kz_mark_unbuddied(void *ctx, const struct z3fh_links *n) {
    struct kz_snap_ctx *c = ctx;
    struct kz_page_info *p = kz_find(c, kz_buddy_data(n));
    if (p) {
        p->unbuddied_cpu = c->at.cpu;
        p->unbuddied_index = c->at.index;
    }
}
static void kz_mark_stale(void *ctx, const struct z3fh_links *n) {
    struct kz_page_info *p = kz_find(ctx, kz_buddy_data(n));
    if (p) p->on_stale = 1;
}

size_t kz_snapshot_pages(struct kz_pool *kz, struct kz_page_info *out, size_t cap) {
    void *stack_pages[256];
    void **data = stack_pages;
    size_t total = kshim_live_pages(NULL, 0), i, n;
    struct kz_snap_ctx c;

    if (total > cap) return total;
    if (total > 256) data = malloc(total * sizeof(void *));
    kshim_live_pages(data, total);
    for (i = 0; i < total; i++) {
        struct kz_page_info *p = &out[i];
        struct page *page = virt_to_page(data[i]);
        struct z3fold_header *z = data[i];
        memset(p, 0, sizeof(*p));
        p->serial = (uint32_t)kshim_page_extra(page)->serial;
        p->flags = page->private;
        p->headless = (int)((page->private >> PAGE_HEADLESS) & 1UL);
        p->page_refs = page->_refcount.counter;
        p->cpu = -1;
        p->unbuddied_cpu = -1;
        p->unbuddied_index = -1;
        if (!p->headless && z->pool == kz->pool) {
            p->refcount = z->refcount.refcount.refs.counter;
            p->first_chunks = z->first_chunks;
            p->middle_chunks = z->middle_chunks;
            p->last_chunks = z->last_chunks;
            p->start_middle = z->start_middle;
            p->first_num = z->first_num;
            p->mapped_count = z->mapped_count;
            p->foreign_handles = z->foreign_handles;
            p->cpu = z->cpu;
            p->slots_serial = z->slots ? kshim_slab_serial(z->slots) : 0;
            p->page_locked = kshim_spin_is_locked(&z->page_lock);
            p->work_pending = kshim_work_pending(&z->work);
        }
    }
    if (data != stack_pages) free(data);
    n = total;
    c.pages = out;
    c.n = n;
    {
        const struct kz_visitors v = {kz_mark_lru, kz_mark_unbuddied, kz_mark_stale, &c, &c.at};
        kz_walk_lists(kz, &v, NULL, NULL);
    }
    return n;
}

size_t kz_snapshot_slots(struct kz_pool *kz, struct kz_slot_info *out, size_t cap, uint32_t *slots_serials,
                         size_t serial_cap, size_t *n_objects) {
    void *objs[512];
    size_t total = kshim_live_slab_objects(kz->pool->c_handle, objs, 512), i, n = 0;
    int k;
    if (total > 512) total = 512;
    *n_objects = total;
    for (i = 0; i < total; i++) {
        struct z3fold_buddy_slots *s = objs[i];
        uint32_t serial = kshim_slab_serial(s);
        if (i < serial_cap) slots_serials[i] = serial;
        for (k = 0; k <= BUDDY_MASK; k++) {
            unsigned long v = s->slot[k];
            const void *data;
            if (!v) continue;
            if (n < cap) {
                struct kz_slot_info *si = &out[n];
                data = (const void *)(v & PAGE_MASK);
                si->slots_serial = serial;
                si->index = k;
                si->page_serial = kshim_live_page_serial(data);
                si->raw_index = (int)(v & BUDDY_MASK);
                si->last_chunks = (int)((v & ~PAGE_MASK) >> BUDDY_SHIFT);
                si->handle = (unsigned long)&s->slot[k];
            }
            n++;
        }
    }
    return n;
}

void kz_pool_info(struct kz_pool *kz, struct kz_pool_info *out) {
    memset(out, 0, sizeof(*out));
    out->pages_nr = kz->pool->pages_nr.counter;
    out->lru_length = kz_lru_head(kz) ? kz_walk(kz, kz_lru_head(kz), "the LRU", kz_lru_data, NULL, NULL, NULL, NULL) : 0;
    out->stale_length = kz_walk(kz, &kz->pool->stale, "the stale list", kz_buddy_data, NULL, NULL, NULL, NULL);
    out->slots_objects = kshim_slab_live_count(kz->pool->c_handle);
}

/* ---- the structural validator: z3fold's rules (checks/z3fold_rules.h) ---- */

/* A page as the rules read it. */
static struct z3fh_z3fold_page kz_page_view(const struct page *page) {
    struct z3fh_z3fold_page v;
    const unsigned long flags = page->private;
    const struct z3fold_header *z = page_address(page);
    v.key = page;
    v.serial = (uint32_t)kshim_page_extra(page)->serial;
    v.headless = (int)((flags >> PAGE_HEADLESS) & 1UL);
    v.claimed = (int)((flags >> PAGE_CLAIMED) & 1UL);
    v.stale = (int)((flags >> PAGE_STALE) & 1UL);
    v.refcount = z->refcount.refcount.refs.counter;
    v.locked = !v.headless && kshim_spin_is_locked(&z->page_lock);
    return v;
}

struct kz_val_ctx {
    struct z3fh_z3fold_rules rules;
    struct kz_where at;
};

static void kz_val_lru(void *ctx, const struct z3fh_links *n) {
    struct kz_val_ctx *c = ctx;
    const struct z3fh_z3fold_page v = kz_page_view(container_of((const struct list_head *)n, struct page, lru));
    z3fh_z3fold_check_listed(&c->rules, &v, "the LRU");
}

static void kz_val_unbuddied(void *ctx, const struct z3fh_links *n) {
    struct kz_val_ctx *c = ctx;
    const struct z3fh_z3fold_page v = kz_page_view(virt_to_page(kz_buddy_data(n)));
    z3fh_z3fold_check_unbuddied(&c->rules, &v, c->at.cpu, c->at.index);
}

static void kz_val_stale(void *ctx, const struct z3fh_links *n) {
    struct kz_val_ctx *c = ctx;
    const struct z3fh_z3fold_page v = kz_page_view(virt_to_page(kz_buddy_data(n)));
    z3fh_z3fold_check_stale(&c->rules, &v);
}

/* 6.1 releases a page (unlinks it, sets PAGE_STALE) under its page lock. */
static void kz_rules_init(struct kz_val_ctx *c, z3fh_report_fn report, void *rctx) {
    z3fh_z3fold_rules_init(&c->rules, 1, report, rctx);
}

void kz_validate(struct kz_pool *kz, z3fh_report_fn report, void *rctx) {
    struct kz_val_ctx c;
    struct kz_visitors v = {kz_val_lru, kz_val_unbuddied, kz_val_stale, NULL, NULL};
    kz_rules_init(&c, report, rctx);
    v.ctx = &c;
    v.at = &c.at;
    kz_walk_lists(kz, &v, report, rctx);
}

/* ---- the same rules for the pages one step touched (the port's
 * PoolInspector::validate_pages, in the kernel's structures) ---- */

struct kz_touched {
    const void *data;
    int in_data; /* a store into the data page (a buddy link), not only struct page */
};

/* Add data's page to the touched set; 0 when the set is full. */
static int kz_touch(struct kz_touched *t, size_t *n, size_t cap, const void *data, int in_data) {
    size_t i;
    for (i = 0; i < *n; i++)
        if (t[i].data == data) {
            t[i].in_data |= in_data;
            return 1;
        }
    if (*n == cap) return 0;
    t[(*n)++] = (struct kz_touched){data, in_data};
    return 1;
}

/* Findings go to a buffer first: when the pages cannot decide, nothing is
 * reported and the caller walks every list. */
struct kz_found {
    enum z3fh_finding_id id;
    uint32_t page;
    char msg[160];
};
struct kz_found_buf {
    struct kz_found *at;
    size_t n, cap;
};
static void kz_buffer_violation(void *ctx, enum z3fh_finding_id id, uint32_t page, const char *message) {
    struct kz_found_buf *b = ctx;
    struct kz_found *f;
    if (b->n >= b->cap) return;
    f = &b->at[b->n++];
    f->id = id;
    f->page = page;
    snprintf(f->msg, sizeof f->msg, "%s", message);
}

int kz_validate_pages(struct kz_pool *kz, const void *const *addrs, size_t n, uint32_t serial,
                      z3fh_report_fn report, void *rctx) {
    struct kz_touched touched[64];
    size_t nt = 0, i;
    struct kz_val_ctx c;
    struct kz_found found[16];
    struct kz_found_buf buf = {found, 0, 16};
    const struct z3fh_list_world w = kz_world(kz);
    for (i = 0; i < n; i++) {
        const void *data = kshim_page_data_of(addrs[i]);
        if (!data) continue; /* a list head, the harness's own state */
        if (!kz_touch(touched, &nt, 64, data, (uintptr_t)addrs[i] - (uintptr_t)data < PAGE_SIZE)) return 0;
    }
    if (serial) {
        const void *data = kshim_page_data_by_serial(serial);
        if (data && !kz_touch(touched, &nt, 64, data, 0)) return 0;
    }
    kz_rules_init(&c, kz_buffer_violation, &buf);
    for (i = 0; i < nt; i++) {
        const struct page *page = virt_to_page(touched[i].data);
        const struct z3fold_header *z = touched[i].data;
        const struct z3fh_links *head;
        int on_lru;
        unsigned long flags = page->private;
        if (kz_lru_head(kz)) {
            if (!z3fh_links_of(&w, &page->lru, kz_lru_data, &on_lru)) return 0;
            if (on_lru) kz_val_lru(&c, (const struct z3fh_links *)&page->lru);
        }
        if (((flags >> PAGE_HEADLESS) & 1UL) || z->pool != kz->pool) {
            /* No header (yet): a link stored there only the walk can judge. */
            if (touched[i].in_data) return 0;
            continue;
        }
        if (!z3fh_head_of(&w, &z->buddy, kz_buddy_data, &head)) return 0;
        if (head && (const void *)head == kz_lru_head(kz)) return 0;
        if ((const void *)head == &kz->pool->stale) {
            kz_val_stale(&c, (const struct z3fh_links *)&z->buddy);
        } else if (head) {
            if (!kz_unbuddied_head(kz, head, &c.at.cpu, &c.at.index)) return 0;
            kz_val_unbuddied(&c, (const struct z3fh_links *)&z->buddy);
        }
    }
    for (i = 0; i < buf.n; i++) report(rctx, found[i].id, found[i].page, found[i].msg);
    return 1;
}

