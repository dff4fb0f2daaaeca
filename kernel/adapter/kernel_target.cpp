// z3fold-harden: the kernel's own mm/z3fold.c as the harness's TargetPool.
// Linked into the kernel build's binaries ahead of the harness archive, so
// this make_target() is the one they use (fuzz/target/target.h).
#include <string>

#include "kernel_adapter.h"
#include "kernel_target_base.h"
#include "target/z3fold_at_rest.h"

namespace z3fh::fuzz {

namespace {

class KernelTarget final : public KernelTargetBase {
public:
    KernelTarget(int vcpus, TargetEvictFn evict, void* ctx) : KernelTargetBase(vcpus), evict_(evict), ctx_(ctx) {
        kz_ = kz_create(vcpus, evict ? &trampoline : nullptr, this);
    }
    ~KernelTarget() override { kz_destroy(kz_); }
    KernelTarget(const KernelTarget&) = delete;
    KernelTarget& operator=(const KernelTarget&) = delete;

    bool has_pool_lru() const override { return kz_has_evict() != 0; }

    AllocResult alloc(size_t size, Gfp gfp) override {
        unsigned long h = 0;
        const int rc = kz_alloc(kz_, size, gfp.can_sleep ? 1 : 0, &h);  // before h is read
        return alloc_result(rc, h);
    }
    void free(Handle h) override { kz_free(kz_, h); }
    void* map(Handle h) override { return kz_map(kz_, h); }
    void unmap(Handle h) override { kz_unmap(kz_, h); }
    Errno reclaim_page(unsigned retries) override { return to_errno(kz_reclaim(kz_, retries)); }
    void compact_handle_page(Handle h) override { kz_compact_handle_page(kz_, h); }
    Errno migrate_handle_page(Handle h) override { return to_errno(kz_migrate_handle_page(kz_, h)); }
    uint64_t total_size() override { return kz_total_size(kz_); }
    void drain() override { kz_drain(kz_); }
    TargetCounts destroy_now() override {
        kz_destroy_pool(kz_);
        return after_destroy();
    }

    PoolSnapshot snapshot() override {
        sync::TsanHidden hidden;
        PoolSnapshot snap;
        const std::vector<kz_page_info> pages =
            read_all<kz_page_info>([&](kz_page_info* out, size_t cap) { return kz_snapshot_pages(kz_, out, cap); });
        for (size_t i = 0; i < pages.size(); i++) {
            const kz_page_info& k = pages[i];
            PageSnapshot p;
            p.serial = k.serial;
            p.headless = k.headless != 0;
            p.flags = k.flags;
            p.refcount = k.refcount;
            p.first_chunks = k.first_chunks;
            p.middle_chunks = k.middle_chunks;
            p.last_chunks = k.last_chunks;
            p.start_middle = k.start_middle;
            p.first_num = k.first_num;
            p.mapped_count = k.mapped_count;
            p.foreign_handles = k.foreign_handles;
            p.cpu = k.cpu;
            p.slots_serial = k.slots_serial;
            p.page_locked = k.page_locked != 0;
            p.work_pending = k.work_pending != 0;
            p.on_lru = k.on_lru != 0;
            p.on_stale = k.on_stale != 0;
            p.unbuddied_cpu = k.unbuddied_cpu;
            p.unbuddied_index = k.unbuddied_index;
            p.page_refs = k.page_refs;
            snap.pages.push_back(p);
        }
        std::vector<kz_slot_info> slots(256);
        std::vector<uint32_t> serials(512);
        size_t objects = 0;
        size_t ns = kz_snapshot_slots(kz_, slots.data(), slots.size(), serials.data(), serials.size(), &objects);
        if (ns > slots.size()) {
            slots.resize(ns);
            ns = kz_snapshot_slots(kz_, slots.data(), slots.size(), serials.data(), serials.size(), &objects);
        }
        for (size_t i = 0; i < ns; i++) {
            const kz_slot_info& k = slots[i];
            snap.slots.push_back(SlotSnapshot{k.slots_serial, k.index, k.page_serial, k.raw_index, k.last_chunks,
                                              static_cast<Handle>(k.handle)});
        }
        struct kz_pool_info info;
        kz_pool_info(kz_, &info);
        snap.slots_objects = info.slots_objects;
        snap.pages_nr = info.pages_nr;
        snap.lru_length = info.lru_length;
        snap.stale_length = info.stale_length;
        return snap;
    }

    void check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                       std::vector<Violation>& out) override {
        z3fold_check_at_rest(*this, snap, live, out);
    }

    void validate(std::vector<Violation>& out) override {
        sync::TsanHidden hidden;
        kz_validate(kz_, &on_violation, &out);
    }

    bool validate_scope(const StepScope& scope, std::vector<Violation>& out) override {
        if (scope.all || destroyed_) return false;
        sync::TsanHidden hidden;
        return kz_validate_pages(kz_, scope.addresses, scope.n_addresses, scope.page_serial, &on_violation, &out) != 0;
    }

    bool resolve(Handle h, ResolvedHandle* out) override {
        sync::TsanHidden hidden;
        int bud = 0;
        const uint8_t* obj = nullptr;
        if (!kz_resolve(kz_, h, &out->page, &bud, &out->offset, &obj, &out->refcount, &out->slots_serial)) return false;
        out->bud = static_cast<Buddy>(bud);
        out->object = obj;
        return true;
    }

    TargetCounts counts() override {
        sync::TsanHidden hidden;
        if (destroyed_) return TargetCounts{0, kshim_live_pages(nullptr, 0), kshim_slab_objects_total()};
        return TargetCounts{kz_pages_nr(kz_), kz_live_pages(kz_), kz_live_slots(kz_)};
    }

    DepthCounters depth_counters() override {
        sync::TsanHidden hidden;
        kz_counters c{};
        kz_get_counters(kz_, &c);
        return {{"migrations", c.migrations},
                {"compactions", c.compactions},
                {"deferred_frees", c.deferred_frees},
                {"huge_objects", c.huge_objects}};
    }

    std::vector<uint32_t> live_slots_objects() override {
        sync::TsanHidden hidden;
        std::vector<uint32_t> serials(512);
        size_t objects = 0;
        kz_snapshot_slots(kz_, nullptr, 0, serials.data(), serials.size(), &objects);
        serials.resize(objects < serials.size() ? objects : serials.size());
        return serials;
    }

private:
    static int trampoline(void* self, unsigned long handle) {
        auto* t = static_cast<KernelTarget*>(self);
        return t->evict_(*t, static_cast<Handle>(handle), t->ctx_);
    }

    kz_pool* kz_ = nullptr;
    TargetEvictFn evict_;
    void* ctx_;
};

}  // namespace

std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn evict, void* ctx) {
    return std::make_unique<KernelTarget>(vcpus, evict, ctx);
}

const char* target_name() { return "kernel"; }

}  // namespace z3fh::fuzz
