// z3fold-harden: what every kernel allocator's TargetPool shares (z3fold's
// kernel_target.cpp, zbud's zbud_target.cpp): the kernel's errnos, the mm
// core's compaction round, fault injection, the caller's atomic context,
// the version, the shim's leftovers and its violation callback. One is
// linked into a kernel build's binaries, by the allocator CMake picks.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "kernel_mm.h"
#include "kshim_leftovers.h"
#include "kshim_registry.h"
#include "sync/sync.h"
#include "target/target.h"

#ifndef Z3FH_KERNEL_VERSION
#define Z3FH_KERNEL_VERSION "unknown"
#endif

namespace z3fh::fuzz {

class KernelTargetBase : public TargetPool {
public:
    explicit KernelTargetBase(int vcpus) : vcpus_(vcpus) {
        // Threads move between virtual CPUs wherever the kernel lets a task move.
        if (sync::ControlledRuntime* rt = sync::runtime()) {
            rt->set_preemptible(&kshim_thread_preemptible);
            rt->set_owns_cpu(&cpu_claim, vcpus);
        }
    }
    // The shim's answer (a C int) as the scheduler's claim.
    static sync::ControlledRuntime::CpuClaim cpu_claim(int thread, int held, bool waiting) {
        using Claim = sync::ControlledRuntime::CpuClaim;
        static_assert(static_cast<int>(Claim::spin_wait) == KSHIM_CPU_SPIN_WAIT &&
                      static_cast<int>(Claim::preempt_off) == KSHIM_CPU_PREEMPT_OFF);
        return static_cast<Claim>(kshim_thread_owns_cpu(thread, held, waiting));
    }
    const char* name() const override { return "kernel"; }
    std::string version() const override { return Z3FH_KERNEL_VERSION; }
    // One round of the mm core's compaction (kernel_mm.c): pages found by
    // scanning, whichever allocator made them movable.
    bool mm_compact(uint8_t arg) override {
        static constexpr unsigned kIsolate[4] = {1, 2, 4, 32};
        (void)kz_mm_compact(arg & 7u, kIsolate[(arg >> 4) & 3u], (arg & 8u) != 0);
        return true;
    }
    int vcpus() const override { return vcpus_; }
    void enter_atomic(const char* file, int line) override { kshim_caller_atomic_begin(file, line); }
    void leave_atomic() override { kshim_caller_atomic_end(); }
    void fail_nth(bool slots, int n) override { kshim_fail_nth(slots ? 1 : 0, n); }
    std::vector<Leftover> live_allocations() override { return kshim_live_allocations(false); }

protected:
    // An adapter's "fill up to cap, return how many exist" read, whole.
    template <typename Info, typename Fill>
    static std::vector<Info> read_all(Fill fill) {
        std::vector<Info> v(64);
        size_t n = fill(v.data(), v.size());
        if (n > v.size()) {
            v.resize(n);
            n = fill(v.data(), v.size());
        }
        v.resize(std::min(n, v.size()));
        return v;
    }
    static Errno to_errno(int rc) {
        switch (-rc) {
        case 0: return Errno::ok;
        case 11: return Errno::again;
        case 12: return Errno::nomem;
        case 16: return Errno::busy;
        case 22: return Errno::inval;
        case 28: return Errno::nospc;
        default: return Errno::inval;
        }
    }
    // An adapter's alloc (0 or -errno, the handle) as the harness's result.
    static AllocResult alloc_result(int rc, unsigned long handle) {
        return AllocResult{to_errno(rc), rc == 0 ? static_cast<Handle>(handle) : 0};
    }
    // The adapters' validators report through this (ctx: a Violation vector).
    static void on_violation(void* ctx, z3fh_finding_id id, uint32_t page, const char* message) {
        static_cast<std::vector<Violation>*>(ctx)->push_back(Violation{z3fh_finding_name(id), page, message});
    }
    // What the pool's destroy left: every allocation the file made.
    TargetCounts after_destroy() {
        destroyed_ = true;
        sync::TsanHidden hidden;
        return TargetCounts{0, kshim_live_pages(nullptr, 0), kshim_slab_objects_total(), kshim_live_allocations(true)};
    }

    int vcpus_;
    bool destroyed_ = false;
};

}  // namespace z3fh::fuzz
