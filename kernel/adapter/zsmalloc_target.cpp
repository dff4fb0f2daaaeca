// z3fold-harden: the kernel's own mm/zsmalloc.c (Linux 6.12) as the
// harness's TargetPool (fuzz/target/target.h), in kernel builds made with
// --allocator zsmalloc. Its zspages are movable (the mm core's compaction
// migrates them page by page), it compacts itself (zs_compact: zram's
// compact, its shrinker under memory pressure) and frees empty zspages it
// could not lock from a work item; it has no LRU and no evict.
#include <fmt/format.h>

#include "kernel_target_base.h"
#include "zsmalloc_adapter.h"

namespace z3fh::fuzz {

namespace {

class ZsmallocTarget final : public KernelTargetBase {
public:
    explicit ZsmallocTarget(int vcpus) : KernelTargetBase(vcpus) { zs_ = zsa_create(vcpus); }
    ~ZsmallocTarget() override { zsa_destroy(zs_); }
    ZsmallocTarget(const ZsmallocTarget&) = delete;
    ZsmallocTarget& operator=(const ZsmallocTarget&) = delete;

    const char* allocator() const override { return "zsmalloc"; }
    bool has_pool_lru() const override { return false; }

    AllocResult alloc(size_t size, Gfp gfp) override {
        unsigned long h = 0;
        const int rc = zsa_alloc(zs_, size, gfp.can_sleep ? 1 : 0, &h);  // before h is read
        return alloc_result(rc, h);
    }
    void free(Handle h) override { zsa_free(zs_, h); }
    void* map(Handle h) override { return zsa_map(zs_, h, ZSA_MAP_RW); }
    void* map_for(Handle h, MapMode mode) override {
        return zsa_map(zs_, h, mode == MapMode::ro ? ZSA_MAP_RO : mode == MapMode::wo ? ZSA_MAP_WO : ZSA_MAP_RW);
    }
    void unmap(Handle h) override { zsa_unmap(zs_, h); }
    // Memory pressure: shrink_slab runs zsmalloc's shrinker (zs_compact).
    Errno reclaim_page(unsigned retries) override {
        (void)zsa_shrink(zs_, 32ul * retries);
        return Errno::ok;
    }
    // zram's compact (its sysfs knob): zs_compact on the whole pool.
    void compact_handle_page(Handle) override { compact_pool(); }
    void compact_pool() override { (void)zsa_compact(zs_); }
    size_t huge_class_size() override { return zsa_huge_class_size(zs_); }
    // Only the mm core migrates zsmalloc's pages, by scanning them: the
    // broad user's migrate is one synchronous compaction round.
    Errno migrate_handle_page(Handle) override {
        (void)kz_mm_compact(0, 32, 0);
        return Errno::ok;
    }
    uint64_t total_size() override { return zsa_total_pages(zs_) << 12; }
    void drain() override { zsa_drain(zs_); }
    TargetCounts destroy_now() override {
        zsa_destroy_pool(zs_);
        return after_destroy();
    }

    PoolSnapshot snapshot() override {
        sync::TsanHidden hidden;
        const std::vector<zsa_page_info> pages =
            read_all<zsa_page_info>([&](zsa_page_info* out, size_t cap) { return zsa_snapshot_pages(zs_, out, cap); });
        PoolSnapshot snap;
        for (size_t i = 0; i < pages.size(); i++) {
            PageSnapshot p;
            p.serial = pages[i].serial;
            p.unit = pages[i].first_serial;
            p.refcount = -1;
            snap.pages.push_back(p);
        }
        snap.pages_nr = zsa_pages_allocated(zs_);
        return snap;
    }

    // zsmalloc's own rules at rest (zsmalloc_adapter.h): each zspage against
    // the live objects the model knows, and the pool's and classes' counters.
    void check_at_rest(const PoolSnapshot&, const std::vector<LiveObject>& live, std::vector<Violation>& out) override {
        sync::TsanHidden hidden;
        std::vector<unsigned long> handles;
        for (const LiveObject& o : live) handles.push_back(static_cast<unsigned long>(o.handle));
        zsa_check_at_rest(zs_, handles.data(), handles.size(), &on_violation, &out);
    }

    void validate(std::vector<Violation>& out) override {
        if (destroyed_) return;
        sync::TsanHidden hidden;
        zsa_validate(zs_, &on_violation, &out);
    }

    bool resolve(Handle h, ResolvedHandle* out) override {
        sync::TsanHidden hidden;
        zsa_resolved r{};
        if (!zsa_resolve(zs_, h, &r)) return false;
        out->page = r.page_serial;
        out->bud = r.huge ? Buddy::HEADLESS : Buddy::FIRST;
        out->offset = r.offset;
        out->object = r.object;
        out->first_len = r.object2 ? r.first_len : SIZE_MAX;
        out->object2 = r.object2;
        out->refcount = -1;  // zsmalloc counts no references
        out->slots_serial = 0;
        return true;
    }

    TargetCounts counts() override {
        sync::TsanHidden hidden;
        if (destroyed_) return TargetCounts{0, kshim_live_pages(nullptr, 0), kshim_slab_objects_total()};
        return TargetCounts{zsa_pages_allocated(zs_), kshim_live_pages(nullptr, 0), 0};
    }
    std::vector<uint32_t> live_slots_objects() override { return {}; }

    DepthCounters depth_counters() override {
        sync::TsanHidden hidden;
        zsa_counters c{};
        zsa_read_counters(zs_, &c);
        return {{"migrations", kz_mm_migrations()},
                {"compactions", c.compactions},
                {"deferred_frees", c.deferred_frees},
                {"spanning_maps", c.spanning_maps},
                {"huge_objects", c.huge_objects}};
    }

private:
    zsa_pool* zs_ = nullptr;
};

}  // namespace

std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn, void*) {
    return std::make_unique<ZsmallocTarget>(vcpus);
}

const char* target_name() { return "kernel"; }

}  // namespace z3fh::fuzz
