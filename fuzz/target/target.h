// z3fold-harden: the allocator under test, as the harness and the shadow
// model see it: the neutral target layer. The implementations sit side by
// side: the C++ port (target/port_target.{h,cpp}, the default) and the
// kernel's own mm/z3fold.c behind the kernel shim
// (kernel/adapter/kernel_target.cpp, in builds made with a kernel source,
// which compile the user's file). A binary links exactly one make_target();
// every tool works on either. The zpool vocabulary (Handle, Gfp, Errno,
// AllocResult) and the z3fold snapshot (PoolSnapshot, Violation) are the
// port's types, which the kernel adapter fills from its own structures.
#pragma once
#include <cstdint>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "alloc_site.h"
#include "introspect.h"
#include "pool.h"

namespace z3fh::fuzz {

// What a handle names, read without locks while no thread runs.
struct ResolvedHandle {
    uint32_t page = 0;          // page serial
    Buddy bud = Buddy::HEADLESS;
    size_t offset = 0;          // object offset in the page
    const uint8_t* object = nullptr;
    // An object that spans two pages (zsmalloc): its first first_len bytes
    // at `object`, the rest from `object2` on the next page.
    size_t first_len = SIZE_MAX;
    const uint8_t* object2 = nullptr;
    int refcount = 0;           // the page's kref (0 for headless pages; -1: the allocator counts none)
    uint32_t slots_serial = 0;  // the slots object the handle lives in (0: headless)
};

struct TargetCounts {
    int64_t pages_nr = 0;     // the pool's own page count
    size_t live_pages = 0;    // pages the page source has not seen freed
    size_t live_slots = 0;    // live slots objects
    // destroy_now(): every allocation the destroy left (a leak each), with
    // the site it was made at; the first one signs the finding.
    std::vector<Leftover> leftovers = {};
};

// What one scheduling step can have changed (harness: step_scope): the
// safety checks after it look at these pages only, unless `all`.
struct StepScope {
    bool all = false;
    const void* const* addresses = nullptr;  // noted stores: list nodes, pages
    size_t n_addresses = 0;
    uint32_t page_serial = 0;  // the page whose lock, kref or flags the step's operation wrote (0: none)
    // What a handle resolves to and the object it names can have changed:
    // a slots object's or a page's lock was released (slots, first_num,
    // start_middle and compaction's moves happen under them) or a kref moved.
    bool handles = false;
};

// A live object as the shadow model knows it at rest: its slot, handle and
// size, and what the handle resolved to.
struct LiveObject {
    int slot;
    Handle handle;
    size_t size;
    ResolvedHandle r;
};

// How deep a run went, in the allocator's terms (migrations, compactions,
// deferred frees, huge objects, ...): a campaign sums them over its corpus,
// so that a shallow run shows as one. Only the counters that apply.
using DepthCounters = std::vector<std::pair<std::string, uint64_t>>;

class TargetPool;
// The zpool evict callback: write back and free `handle`; 0 once freed.
using TargetEvictFn = int (*)(TargetPool& pool, Handle handle, void* ctx);

class TargetPool {
public:
    virtual ~TargetPool() = default;
    virtual const char* name() const = 0;  // "port" | "kernel"
    // Which allocator's rules apply: "z3fold" (the port, the kernel's
    // z3fold.c) or "zbud".
    virtual const char* allocator() const { return "z3fold"; }
    virtual std::string version() const { return ""; }
    // The pool keeps an LRU of its pages and reclaims through zpool's evict
    // callback (the port, Linux 6.1); false where the user writes back from
    // its own LRU (6.12): reclaim_page is then -EINVAL and no page is on an LRU.
    virtual bool has_pool_lru() const { return true; }

    // gfp.can_sleep false: the caller's gfp has no __GFP_DIRECT_RECLAIM
    // (zswap's never has), so the allocator may not block on its behalf.
    virtual AllocResult alloc(size_t size, Gfp gfp) = 0;
    virtual void free(Handle handle) = 0;
    virtual void* map(Handle handle) = 0;
    virtual void unmap(Handle handle) = 0;
    // map() with the user's mode (zpool's): a read-only mapping is not
    // copied back at unmap, a write-only one not copied in (zsmalloc, for an
    // object that spans pages). The others map every object read-write.
    enum class MapMode { rw, ro, wo };
    virtual void* map_for(Handle handle, MapMode mode) {
        (void)mode;
        return map(handle);
    }
    virtual Errno reclaim_page(unsigned retries) = 0;
    virtual void compact_handle_page(Handle handle) = 0;
    virtual Errno migrate_handle_page(Handle handle) = 0;
    // The mm core's own compaction round (pages found by scanning, as
    // compaction finds them, not through a handle), where the target models
    // it: false if it does not (the port). arg: bits 0-2 where the scan
    // starts, bit 3 async (never block on a page lock), bits 4-5 how many
    // pages it isolates (1, 2, 4 or 32).
    virtual bool mm_compact(uint8_t arg) {
        (void)arg;
        return false;
    }
    // The caller's context is atomic from enter_atomic to leave_atomic (its
    // user holds a spinning lock around the call, as the swap device's lock
    // is held around zswap_invalidate): the kernel's context rules then hold
    // the allocator to it (might-sleep). Nothing on the port.
    // file and line name the user's lock in the user's source.
    virtual void enter_atomic(const char* file, int line) {
        (void)file;
        (void)line;
    }
    virtual void leave_atomic() {}
    // zsmalloc's own: zs_huge_class_size (0 where the allocator has no huge
    // class), and zs_compact on the whole pool (zram's compact; nothing
    // where the allocator does not compact on request).
    virtual size_t huge_class_size() { return 0; }
    virtual void compact_pool() {}
    // zpool_get_total_size: the pool's size in bytes, as its user asks for
    // it (zswap after every free).
    virtual uint64_t total_size() = 0;
    virtual int vcpus() const = 0;
    // Main context: run queued background work to completion.
    virtual void drain() = 0;
    // Fault injection (fail_nth): the n-th page (or slots-object) allocation
    // from now fails, n >= 1.
    virtual void fail_nth(bool slots, int n) = 0;
    // Destroy the pool now, from the running (scheduled) thread, waiting for
    // its background work as the kernel's destroy does; what it left behind.
    // After this only counts() and the destructor may be called.
    virtual TargetCounts destroy_now() = 0;

    // Introspection, quiescent only. The snapshot's pages are the pool's
    // live pages (serial, and the fields the allocator has); pages_nr its
    // own count of them.
    virtual PoolSnapshot snapshot() = 0;
    // The allocator's own tier of invariants at rest (the shadow model's
    // shared tier has checked every live object resolves with its contents,
    // no two overlap, every page holds one): `live` are the objects the
    // model knows, `snap` the snapshot it took.
    virtual void check_at_rest(const PoolSnapshot& snap, const std::vector<LiveObject>& live,
                               std::vector<Violation>& out) = 0;
    virtual void validate(std::vector<Violation>& out) = 0;
    // validate(), restricted to the pages `scope` names; false when that
    // cannot decide (a link looks wrong, or the target cannot restrict):
    // then the caller validates everything.
    virtual bool validate_scope(const StepScope&, std::vector<Violation>&) { return false; }
    virtual bool resolve(Handle handle, ResolvedHandle* out) = 0;
    virtual TargetCounts counts() = 0;
    // The pages and slots objects live now, each with the site it was
    // allocated at, in allocation order (quiescent only).
    virtual std::vector<Leftover> live_allocations() = 0;
    // Every live slots object's serial, in allocation order.
    virtual std::vector<uint32_t> live_slots_objects() = 0;
    // This run's depth counters so far (none where the target keeps none).
    virtual DepthCounters depth_counters() { return {}; }
};

// The build's target, owning its pool: the port (target/port_target.h),
// or the kernel's z3fold.c in a kernel build. `evict` gets this TargetPool.
std::unique_ptr<TargetPool> make_target(int vcpus, TargetEvictFn evict, void* ctx);
// "port" or "kernel": what make_target builds in this binary.
const char* target_name();

}  // namespace z3fh::fuzz
