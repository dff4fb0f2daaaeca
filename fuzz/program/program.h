// z3fold-harden: a fuzz input is a small multithreaded program against the
// pool plus the bytes that choose its interleaving.
//
// Binary format (version 1), little-endian:
//   "Z3FP" magic, u8 version, u16 program_len, u16 schedule_len   (9 bytes)
//   program bytes: u8 threads, u8 vcpus (bits 1-2: the user), u8 evict policy, then 3 bytes an op
//                  (thread, opcode, argument)
//   schedule bytes: (delay, target) pairs for the input strategy
// Version 2 is version 1 with one more byte before the schedule bytes (and
// counted in schedule_len): the schedule kind. Kind 0 is the pairs above;
// kind 1 is a PCT schedule: bytes are depth, then a 32-bit seed, so one
// input names a whole randomized interleaving that replays exactly; kind 2
// is the random-walk strategy with the same seed bytes. Pair
// schedules are always written as version 1.
// After the header, decoding is total: any bytes give a valid program (the
// fuzz target clamps lengths); the tools insist the lengths match the file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace z3fh::fuzz {

inline constexpr uint8_t kMagic[4] = {'Z', '3', 'F', 'P'};
inline constexpr uint8_t kFormatVersion = 1;     // pair schedules
inline constexpr uint8_t kFormatVersionKind = 2; // with a schedule-kind byte
inline constexpr size_t kHeaderSize = 9;
inline constexpr int kMaxThreads = 4;
inline constexpr int kSlots = 8;        // shared handle slots
inline constexpr size_t kMaxOps = 96;   // per program

enum class OpKind : uint8_t {
    alloc,      // arg: slot (3 bits) | size class (5 bits)
    free,       // arg: slot
    write,      // map, write the slot's pattern, unmap
    verify,     // map, compare with the pattern, unmap
    reclaim,    // arg: retries - 1 (3 bits)
    compact,    // queue compaction of the slot's page
    migrate,    // isolate + migrate the slot's page
    set_vcpu,   // arg: vCPU
    yield,
    fail_alloc, // arg: bit 7: 0 a page, 1 a slots object; bits 0-4: fail the (n+1)th such allocation from here
    destroy,    // as its thread's last op: once the other threads are done, free what is live and
                // destroy the pool from this thread (background work may still be queued or running)
    count
};
const char* op_name(OpKind k);

struct Op {
    OpKind kind;
    uint8_t thread;
    uint8_t arg;
    int slot() const { return arg & (kSlots - 1); }
    size_t size() const;  // alloc only
    bool operator==(const Op&) const = default;
};

// What the evict callback does, per call, cycling: free the handle given;
// fail; free another object then the given one; free another and fail.
enum class EvictAction : uint8_t { free_given, fail, free_other_then_given, free_other_and_fail };
const char* evict_action_name(EvictAction a);
// The same two bits for the zswap user: the swap-cache outcome its
// writeback meets (zswap_writeback_entry): the page written back, at once or
// after a sleep in the I/O; -EEXIST (the page is in the swap cache, a load
// has it); -ENOMEM.
const char* zswap_writeback_name(EvictAction a);
enum class ZswapWriteback : uint8_t { written_back, eexist, written_back_after_io, enomem };
// The same two bits, named as the zswap user reads them.
inline ZswapWriteback zswap_writeback(EvictAction a) { return static_cast<ZswapWriteback>(a); }

// Who uses the pool: the broad zpool user (every operation, any evict
// behaviour, GFP_KERNEL), or a model of Linux 6.1's zswap
// (fuzz/harness/zswap_user.h). Bit 1 of the program's vCPU byte.
enum class UserKind : uint8_t { zpool = 0, zswap = 1, zram = 2 };
const char* user_kind_name(UserKind u);
// The campaign's --user: "zpool", "zswap" or "zram" pin every input's user ("any"
// or "" leaves inputs as they are); false for an unknown name.
bool parse_user_kind(const std::string& name, UserKind* out, bool* any);

enum class ScheduleKind : uint8_t { pairs = 0, pct = 1, random = 2 };
inline constexpr int kScheduleKinds = 3;
const char* schedule_kind_name(ScheduleKind k);


// PCT parameters from the schedule bytes of a ScheduleKind::pct program.
struct PctParams {
    int depth;       // 1 + number of priority change points
    uint64_t seed;
    uint64_t steps;  // expected decisions, where change points fall
};

struct Program {
    int threads = 1;
    int vcpus = 1;
    uint8_t evict_policy = 0;
    UserKind user = UserKind::zpool;
    std::vector<Op> ops;             // in program order; each names its thread
    std::vector<uint8_t> schedule;   // input-strategy bytes (pairs), or PCT parameters
    ScheduleKind schedule_kind = ScheduleKind::pairs;

    PctParams pct_params() const;

    EvictAction evict_action(unsigned call) const {
        return static_cast<EvictAction>((evict_policy >> (2 * (call % 4))) & 3);
    }
    std::vector<Op> thread_ops(int t) const;
    bool operator==(const Program&) const = default;
};

// Readable spellings of schedule bytes, for exported tests. A pair
// schedule is a list of preemptions: keep the running thread for `after`
// more scheduling decisions, then switch to runnable thread #`to` (modulo
// how many are runnable then).
struct Preempt {
    uint8_t after;
    uint8_t to;
};
std::vector<uint8_t> preemptions(const std::vector<Preempt>& steps);
// A PCT or random-walk schedule: the depth byte (depth = 1 + byte % 3) and
// the 32-bit seed.
std::vector<uint8_t> seeded_schedule(uint8_t depth_byte, uint32_t seed);

// The campaign's --strategy: "pct" or "random" make every input's schedule
// bytes that kind's parameters ("input" or "" leaves inputs as they are);
// false for an unknown name.
bool force_schedule_kind(Program& p, const std::string& strategy);

// The size classes alloc draws from: every buddy class boundary, the
// headless boundary, and the error sizes (0 = -EINVAL, > PAGE_SIZE = -ENOSPC).
const std::vector<size_t>& size_classes();

enum class DecodeError { ok, not_ours, truncated, length_mismatch, bad_version };
const char* decode_error_name(DecodeError e);

// Strict: header, version and lengths must match exactly (tools).
DecodeError decode_strict(const uint8_t* data, size_t size, Program* out, std::string* why);
// Total after a valid magic (fuzz target): lengths are clamped to the data.
bool decode_lenient(const uint8_t* data, size_t size, Program* out);
std::vector<uint8_t> encode(const Program& p);

// Readable form: one line an op, grouped by thread.
std::string op_text(const Op& op);
std::string to_text(const Program& p);

}  // namespace z3fh::fuzz
