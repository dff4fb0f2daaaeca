// z3fold-harden: the shadow model. It knows, independently of the
// allocator, which objects are live, their sizes and contents, and so what
// the pool must look like: refcounts, list membership, accounting. Checks run
// in two tiers: safety after every scheduling step (mid-operation states are
// legal), exactness when the pool is at rest (after the final drain).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include "target/port_target.h"
#include "introspect.h"
#include "program/program.h"

namespace z3fh::fuzz {

struct SlotState {
    enum class State : uint8_t { empty, live, busy } state = State::empty;
    Handle handle = 0;
    size_t size = 0;
    uint32_t gen = 0;
    bool written = false;
};

// An object's first 8 bytes name it, as zswap's header names the swap
// entry it holds (the zswap user's writeback reads them back to find its
// entry): a tag, the slot and the generation, each byte XORed with 0xa5 so
// that zeroed or freshly filled memory never reads as a header.
inline constexpr size_t kObjectHeaderBytes = 8;
inline uint64_t object_header(int slot, uint32_t gen) {
    return 0x5a00000000000000ULL | (static_cast<uint64_t>(static_cast<unsigned>(slot) & 0xffu) << 32) | gen;
}
// What the header at `p` (8 readable bytes) names; false if it is none.
inline bool read_object_header(const volatile uint8_t* p, int* slot, uint32_t* gen) {
    uint64_t h = 0;
    for (size_t i = 0; i < kObjectHeaderBytes; i++) h |= static_cast<uint64_t>(p[i] ^ 0xa5u) << (8 * i);
    if ((h >> 56) != 0x5a || ((h >> 32) & 0xffffffu) >= static_cast<uint64_t>(kSlots)) return false;
    *slot = static_cast<int>((h >> 32) & 0xffu);
    *gen = static_cast<uint32_t>(h);
    return true;
}

// Object pattern: byte i of the object in slot s, generation g (the header
// first).
inline uint8_t pattern_byte(int slot, uint32_t gen, size_t i) {
    if (i < kObjectHeaderBytes) return static_cast<uint8_t>(((object_header(slot, gen) >> (8 * i)) & 0xffu) ^ 0xa5u);
    return static_cast<uint8_t>(static_cast<unsigned>(slot) * 31u + gen * 17u + static_cast<unsigned>(i) * 7u + 1u);
}

struct ShadowFinding {
    std::string invariant;  // the finding's name (checks/findings.def)
    uint32_t page = 0;
    std::string message;
    std::string site = {};  // a leak's allocation site (its signature), "" otherwise
};

// The leak finding for what `left` lists (non-empty), signed by the first
// entry's site; `when` says at which point they were still allocated.
ShadowFinding leak_finding(const std::vector<Leftover>& left, const char* when);

class Shadow {
public:
    Shadow(TargetPool& target, SlotState (&slots)[kSlots]) : target_(target), slots_(slots) {}
    // Over a port pool someone else owns (tests).
    Shadow(Pool& pool, SlotState (&slots)[kSlots])
        : owned_(std::make_unique<PortTarget>(pool)), target_(*owned_), slots_(slots) {}

    // Safety tier: structural validity, every idle handle resolves to a live
    // page with its pattern intact, refcounts cover the objects.
    std::vector<ShadowFinding> check_step();
    // The same after a step that can have changed only what `scope` names:
    // the structure of those pages (the whole of it if that cannot decide),
    // then every idle handle as in check_step.
    std::vector<ShadowFinding> check_step(const StepScope& scope);
    // Exactness tier, with the pool at rest.
    std::vector<ShadowFinding> check_at_rest();
    // After the harness freed every object and drained: nothing left.
    std::vector<ShadowFinding> check_teardown();

    // Full comparison of one object with its pattern.
    bool contents_ok(int slot, bool full);

private:
    // contents_ok for an object already resolved; `full` false: the first
    // and last 8 bytes only.
    bool contents_ok(int slot, const ResolvedHandle& r, bool full) const;
    std::vector<ShadowFinding> check_handles();
    // Every live slot, resolved through the pool's handles (without locks:
    // the checks run while no thread does).
    struct Resolved {
        int slot;
        const SlotState& st;
        bool ok;  // the handle names a live page
        ResolvedHandle r;
    };
    template <typename F>
    void for_each_live(F f) {
        for (int s = 0; s < kSlots; s++) {
            const SlotState& st = slots_[s];
            if (st.state != SlotState::State::live) continue;
            ResolvedHandle r;
            bool ok = target_.resolve(st.handle, &r);
            f(Resolved{s, st, ok, r});
        }
    }

    std::unique_ptr<TargetPool> owned_;
    TargetPool& target_;
    SlotState (&slots_)[kSlots];
};

// map-address: a mapping of an object points where its handle says (the
// introspection layer's decoding, LAST's size from the handle). Checked
// where the evict callback maps, while the mapping holds the object still;
// the user's own maps are checked through the contents they read. A handle
// that no longer resolves says nothing. `named` (if given) gets what the
// handle resolved to, for the report.
bool mapping_matches_handle(TargetPool& target, Handle handle, const void* mapped, ResolvedHandle* named = nullptr);
// The same as the evict callbacks use it: false, with the map-address
// finding in *f, when `mapped` is not where the handle says.
bool check_evict_mapping(TargetPool& target, Handle handle, const volatile uint8_t* mapped, ShadowFinding* f);

}  // namespace z3fh::fuzz
