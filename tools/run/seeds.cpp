// z3fold-harden: z3fh-run's generated programs: the seed corpus, programs of a given size, fault injection.
#include <fmt/format.h>

#include <random>
#include <string>
#include <vector>

#include "mutate/mutator.h"
#include "run/driver.h"

namespace z3fh::run {

using fuzz::Op;
using fuzz::OpKind;
using fuzz::Program;
using fuzz::ScheduleKind;

Program fault_injection_program(bool slots) {
    Program p;
    p.threads = 1;
    p.vcpus = 1;
    p.ops = {{OpKind::fail_alloc, 0, static_cast<uint8_t>(slots ? 0x80 : 0x00)},
             {OpKind::alloc, 0, static_cast<uint8_t>((4 << 3) | 0)},
             {OpKind::alloc, 0, static_cast<uint8_t>((4 << 3) | 1)},
             {OpKind::write, 0, 1},
             {OpKind::verify, 0, 1}};
    return p;
}

std::vector<Program> seed_programs(int count) {
    std::vector<Program> out;
    // Hand-shaped seeds first: each exercises one path the review cares about.
    auto mk = [](int threads, std::vector<Op> ops, std::vector<uint8_t> sched, uint8_t evict = 0) {
        Program p;
        p.threads = threads;
        p.vcpus = 1;
        p.evict_policy = evict;
        p.ops = std::move(ops);
        p.schedule = std::move(sched);
        return p;
    };
    auto a = [](int t, int slot, int size_class) {
        return Op{OpKind::alloc, static_cast<uint8_t>(t), static_cast<uint8_t>((size_class << 3) | slot)};
    };
    auto o = [](OpKind k, int t, int arg) { return Op{k, static_cast<uint8_t>(t), static_cast<uint8_t>(arg)}; };
    // Fill a page, free in order, with writes and verifies.
    out.push_back(mk(1, {a(0, 0, 4), o(OpKind::write, 0, 0), a(0, 1, 6), o(OpKind::write, 0, 1), a(0, 2, 9),
                         o(OpKind::write, 0, 2), o(OpKind::free, 0, 1), o(OpKind::verify, 0, 0), o(OpKind::free, 0, 0),
                         o(OpKind::verify, 0, 2), o(OpKind::free, 0, 2)},
                     {}));
    // Reclaim racing free on two threads.
    out.push_back(mk(2, {a(0, 0, 4), a(0, 1, 4), o(OpKind::write, 0, 0), o(OpKind::reclaim, 1, 2),
                         o(OpKind::free, 0, 1), o(OpKind::free, 0, 0)},
                     {2, 1, 3, 0}));
    // Reclaim with every evict behaviour, headless pages included.
    out.push_back(mk(2, {a(0, 0, 27), a(0, 1, 3), a(0, 2, 5), o(OpKind::reclaim, 1, 7), o(OpKind::free, 0, 0),
                         o(OpKind::reclaim, 1, 7), o(OpKind::free, 0, 2)},
                     {4, 1}, 0xe4));
    // Compaction and migration next to frees.
    out.push_back(mk(2, {a(0, 0, 11), a(0, 1, 11), a(0, 2, 11), o(OpKind::write, 0, 2), o(OpKind::free, 0, 0),
                         o(OpKind::compact, 1, 2), o(OpKind::migrate, 1, 2), o(OpKind::free, 0, 1),
                         o(OpKind::verify, 1, 2)},
                     {3, 1, 1, 0}));
    // Two vCPUs, alloc on both, cross frees.
    Program v = mk(2, {o(OpKind::set_vcpu, 1, 1), a(0, 0, 8), a(1, 1, 8), a(0, 2, 4), o(OpKind::free, 1, 0),
                       o(OpKind::free, 0, 1), a(1, 3, 4)},
                   {1, 1});
    v.vcpus = 2;
    out.push_back(v);
    // Three-thread shapes: one page's objects used from three threads at once
    // (map beside reclaim and compaction; migration beside map and free;
    // headless reclaim beside free; compaction beside map on two vCPUs;
    // isolation beside compaction), each with a few interleavings drawn at
    // random. Generic shapes, not aimed at any one mutant: the fuzzer starts
    // from many threads touching one page instead of having to build that.
    std::mt19937 srng(1729);
    auto variants = [&](Program base, int n) {
        for (int i = 0; i < n; i++) {
            Program q = base;
            // First let T0 run its set-up (allocations are tens of decisions
            // each) for a varying while, then a few random switches.
            q.schedule = {static_cast<uint8_t>(40 + 25 * i), 0};
            int pairs = 1 + static_cast<int>(srng() % 3);
            for (int k = 0; k < pairs; k++) {
                q.schedule.push_back(static_cast<uint8_t>(srng() % 48));
                q.schedule.push_back(static_cast<uint8_t>(srng() % 3));
            }
            out.push_back(q);
        }
        for (int i = 0; i < n / 2; i++) {  // and PCT interleavings of the same program
            Program q = base;
            q.schedule_kind = ScheduleKind::pct;
            q.schedule = {static_cast<uint8_t>(1 + i % 2)};
            for (int k = 0; k < 4; k++) q.schedule.push_back(static_cast<uint8_t>(srng()));
            out.push_back(q);
        }
    };
    constexpr uint8_t kEvictFail = 0x55;  // every evict call fails (EvictAction::fail)
    variants(mk(3, {a(0, 0, 11), a(0, 1, 11), a(0, 2, 11), o(OpKind::write, 0, 2), o(OpKind::verify, 1, 2),
                    o(OpKind::verify, 1, 2), o(OpKind::reclaim, 2, 0), o(OpKind::free, 2, 0), o(OpKind::free, 2, 1)},
                {}, kEvictFail),
             8);
    variants(mk(3, {a(0, 0, 11), a(0, 1, 11), a(0, 2, 11), o(OpKind::write, 0, 1), o(OpKind::migrate, 1, 0),
                    o(OpKind::migrate, 1, 2), o(OpKind::write, 2, 1), o(OpKind::free, 2, 2), a(2, 3, 11),
                    o(OpKind::verify, 2, 1)},
                {}),
             8);
    variants(mk(3, {a(0, 0, 27), o(OpKind::write, 0, 0), a(0, 1, 4), o(OpKind::reclaim, 1, 3),
                    o(OpKind::reclaim, 1, 3), o(OpKind::free, 2, 0), o(OpKind::free, 2, 1)},
                {}, kEvictFail),
             8);
    {
        Program d = mk(3, {a(0, 0, 11), a(0, 1, 11), a(0, 2, 11), o(OpKind::write, 0, 2), o(OpKind::write, 0, 1),
                           o(OpKind::free, 1, 0), o(OpKind::compact, 1, 1), o(OpKind::write, 2, 2),
                           o(OpKind::verify, 2, 2), o(OpKind::verify, 2, 1)},
                       {});
        d.vcpus = 2;
        variants(d, 8);
    }
    variants(mk(3, {a(0, 0, 4), a(0, 1, 4), a(0, 2, 16), o(OpKind::migrate, 1, 1), o(OpKind::migrate, 1, 1),
                    o(OpKind::free, 2, 0), o(OpKind::compact, 2, 1), o(OpKind::free, 2, 2)},
                {}),
             8);
    // Migration beside single-buddy compaction: a full page loses one of its
    // two objects while the other is being migrated.
    variants(mk(3, {a(0, 0, 16), a(0, 1, 16), a(0, 2, 4), o(OpKind::migrate, 1, 1), o(OpKind::write, 1, 1),
                    o(OpKind::free, 2, 0), a(2, 3, 16), o(OpKind::verify, 2, 2)},
                {}),
             8);
    // zswap as the user (fuzz/harness/zswap_user.h): stores, loads and
    // invalidations beside its one shrink worker, every writeback outcome in
    // turn; loads overlapping writeback of one page's objects; duplicate
    // stores beside a load.
    auto zswap = [](Program p) {
        p.user = fuzz::UserKind::zswap;
        return p;
    };
    variants(zswap(mk(3, {a(0, 0, 11), a(0, 1, 11), a(0, 2, 11), o(OpKind::reclaim, 1, 0), o(OpKind::verify, 1, 1),
                          o(OpKind::free, 2, 0), o(OpKind::verify, 2, 2), o(OpKind::reclaim, 2, 0)},
                      {}, 0xe4)),
             4);
    variants(zswap(mk(3, {a(0, 0, 4), a(0, 1, 4), a(0, 2, 27), o(OpKind::verify, 1, 1), o(OpKind::verify, 1, 2),
                          o(OpKind::reclaim, 2, 0), o(OpKind::free, 2, 1), o(OpKind::free, 2, 2)},
                      {}, 0x11)),
             4);
    variants(zswap(mk(3, {a(0, 0, 16), a(0, 1, 16), o(OpKind::verify, 1, 0), o(OpKind::migrate, 1, 1),
                          a(2, 0, 8), o(OpKind::reclaim, 2, 0), o(OpKind::free, 2, 1)},
                      {}, 0xb1)),
             4);
    std::mt19937 rng(20170104);  // the review's date
    while (static_cast<int>(out.size()) < count) {
        Program p = fuzz::random_program(rng);
        for (int i = 0; i < 3; i++) fuzz::mutate_program(p, rng, nullptr);
        out.push_back(p);
    }
    out.resize(static_cast<size_t>(count));
    return out;
}

int cmd_seeds(const std::string& dir, int count, bool empty) {
    std::error_code mkdir_error;
    std::filesystem::create_directories(dir, mkdir_error);
    int i = 0;
    // --empty: one program with no operations, the start of a campaign with
    // no corpus for an engine that needs at least one input (AFL++).
    for (const Program& p : empty ? std::vector<Program>(1) : seed_programs(count)) {
        std::string path = empty ? dir + "/empty.z3fp" : fmt::format("{}/seed-{:03d}.z3fp", dir, i);
        i++;
        if (!write_program(path, p)) return 2;
    }
    std::printf("wrote %d seeds to %s\n", i, dir.c_str());
    return 0;
}

int cmd_sized_programs(const std::string& dir, int count, int ops) {
    std::error_code mkdir_error;
    std::filesystem::create_directories(dir, mkdir_error);
    std::mt19937 rng(20170104u + static_cast<unsigned>(ops));
    for (int i = 0; i < count; i++) {
        Program p = fuzz::random_program_of_size(rng, static_cast<size_t>(ops));
        if (!write_program(fmt::format("{}/sized-{:03d}-{:04d}.z3fp", dir, ops, i), p)) return 2;
    }
    std::printf("wrote %d programs of %d operations to %s\n", count, ops, dir.c_str());
    return 0;
}

}  // namespace z3fh::run
