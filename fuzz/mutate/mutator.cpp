// z3fold-harden: structure-aware mutation of programs.
#include "mutate/mutator.h"

#include <algorithm>
#include <cstring>

namespace z3fh::fuzz {

namespace {

Op random_op(std::mt19937& rng, int threads) {
    Op op;
    op.thread = static_cast<uint8_t>(rng() % static_cast<unsigned>(threads));
    // Weighted: allocation and free dominate, as in real use.
    static const OpKind weights[] = {OpKind::alloc,   OpKind::alloc,   OpKind::alloc,  OpKind::free,
                                     OpKind::free,    OpKind::write,   OpKind::write,  OpKind::verify,
                                     OpKind::reclaim, OpKind::reclaim, OpKind::compact, OpKind::migrate,
                                     OpKind::set_vcpu, OpKind::yield,   OpKind::fail_alloc, OpKind::destroy};
    op.kind = weights[rng() % (sizeof weights / sizeof weights[0])];
    op.arg = static_cast<uint8_t>(rng());
    // Fault injection counts allocations from here: the next few are the ones
    // a short program makes.
    if (op.kind == OpKind::fail_alloc) op.arg = static_cast<uint8_t>((op.arg & 0x80) | (op.arg % 4));
    return op;
}

}  // namespace

Program random_program(std::mt19937& rng) {
    Program p;
    p.threads = 1 + static_cast<int>(rng() % kMaxThreads);
    p.vcpus = 1 + static_cast<int>(rng() % 2);
    p.evict_policy = static_cast<uint8_t>(rng());
    p.user = rng() % 2 ? UserKind::zswap : UserKind::zpool;
    if (rng() % 4 == 0) p.user = UserKind::zram;  // zsmalloc's user (the zpool user elsewhere)
    size_t n = 4 + rng() % 20;
    for (size_t i = 0; i < n; i++) p.ops.push_back(random_op(rng, p.threads));
    if (rng() % 3 == 0) {
        p.schedule_kind = ScheduleKind::pct;
        for (int i = 0; i < 5; i++) p.schedule.push_back(static_cast<uint8_t>(rng()));
        return p;
    }
    size_t s = rng() % 8;
    for (size_t i = 0; i < s; i++) p.schedule.push_back(static_cast<uint8_t>(rng() % 32));
    return p;
}

Program random_program_of_size(std::mt19937& rng, size_t ops) {
    Program p = random_program(rng);
    p.ops.clear();
    for (size_t i = 0; i < ops; i++) p.ops.push_back(random_op(rng, p.threads));
    return p;
}

void mutate_program(Program& p, std::mt19937& rng, ByteMutator byte_mutate) {
    int rounds = 1 + static_cast<int>(rng() % 3);
    for (int r = 0; r < rounds; r++) {
        switch (rng() % 10) {
        case 0:
        case 1:  // insert an op
            if (p.ops.size() < kMaxOps)
                p.ops.insert(p.ops.begin() + static_cast<long>(rng() % (p.ops.size() + 1)), random_op(rng, p.threads));
            break;
        case 2:  // delete an op
            if (!p.ops.empty()) p.ops.erase(p.ops.begin() + static_cast<long>(rng() % p.ops.size()));
            break;
        case 3:  // change an op's argument or kind
            if (!p.ops.empty()) {
                Op& op = p.ops[rng() % p.ops.size()];
                if (rng() % 2) op.arg = static_cast<uint8_t>(op.arg ^ (1u << (rng() % 8)));
                else op.kind = random_op(rng, p.threads).kind;
            }
            break;
        case 4:  // move an op to another thread
            if (!p.ops.empty()) p.ops[rng() % p.ops.size()].thread = static_cast<uint8_t>(rng() % p.threads);
            break;
        case 5:  // change the thread count
            p.threads = 1 + static_cast<int>(rng() % kMaxThreads);
            for (Op& op : p.ops) op.thread = static_cast<uint8_t>(op.thread % p.threads);
            break;
        case 6:
        case 7: {  // mutate the schedule bytes
            if (rng() % 8 == 0) {
                // Switch between explicit preemptions and a PCT schedule.
                p.schedule.clear();
                p.schedule_kind = static_cast<ScheduleKind>(
                    (static_cast<int>(p.schedule_kind) + 1 + static_cast<int>(rng() % (kScheduleKinds - 1))) %
                    kScheduleKinds);
                if (p.schedule_kind != ScheduleKind::pairs)
                    for (int i = 0; i < 5; i++) p.schedule.push_back(static_cast<uint8_t>(rng()));
                break;
            }
            if (p.schedule_kind != ScheduleKind::pairs) {  // a new seed or depth
                p.schedule.resize(5);
                p.schedule[rng() % 5] = static_cast<uint8_t>(rng());
                break;
            }
            size_t size = p.schedule.size();
            size_t max = std::min<size_t>(size + 8, 256);
            p.schedule.resize(max);
            if (byte_mutate && size > 0) {
                size = byte_mutate(p.schedule.data(), size, max);
            } else {
                if (size + 2 <= max && (size == 0 || rng() % 2)) size += 2;
                if (size) p.schedule[rng() % size] = static_cast<uint8_t>(rng() % 48);
            }
            p.schedule.resize(std::min(size, max));
            break;
        }
        case 8:  // pool parameters, evict behaviour and the user
            if (rng() % 2) p.vcpus = 1 + static_cast<int>(rng() % 2);
            else if (rng() % 4) p.evict_policy = static_cast<uint8_t>(rng());
            else if (p.user == UserKind::zpool) p.user = rng() % 2 ? UserKind::zswap : UserKind::zram;
            else p.user = p.user == UserKind::zswap ? UserKind::zpool : UserKind::zswap;
            break;
        case 9:  // swap two ops (reorders within and across threads)
            if (p.ops.size() >= 2) std::swap(p.ops[rng() % p.ops.size()], p.ops[rng() % p.ops.size()]);
            break;
        }
    }
}

Program crossover(const Program& a, const Program& b, std::mt19937& rng) {
    Program c = a;
    size_t cut_a = a.ops.empty() ? 0 : rng() % (a.ops.size() + 1);
    size_t cut_b = b.ops.empty() ? 0 : rng() % (b.ops.size() + 1);
    c.ops.assign(a.ops.begin(), a.ops.begin() + static_cast<long>(cut_a));
    c.ops.insert(c.ops.end(), b.ops.begin() + static_cast<long>(cut_b), b.ops.end());
    if (c.ops.size() > kMaxOps) c.ops.resize(kMaxOps);
    c.threads = std::max(a.threads, b.threads);
    if (rng() % 2) {
        c.schedule = b.schedule;
        c.schedule_kind = b.schedule_kind;
    }
    return c;
}

size_t mutate_buffer(uint8_t* data, size_t size, size_t max_size, unsigned seed, ByteMutator byte_mutate) {
    std::mt19937 rng(seed);
    Program p;
    if (!decode_lenient(data, size, &p)) p = random_program(rng);
    mutate_program(p, rng, byte_mutate);
    std::vector<uint8_t> out = encode(p);
    while (out.size() > max_size && !p.ops.empty()) {
        p.ops.pop_back();
        out = encode(p);
    }
    if (out.size() > max_size) return size;
    std::memcpy(data, out.data(), out.size());
    return out.size();
}

size_t crossover_buffers(const uint8_t* a, size_t asz, const uint8_t* b, size_t bsz, uint8_t* out, size_t max_out,
                         unsigned seed) {
    std::mt19937 rng(seed);
    Program pa, pb;
    if (!decode_lenient(a, asz, &pa)) pa = random_program(rng);
    if (!decode_lenient(b, bsz, &pb)) pb = random_program(rng);
    Program c = crossover(pa, pb, rng);
    std::vector<uint8_t> enc = encode(c);
    while (enc.size() > max_out && !c.ops.empty()) {
        c.ops.pop_back();
        enc = encode(c);
    }
    if (enc.size() > max_out) return 0;
    std::memcpy(out, enc.data(), enc.size());
    return enc.size();
}

}  // namespace z3fh::fuzz
