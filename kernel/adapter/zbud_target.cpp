// z3fold-harden: the kernel's own mm/zbud.c (Linux 6.12) as the harness's
// TargetPool (fuzz/target/target.h), in kernel builds made with
// --allocator zbud. zbud's pages are not movable (the mm core's compaction
// finds none to isolate) and it has no background work and no LRU.
#include <fmt/format.h>

#include "kernel_target_base.h"
#include "zbud_adapter.h"

namespace z3fh::fuzz {

namespace {

class ZbudTarget final : public KernelTargetBase {
public:
    explicit ZbudTarget(int vcpus) : KernelTargetBase(vcpus) { zb_ = zb_create(vcpus); }
    ~ZbudTarget() override { zb_destroy(zb_); }
    ZbudTarget(const ZbudTarget&) = delete;
    ZbudTarget& operator=(const ZbudTarget&) = delete;

    const char* allocator() const override { return "zbud"; }
    bool has_pool_lru() const override { return false; }

    AllocResult alloc(size_t size, Gfp gfp) override {
        unsigned long h = 0;
        const int rc = zb_alloc(zb_, size, gfp.can_sleep ? 1 : 0, &h);  // before h is read
        return alloc_result(rc, h);
    }
    void free(Handle h) override { zb_free(zb_, h); }
    void* map(Handle h) override { return zb_map(zb_, h); }
    void unmap(Handle h) override { zb_unmap(zb_, h); }
    Errno reclaim_page(unsigned) override { return Errno::inval; }  // no evict in 6.12
    void compact_handle_page(Handle) override {}                    // zbud does not compact
    Errno migrate_handle_page(Handle) override { return Errno::inval; }  // its pages are not movable
    uint64_t total_size() override { return zb_total_pages(zb_) << 12; }
    void drain() override {}
    TargetCounts destroy_now() override {
        zb_destroy_pool(zb_);
        return after_destroy();
    }

    PoolSnapshot snapshot() override {
        sync::TsanHidden hidden;
        const std::vector<zb_page_info> pages =
            read_all<zb_page_info>([&](zb_page_info* out, size_t cap) { return zb_snapshot_pages(zb_, out, cap); });
        PoolSnapshot snap;
        for (size_t i = 0; i < pages.size(); i++) {
            PageSnapshot p;
            p.serial = pages[i].serial;
            p.first_chunks = pages[i].first_chunks;
            p.last_chunks = pages[i].last_chunks;
            p.unbuddied_index = pages[i].list_index;
            p.refcount = -1;
            snap.pages.push_back(p);
        }
        snap.pages_nr = zb_pages_nr(zb_);
        return snap;
    }

    // zbud's own rules at rest: a page's chunk counts are its live objects'
    // (size_to_chunks of each), and it is on the one list they say:
    // buddied (unbuddied[0]) when both buddies are used, else
    // unbuddied[free chunks].
    void check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                       std::vector<Violation>& out) override {
        const int nchunks = zb_nchunks();
        for (const PageSnapshot& p : snap.pages) {
            int first = 0, last = 0;
            for (const LiveObject& o : live)
                if (o.r.page == p.serial) (o.r.bud == Buddy::FIRST ? first : last) = zb_size_to_chunks(o.size);
            if (first + last == 0) continue;  // the shared tier's empty-page-kept
            if (p.first_chunks != first || p.last_chunks != last)
                out.push_back({finding_name(FindingId::zbud_chunks), p.serial,
                               fmt::format("page {} has first_chunks {}, last_chunks {}; its objects need {} and {}",
                                           p.serial, p.first_chunks, p.last_chunks, first, last)});
            const int want = first && last ? 0 : nchunks - first - last;
            if (p.unbuddied_index != want)
                out.push_back({finding_name(FindingId::unbuddied_index), p.serial,
                               fmt::format("page {} ({} free chunks) is on list {} (0: buddied, -1: none)", p.serial,
                                           want, p.unbuddied_index)});
        }
    }

    void validate(std::vector<Violation>& out) override {
        if (destroyed_) return;
        sync::TsanHidden hidden;
        zb_validate(zb_, &on_violation, &out);
    }

    bool resolve(Handle h, ResolvedHandle* out) override {
        sync::TsanHidden hidden;
        int bud = 0;
        const uint8_t* obj = nullptr;
        if (!zb_resolve(zb_, h, &out->page, &bud, &out->offset, &obj)) return false;
        out->bud = static_cast<Buddy>(bud);
        out->object = obj;
        out->refcount = -1;  // zbud counts no references
        out->slots_serial = 0;
        return true;
    }

    TargetCounts counts() override {
        sync::TsanHidden hidden;
        if (destroyed_) return TargetCounts{0, kshim_live_pages(nullptr, 0), kshim_slab_objects_total()};
        return TargetCounts{zb_pages_nr(zb_), kshim_live_pages(nullptr, 0), 0};
    }
    std::vector<uint32_t> live_slots_objects() override { return {}; }

private:
    zb_pool* zb_ = nullptr;
};

}  // namespace

std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn, void*) { return std::make_unique<ZbudTarget>(vcpus); }

const char* target_name() { return "kernel"; }

}  // namespace z3fh::fuzz
