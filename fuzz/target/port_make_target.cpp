// z3fold-harden: the default target, the C++ port. Alone in its file: a
// kernel build links its own make_target (kernel/adapter/kernel_target.cpp)
// ahead of this archive member, which is then never pulled in.
#include <cstdlib>
#include <cstring>
#include <optional>

#include "target/port_target.h"

namespace z3fh::fuzz {

namespace {

class HarnessPageSource final : public PageSource {
protected:
    // A fixed fill, as the kernel shim's pages have: a read of fresh memory
    // (zswap's writeback reading the header of an object its store has not
    // written yet) is the same in every run, not whatever an earlier run of
    // this process left in the block.
    void* alloc_frame() override {
        void* f = std::aligned_alloc(2 * PAGE_SIZE, 2 * PAGE_SIZE);
        if (f) std::memset(f, 0x6b, 2 * PAGE_SIZE);
        return f;
    }
    void free_frame(void* f) override { std::free(f); }
};

// The port with its own page source; the evict callback sees this target.
class OwnedPortTarget final {
public:
    OwnedPortTarget(int vcpus, TargetEvictFn evict, void* ctx) : evict_(evict), ctx_(ctx) {
        pool_.emplace(PoolConfig{vcpus, &src_, evict ? &trampoline : nullptr, this});
        target_.emplace(*pool_);
    }
    PortTarget& target() { return *target_; }
    // z3fold_destroy_pool: drain the work (scheduled-aware), count, free.
    TargetCounts destroy_now() {
        pool_->drain();
        TargetCounts c = target_->counts();
        // The slots cache goes with the pool: what it still holds is leaked.
        c.leftovers = pool_->slots_cache().live_allocations();
        target_.reset();
        pool_.reset();
        c.live_pages = src_.live_pages();
        std::vector<Leftover> pages = src_.live_allocations();
        c.leftovers.insert(c.leftovers.end(), pages.begin(), pages.end());
        return c;
    }

private:
    static int trampoline(Pool&, Handle h, void* self) {
        auto* t = static_cast<OwnedPortTarget*>(self);
        return t->evict_(*t->target_, h, t->ctx_);
    }
    TargetEvictFn evict_;
    void* ctx_;
    HarnessPageSource src_;
    std::optional<Pool> pool_;  // after src_: destroyed before it
    std::optional<PortTarget> target_;
};

// Owns the pool (declared after the source, destroyed before it).
class PortTargetHolder final : public TargetPool {
public:
    PortTargetHolder(int vcpus, TargetEvictFn evict, void* ctx) : impl_(vcpus, evict, ctx) {}
    const char* name() const override { return "port"; }
    AllocResult alloc(size_t size, Gfp gfp) override { return t().alloc(size, gfp); }
    void free(Handle h) override { t().free(h); }
    void* map(Handle h) override { return t().map(h); }
    void unmap(Handle h) override { t().unmap(h); }
    Errno reclaim_page(unsigned retries) override { return t().reclaim_page(retries); }
    void compact_handle_page(Handle h) override { t().compact_handle_page(h); }
    Errno migrate_handle_page(Handle h) override { return t().migrate_handle_page(h); }
    int vcpus() const override { return const_cast<PortTargetHolder*>(this)->t().vcpus(); }
    uint64_t total_size() override { return t().total_size(); }
    void drain() override { t().drain(); }
    void fail_nth(bool slots, int n) override { t().fail_nth(slots, n); }
    TargetCounts destroy_now() override { return impl_.destroy_now(); }
    PoolSnapshot snapshot() override { return t().snapshot(); }
    void check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                       std::vector<Violation>& out) override {
        t().check_at_rest(snap, live, out);
    }
    void validate(std::vector<Violation>& out) override { t().validate(out); }
    bool validate_scope(const StepScope& scope, std::vector<Violation>& out) override {
        return t().validate_scope(scope, out);
    }
    bool resolve(Handle h, ResolvedHandle* out) override { return t().resolve(h, out); }
    TargetCounts counts() override { return t().counts(); }
    std::vector<Leftover> live_allocations() override { return t().live_allocations(); }
    std::vector<uint32_t> live_slots_objects() override { return t().live_slots_objects(); }

private:
    PortTarget& t() { return impl_.target(); }
    OwnedPortTarget impl_;
};

}  // namespace

std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn evict, void* ctx) {
    return std::make_unique<PortTargetHolder>(vcpus, evict, ctx);
}

const char* target_name() { return "port"; }

}  // namespace z3fh::fuzz
