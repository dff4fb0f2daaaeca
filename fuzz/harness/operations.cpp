// z3fold-harden: the program's operations on the target: each op as the
// allocator's user makes it (objects written, mapped, checked, freed), the
// zpool evict callback with the program's policy, and the thread bodies.
#include <fmt/format.h>

#include <cstring>

#include "finding.h"
#include "harness/harness_state.h"
#include "layout.h"
#include "report.h"
#include "sync/sync.h"

namespace z3fh::fuzz {

namespace {

bool claim(SlotState& st, SlotState::State want);
void settle(SlotState& st, const SlotState& v);
SlotState view(const SlotState& st);

}  // namespace


// The evict callback: find which slot the (stack-local) handle names by
// where it points, then act as the program's evict policy says.
int evict(TargetPool& pool, Handle handle, void* ctx) {
    auto& h = *static_cast<Harness*>(ctx);
    // zswap's writeback maps the object to read its header before it knows
    // whether the entry is still in use: so may a load, at the same time.
    // The mapping must point where the handle says (map-address); then the
    // read puts it in front of ASan, for a page freed under the mapping. It
    // is hidden from TSan: a user writing its object beside writeback is the
    // harness's race, not the allocator's.
    if (h.zswap) return h.zswap->writeback(handle);
    const auto* header = static_cast<const volatile uint8_t*>(pool.map_for(handle, TargetPool::MapMode::ro));
    {
        sync::TsanHidden hidden;
        ShadowFinding f;
        if (!check_evict_mapping(pool, handle, header, &f)) {
            pool.unmap(handle);
            record_finding(h, f);
            return -1;
        }
        (void)header[0];
    }
    sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, 0xffffu});
    pool.unmap(handle);
    EvictAction action;
    int victim = -1;
    bool busy = false;
    {
        sync::TsanHidden hidden;  // bookkeeping and the oracle's reads
        action = h.prog->evict_action(h.evict_calls++);
        ResolvedHandle given;
        if (!pool.resolve(handle, &given)) return -1;
        const uint8_t* obj = given.object;
        for (int s = 0; s < kSlots; s++) {
            const SlotState& st = h.slots[s];
            // A busy slot's handle may be half freed: never read through it.
            // Any busy object other than a fresh allocation might be the one evicted.
            if (st.state == SlotState::State::busy) {
                busy = busy || st.handle != 0;
                continue;
            }
            ResolvedHandle r;
            if (st.state == SlotState::State::live && pool.resolve(st.handle, &r) && r.object == obj) victim = s;
        }
        // The zpool contract: 0 only once the object is freed. Gone already (a
        // completed free): 0. Maybe another thread is working on it: try later.
        if (victim < 0) return busy ? -1 : 0;
        // The victim is ours from here: no other thread may free it while the
        // callback frees something else first.
        h.slots[victim].state = SlotState::State::busy;
    }
    auto free_other = [&] {
        for (int s = 0; s < kSlots; s++) {
            if (s == victim || !claim(h.slots[s], SlotState::State::live)) continue;
            SlotState v = view(h.slots[s]);
            sync::hb_consume(&h.slots[s]);  // a user frees an object after its last use, in order
            pool.free(v.handle);
            settle(h.slots[s], SlotState{SlotState::State::empty, 0, 0, v.gen, false});
            return;
        }
    };
    auto free_victim = [&] {
        sync::hb_consume(&h.slots[victim]);  // the victim's last use happened before
        pool.free(handle);  // the handle given (zpool's contract)
        settle(h.slots[victim], SlotState{SlotState::State::empty, 0, 0, view(h.slots[victim]).gen, false});
        return 0;
    };
    switch (action) {
    case EvictAction::free_given: return free_victim();
    case EvictAction::free_other_then_given: free_other(); return free_victim();
    case EvictAction::free_other_and_fail: free_other(); break;
    case EvictAction::fail: break;
    }
    SlotState v = view(h.slots[victim]);
    v.state = SlotState::State::live;
    settle(h.slots[victim], v);
    return -1;
}

namespace {

void write_pattern(uint8_t* p, int slot, uint32_t gen, size_t size) {
    for (size_t i = 0; i < size; i++) p[i] = pattern_byte(slot, gen, i);
}

// Harness bookkeeping (the slot table) is serialised by the scheduler and
// hidden from TSan (sync::TsanHidden); the allocator calls and the object
// reads and writes stay visible.
using Hidden = sync::TsanHidden;
using S = SlotState::State;

// Take a slot in state `want` for this op (marking it busy); false to skip.
bool claim(SlotState& st, S want) {
    Hidden hidden;
    if (st.state != want) return false;
    sync::shared_write(&st);  // the shadow model reads the slot table
    st.state = S::busy;
    return true;
}
void settle(SlotState& st, const SlotState& v) {
    Hidden hidden;
    sync::shared_write(&st);
    st = v;
}
SlotState view(const SlotState& st) {
    Hidden hidden;
    return st;
}

// The program's operations as zswap performs them (zswap_user.h): alloc
// stores, free invalidates, write/verify/compact load (zswap never rewrites
// a stored object), reclaim is memory pressure (6.1: the pool's one shrink
// work; 6.12: the shrink worker or the shrinker on this thread). The mm
// core's migration goes through an entry reference, which pins the handle.
bool run_zswap_op(Harness& h, const Op& op) {
    ZswapUser& z = *h.zswap;
    switch (op.kind) {
    case OpKind::alloc: z.store(op.slot(), op.size()); return true;
    case OpKind::free: z.invalidate(op.slot()); return true;
    case OpKind::write:
    case OpKind::verify:
    case OpKind::compact: z.load(op.slot(), op.arg); return true;
    case OpKind::reclaim: z.reclaim(op.arg); return true;
    case OpKind::migrate: z.migrate(op.arg); return true;
    default: return false;
    }
}

void run_op(Harness& h, const Op& op) {
    if (h.zswap && run_zswap_op(h, op)) return;
    TargetPool& pool = *h.pool;
    SlotState& st = h.slots[op.slot()];
    switch (op.kind) {
    case OpKind::alloc: {
        if (!claim(st, S::empty)) return;
        AllocResult r = pool.alloc(op.size(), Gfp{});
        sync::hb_publish(&st);  // the new object is handed on through the slot, as a user's would be
        uint32_t gen = view(st).gen;
        settle(st, r.err == Errno::ok ? SlotState{S::live, r.handle, op.size(), gen + 1, false}
                                      : SlotState{S::empty, 0, 0, gen, false});
        return;
    }
    case OpKind::free: {
        if (!claim(st, S::live)) return;
        SlotState v = view(st);
        sync::hb_consume(&st);  // a user frees an object after its last use, in order
        pool.free(v.handle);
        settle(st, SlotState{S::empty, 0, 0, v.gen, false});
        return;
    }
    case OpKind::write: {
        if (!claim(st, S::live)) return;
        SlotState v = view(st);
        sync::hb_consume(&st);  // the object was handed to us through the slot
        auto* p = static_cast<uint8_t*>(pool.map_for(v.handle, TargetPool::MapMode::wo));
        // A mapped object is used for a while (zswap copies it): others may run.
        sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(op.slot())});
        write_pattern(p, op.slot(), v.gen, v.size);
        pool.unmap(v.handle);
        v.state = S::live;
        v.written = true;
        sync::hb_publish(&st);  // and is handed on the same way
        settle(st, v);
        return;
    }
    case OpKind::verify: {
        SlotState v = view(st);
        if (!v.written || !claim(st, S::live)) return;
        sync::hb_consume(&st);
        auto* p = static_cast<const uint8_t*>(pool.map_for(v.handle, TargetPool::MapMode::ro));
        sync::op_boundary(sync::Event::object_access, {sync::ObjClass::harness, static_cast<uint32_t>(op.slot())});
        size_t bad = v.size;
        for (size_t i = 0; i < v.size; i++) {
            if (p[i] != pattern_byte(op.slot(), v.gen, i)) {
                bad = i;
                break;
            }
        }
        pool.unmap(v.handle);
        v.state = S::live;
        sync::hb_publish(&st);  // handed on: the next writer comes after this read
        settle(st, v);
        if (bad != v.size) {
            Hidden hidden;
            record_finding(h,
                           {finding_name(FindingId::object_contents), 0,
                            fmt::format("verify: slot {} byte {} of {} differs through map()", op.slot(), bad, v.size)});
        }
        return;
    }
    case OpKind::reclaim: (void)pool.reclaim_page(1u + (op.arg & 7u)); return;
    case OpKind::compact: {
        if (!claim(st, S::live)) return;
        SlotState v = view(st);
        pool.compact_handle_page(v.handle);
        v.state = S::live;
        settle(st, v);
        return;
    }
    case OpKind::migrate: {
        if (!claim(st, S::live)) return;
        SlotState v = view(st);
        (void)pool.migrate_handle_page(v.handle);
        v.state = S::live;
        settle(st, v);
        return;
    }
    case OpKind::set_vcpu: sync::set_current_vcpu(op.arg % pool.vcpus()); return;
    case OpKind::yield: sync::cond_resched(); return;
    case OpKind::fail_alloc: pool.fail_nth((op.arg & 0x80) != 0, 1 + (op.arg & 31)); return;
    case OpKind::destroy: return;  // thread_body runs it
    case OpKind::count: return;
    }
}


// The pool's end of life from a program thread: once every other thread is
// done, free what is live and destroy the pool here, while compaction or
// release work may still be queued or running (z3fold_destroy_pool's own
// ordering is under test). Then nothing may be left.
void destroy_pool(Harness& h) {
    for (;;) {
        {
            Hidden hidden;
            if (h.threads_done >= h.prog->threads - 1) break;
        }
        sync::cond_resched();
    }
    sync::hb_consume(&h.threads_done);  // as a join: their work happened before the destroy
    TargetPool& pool = *h.pool;
    if (h.zswap) h.zswap->invalidate_all();
    for (SlotState& st : h.slots) {
        if (!claim(st, S::live)) continue;
        SlotState v = view(st);
        sync::hb_consume(&st);  // a user frees an object after its last use, in order
        pool.free(v.handle);
        settle(st, SlotState{S::empty, 0, 0, v.gen, false});
    }
    {
        Hidden hidden;
        h.destroying = true;
    }
    TargetCounts c = pool.destroy_now();
    Hidden hidden;
    h.after_destroy = c;
}

}  // namespace

void thread_body(void* arg) {
    auto* c = static_cast<ThreadCtx*>(arg);
    const std::vector<Op>& ops = c->h->ops[static_cast<size_t>(c->thread)];
    for (size_t i = 0; i < ops.size(); i++) {
        // Each operation starts at a scheduling point: threads interleave at
        // operation granularity too, and the trace names the operation.
        sync::op_boundary(sync::Event::op_begin,
                          {sync::ObjClass::harness, static_cast<uint32_t>(c->thread << 8 | static_cast<int>(i))});
        if (ops[i].kind == OpKind::destroy) {
            // Only as its thread's last op, and once a program.
            bool mine = false;
            {
                Hidden hidden;
                mine = i + 1 == ops.size() && !c->h->destroy_claimed;
                if (mine) c->h->destroy_claimed = true;
            }
            if (mine) destroy_pool(*c->h);
            continue;
        }
        run_op(*c->h, ops[i]);
        // Every operation returns with no lock held.
        if (sync::lock_rule_checks().held_at_return && c->h->rt->held_count() > 0) {
            sync::SrcLoc at;
            sync::ObjectId held = c->h->rt->innermost_held(&at);
            report_fatal(ErrorKind::lock_held_at_return, at,
                         fmt::format("{} returned holding {} {}", op_text(ops[i]), sync::obj_class_name(held.cls),
                                     held.serial));
        }
    }
    sync::hb_publish(&c->h->threads_done);  // a destroyer joins the threads that are done
    Hidden hidden;
    c->h->threads_done++;
}

}  // namespace z3fh::fuzz
