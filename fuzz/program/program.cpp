// z3fold-harden: program encoding, decoding and text form.
#include "program/program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "layout.h"

namespace z3fh::fuzz {

const char* op_name(OpKind k) {
    switch (k) {
    case OpKind::alloc: return "alloc";
    case OpKind::free: return "free";
    case OpKind::write: return "write";
    case OpKind::verify: return "verify";
    case OpKind::reclaim: return "reclaim";
    case OpKind::compact: return "compact";
    case OpKind::migrate: return "migrate";
    case OpKind::set_vcpu: return "set_vcpu";
    case OpKind::yield: return "yield";
    case OpKind::fail_alloc: return "fail_alloc";
    case OpKind::destroy: return "destroy";
    case OpKind::count: break;
    }
    return "?";
}

const char* evict_action_name(EvictAction a) {
    switch (a) {
    case EvictAction::free_given: return "free-given";
    case EvictAction::fail: return "fail";
    case EvictAction::free_other_then_given: return "free-other-then-given";
    case EvictAction::free_other_and_fail: return "free-other-and-fail";
    }
    return "?";
}

const char* zswap_writeback_name(EvictAction a) {
    switch (a) {
    case EvictAction::free_given: return "written-back";
    case EvictAction::fail: return "eexist";
    case EvictAction::free_other_then_given: return "written-back-after-io";
    case EvictAction::free_other_and_fail: return "enomem";
    }
    return "?";
}

const std::vector<size_t>& size_classes() {
    static const std::vector<size_t> classes = {
        1, 8, 64, 65, 100, 128, 200, 256, 320, 448, 512, 640, 900, 1024, 1280, 1500,
        1984, 2048, 2500, 3000, 3500, MAX_BUDDY_SIZE - 64, MAX_BUDDY_SIZE, MAX_BUDDY_SIZE + 1,
        3950, 4000, PAGE_SIZE - 1, PAGE_SIZE, 64 * 31, 64 * 20, 0, PAGE_SIZE + 1};
    return classes;
}

size_t Op::size() const { return size_classes()[(arg >> 3) % size_classes().size()]; }

std::vector<Op> Program::thread_ops(int t) const {
    std::vector<Op> out;
    for (const Op& op : ops)
        if (op.thread == t) out.push_back(op);
    return out;
}

const char* decode_error_name(DecodeError e) {
    switch (e) {
    case DecodeError::ok: return "ok";
    case DecodeError::not_ours: return "not a z3fold-harden program (bad magic)";
    case DecodeError::truncated: return "truncated";
    case DecodeError::length_mismatch: return "length fields do not match the data";
    case DecodeError::bad_version: return "unsupported format version";
    }
    return "?";
}

namespace {
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void decode_body(const uint8_t* prog, size_t plen, const uint8_t* sched, size_t slen, bool has_kind,
                 Program* out) {
    *out = Program{};
    if (plen >= 1) out->threads = 1 + prog[0] % kMaxThreads;
    if (plen >= 2) out->vcpus = 1 + prog[1] % 2;
    // Bits 1-2: 0 the broad zpool user, 1 zswap, 2 and 3 zram (zsmalloc's
    // user; a program's zram runs as the zpool user on other allocators).
    if (plen >= 2) out->user = static_cast<UserKind>(std::min((prog[1] >> 1) & 3, 2));
    if (plen >= 3) out->evict_policy = prog[2];
    if (plen > 3) out->ops.reserve(std::min<size_t>(kMaxOps, (plen - 3) / 3));
    for (size_t i = 3; i + 3 <= plen && out->ops.size() < kMaxOps; i += 3) {
        Op op;
        op.thread = static_cast<uint8_t>(prog[i] % out->threads);
        op.kind = static_cast<OpKind>(prog[i + 1] % static_cast<uint8_t>(OpKind::count));
        op.arg = prog[i + 2];
        out->ops.push_back(op);
    }
    if (has_kind && slen >= 1) {
        out->schedule_kind = static_cast<ScheduleKind>(sched[0] % kScheduleKinds);
        sched++;
        slen--;
    }
    out->schedule.assign(sched, sched + slen);
}
}  // namespace

const char* user_kind_name(UserKind u) {
    return u == UserKind::zswap ? "zswap" : u == UserKind::zram ? "zram" : "zpool";
}

bool parse_user_kind(const std::string& name, UserKind* out, bool* any) {
    *any = name.empty() || name == "any";
    if (name == "zswap") *out = UserKind::zswap;
    else if (name == "zpool") *out = UserKind::zpool;
    else if (name == "zram") *out = UserKind::zram;
    else return *any;
    return true;
}

const char* schedule_kind_name(ScheduleKind k) {
    switch (k) {
    case ScheduleKind::pairs: return "input";
    case ScheduleKind::pct: return "pct";
    case ScheduleKind::random: return "random";
    }
    return "?";
}

bool force_schedule_kind(Program& p, const std::string& strategy) {
    if (strategy.empty() || strategy == "input") return true;
    if (strategy == "pct") p.schedule_kind = ScheduleKind::pct;
    else if (strategy == "random") p.schedule_kind = ScheduleKind::random;
    else return false;
    return true;
}

std::vector<uint8_t> preemptions(const std::vector<Preempt>& steps) {
    std::vector<uint8_t> out;
    for (const Preempt& s : steps) {
        out.push_back(s.after);
        out.push_back(s.to);
    }
    return out;
}

std::vector<uint8_t> seeded_schedule(uint8_t depth_byte, uint32_t seed) {
    return {depth_byte, static_cast<uint8_t>(seed), static_cast<uint8_t>(seed >> 8), static_cast<uint8_t>(seed >> 16),
            static_cast<uint8_t>(seed >> 24)};
}

PctParams Program::pct_params() const {
    PctParams pp{1, 0, 0};
    if (!schedule.empty()) pp.depth = 1 + schedule[0] % 3;
    for (size_t i = 1; i < 5 && i < schedule.size(); i++) pp.seed |= static_cast<uint64_t>(schedule[i]) << (8 * (i - 1));
    // About 24 decisions an operation: change points fall inside the run.
    pp.steps = 24 * std::max<uint64_t>(ops.size(), 1);
    return pp;
}

DecodeError decode_strict(const uint8_t* data, size_t size, Program* out, std::string* why) {
    if (size < 4 || std::memcmp(data, kMagic, 4) != 0) {
        *why = size < 4 ? "the file is shorter than the 4-byte magic" : "its first 4 bytes are not \"Z3FP\"";
        return size < 4 ? DecodeError::truncated : DecodeError::not_ours;
    }
    if (size < kHeaderSize) {
        *why = fmt::format("header cut at byte {} of {}", size, kHeaderSize);
        return DecodeError::truncated;
    }
    if (data[4] != kFormatVersion && data[4] != kFormatVersionKind) {
        *why = fmt::format("format version {} (this build reads {} and {})", data[4], kFormatVersion,
                           kFormatVersionKind);
        return DecodeError::bad_version;
    }
    size_t plen = get16(data + 5), slen = get16(data + 7);
    if (kHeaderSize + plen + slen != size) {
        *why = fmt::format("header says {} program + {} schedule bytes, file has {} after the header", plen, slen,
                           size - kHeaderSize);
        return size < kHeaderSize + plen + slen ? DecodeError::truncated : DecodeError::length_mismatch;
    }
    decode_body(data + kHeaderSize, plen, data + kHeaderSize + plen, slen, data[4] == kFormatVersionKind, out);
    return DecodeError::ok;
}

bool decode_lenient(const uint8_t* data, size_t size, Program* out) {
    if (size < 4 || std::memcmp(data, kMagic, 4) != 0) return false;
    size_t avail = size > kHeaderSize ? size - kHeaderSize : 0;
    size_t plen = size >= 7 ? get16(data + 5) : 0, slen = size >= 9 ? get16(data + 7) : 0;
    plen = std::min(plen, avail);
    slen = std::min(slen, avail - plen);
    decode_body(data + std::min(size, kHeaderSize), plen, data + std::min(size, kHeaderSize) + plen, slen,
                size > 4 && data[4] == kFormatVersionKind, out);
    return true;
}

std::vector<uint8_t> encode(const Program& p) {
    std::vector<uint8_t> prog;
    prog.push_back(static_cast<uint8_t>(p.threads - 1));
    prog.push_back(static_cast<uint8_t>((p.vcpus - 1) | (static_cast<int>(p.user) << 1)));
    prog.push_back(p.evict_policy);
    for (const Op& op : p.ops) {
        prog.push_back(op.thread);
        prog.push_back(static_cast<uint8_t>(op.kind));
        prog.push_back(op.arg);
    }
    std::vector<uint8_t> sched;
    if (p.schedule_kind != ScheduleKind::pairs) sched.push_back(static_cast<uint8_t>(p.schedule_kind));
    sched.insert(sched.end(), p.schedule.begin(), p.schedule.end());
    std::vector<uint8_t> out(kMagic, kMagic + 4);
    out.push_back(p.schedule_kind == ScheduleKind::pairs ? kFormatVersion : kFormatVersionKind);
    size_t slen = std::min<size_t>(sched.size(), 0xffff);
    size_t plen = std::min<size_t>(prog.size(), 0xffff);
    out.push_back(static_cast<uint8_t>(plen));
    out.push_back(static_cast<uint8_t>(plen >> 8));
    out.push_back(static_cast<uint8_t>(slen));
    out.push_back(static_cast<uint8_t>(slen >> 8));
    out.insert(out.end(), prog.begin(), prog.begin() + static_cast<long>(plen));
    out.insert(out.end(), sched.begin(), sched.begin() + static_cast<long>(slen));
    return out;
}

namespace {
std::string ordinal(int n) {
    const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
    return std::to_string(n) + suffix;
}
}  // namespace

std::string op_text(const Op& op) {
    switch (op.kind) {
    case OpKind::alloc: return fmt::format("alloc  slot {} size {}", op.slot(), op.size());
    case OpKind::reclaim: return fmt::format("reclaim retries {}", 1 + (op.arg & 7));
    case OpKind::set_vcpu: return fmt::format("set_vcpu {}", op.arg);
    case OpKind::yield: return "yield";
    case OpKind::fail_alloc:
        return fmt::format("fail_alloc the {} {} allocation from here", ordinal(1 + (op.arg & 31)),
                           op.arg & 0x80 ? "slots-object" : "page");
    case OpKind::destroy: return "destroy the pool (last op of its thread: once the others are done)";
    default: return fmt::format("{:<6} slot {}", op_name(op.kind), op.slot());
    }
}

std::string to_text(const Program& p) {
    std::string out = fmt::format("program: {} thread(s), {} vCPU(s), user {}, evict policy", p.threads, p.vcpus,
                                  user_kind_name(p.user));
    for (unsigned c = 0; c < 4; c++)
        out += fmt::format(" {}", p.user == UserKind::zswap ? zswap_writeback_name(p.evict_action(c))
                                                            : evict_action_name(p.evict_action(c)));
    out += "\n";
    for (int t = 0; t < p.threads; t++) {
        out += fmt::format("  thread T{}:\n", t);
        int i = 0;
        for (const Op& op : p.thread_ops(t)) out += fmt::format("    {:>2}. {}\n", i++, op_text(op));
    }
    if (p.schedule_kind != ScheduleKind::pairs) {
        PctParams pp = p.pct_params();
        if (p.schedule_kind == ScheduleKind::pct)
            out += fmt::format("  schedule: PCT, {} priority change point(s) over ~{} steps, seed {:#x}\n",
                               pp.depth - 1, pp.steps, pp.seed);
        else
            out += fmt::format("  schedule: random walk (switch one step in 4), seed {:#x}\n", pp.seed);
        return out;
    }
    out += fmt::format("  schedule: {} byte(s)", p.schedule.size());
    for (size_t i = 0; i + 1 < p.schedule.size(); i += 2)
        out += fmt::format("{}(run {} then switch to #{})", i == 0 ? " " : ", ", p.schedule[i], p.schedule[i + 1]);
    out += "\n";
    return out;
}

}  // namespace z3fh::fuzz
