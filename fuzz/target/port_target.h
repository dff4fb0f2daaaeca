// z3fold-harden: the C++ port as a TargetPool, over a pool someone else
// owns (tests, the shadow model's own checks); make_target() builds one
// owning its pool (port_make_target.cpp).
#pragma once
#include "target/target.h"

namespace z3fh::fuzz {

// The port, over a pool someone else owns (tests) ...
class PortTarget final : public TargetPool {
public:
    explicit PortTarget(Pool& pool) : pool_(pool) {}
    const char* name() const override { return "port"; }
    AllocResult alloc(size_t size, Gfp gfp) override { return pool_.alloc(size, gfp); }
    void free(Handle h) override { pool_.free(h); }
    void* map(Handle h) override { return pool_.map(h); }
    void unmap(Handle h) override { pool_.unmap(h); }
    Errno reclaim_page(unsigned retries) override { return pool_.reclaim_page(retries); }
    void compact_handle_page(Handle h) override { pool_.compact_handle_page(h); }
    Errno migrate_handle_page(Handle h) override { return pool_.migrate_handle_page(h); }
    int vcpus() const override { return pool_.vcpus(); }
    uint64_t total_size() override { return pool_.total_size(); }
    void drain() override { pool_.drain(); }
    void fail_nth(bool slots, int n) override {
        sync::TsanHidden hidden;  // fault-injection bookkeeping, serialised by the scheduler
        if (slots) pool_.slots_cache().fail_nth(n);
        else pool_.page_source().fail_nth(n);
    }
    // A view cannot end the life of a pool someone else owns: it drains the
    // work and counts (the owner frees the pool).
    TargetCounts destroy_now() override {
        pool_.drain();
        return counts();
    }
    PoolSnapshot snapshot() override;
    void check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                       std::vector<Violation>& out) override;
    void validate(std::vector<Violation>& out) override;
    bool validate_scope(const StepScope& scope, std::vector<Violation>& out) override;
    bool resolve(Handle h, ResolvedHandle* out) override;
    TargetCounts counts() override;
    std::vector<Leftover> live_allocations() override;
    std::vector<uint32_t> live_slots_objects() override;
    Pool& pool() { return pool_; }

private:
    Pool& pool_;
};

}  // namespace z3fh::fuzz
