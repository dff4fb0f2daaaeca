// z3fold-harden: the baseline a z3fold engineer would write without this
// project: N real OS threads doing random operations on one pool (shared
// objects, so one thread frees what another allocated), contents checked at
// every map, an evict callback that frees what it is given, and a leak check
// after each round. Run under ASan or TSan with the mutant build, it is what
// `z3fh score --baseline` compares the scheduler-driven harness against.
//
// Output contract (read by the z3fh tool): a finding of its own prints
//   BASELINE FINDING: <kind>: <detail>
// for a person, then one JSON line for the tool
//   ==baseline== FINDING {"kind": "<kind>", "detail": "...", "seconds": t}
// and exits 1; sanitizer and allocator reports exit non-zero on their own;
// exit 0 means the budget ended with nothing found.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "mutants.h"
#include "pool.h"
#include "sync/sync.h"

namespace {

using namespace z3fh;
using Clock = std::chrono::steady_clock;

// One shared object slot. `state` is the only thing threads race on: a slot
// is taken (busy) with a compare-exchange before its fields are touched.
struct Slot {
    enum : int { empty = 0, busy = 1, live = 2 };
    std::atomic<int> state{empty};
    Handle handle = 0;
    size_t size = 0;
    uint32_t gen = 0;
};

constexpr int kSlots = 64;

struct Shared {
    Slot slots[kSlots];
    std::atomic<uint64_t> progress{0};
    std::atomic<bool> stop{false};
    Clock::time_point start;
};

Shared* g_shared = nullptr;

[[noreturn]] void finding(const std::string& kind, const std::string& detail) {
    double t = std::chrono::duration<double>(Clock::now() - g_shared->start).count();
    std::fprintf(stderr, "BASELINE FINDING: %s: %s (after %.2f s)\n", kind.c_str(), detail.c_str(), t);
    const nlohmann::json j = {{"kind", kind}, {"detail", detail}, {"seconds", t}};
    std::fprintf(stderr, "==baseline== FINDING %s\n", j.dump().c_str());
    std::fflush(stderr);
    std::_Exit(1);
}

// Every object (at least 8 bytes) starts with its slot and generation, as
// zswap keeps its entry header in the object, so evict can find its owner.
struct ObjHeader {
    uint32_t slot;
    uint32_t gen;
};

uint8_t pattern_byte(int slot, uint32_t gen, size_t i) {
    return static_cast<uint8_t>((static_cast<size_t>(slot) * 131u + gen * 31u + i * 7u) & 0xffu);
}

// The header is one atomic 8-byte word (objects are chunk aligned): evict may
// read it while the owner is still filling a fresh object (it is on the LRU
// from the moment alloc returns), which is a race on the header only.
uint64_t header_word(int slot, uint32_t gen) { return static_cast<uint64_t>(slot) | (static_cast<uint64_t>(gen) << 32); }

void fill(Pool& pool, int slot, const Slot& s) {
    auto* p = static_cast<uint8_t*>(pool.map(s.handle));
    for (size_t i = sizeof(ObjHeader); i < s.size; i++) p[i] = pattern_byte(slot, s.gen, i);
    __atomic_store_n(reinterpret_cast<uint64_t*>(p), header_word(slot, s.gen), __ATOMIC_RELAXED);
    pool.unmap(s.handle);
}

void verify(Pool& pool, int slot, const Slot& s) {
    auto* p = static_cast<const uint8_t*>(pool.map(s.handle));
    size_t bad = s.size;
    if (__atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED) != header_word(slot, s.gen)) bad = 0;
    for (size_t i = sizeof(ObjHeader); bad == s.size && i < s.size; i++)
        if (p[i] != pattern_byte(slot, s.gen, i)) bad = i;
    pool.unmap(s.handle);
    if (bad != s.size) finding("object-contents", fmt::format("slot {} byte {} of {} differs", slot, bad, s.size));
}

// zpool evict: find the owner through the object's header, free it if we can
// take its slot, else fail (the object is busy in another thread).
int evict(Pool& pool, Handle handle, void* ctx) {
    auto* rng = static_cast<std::atomic<uint32_t>*>(ctx);
    if ((rng->fetch_add(0x9e3779b9u) >> 28) < 4) return -1;  // a quarter of evictions fail (writeback error)
    auto* p = static_cast<const uint8_t*>(pool.map(handle));
    const uint64_t word = __atomic_load_n(reinterpret_cast<const uint64_t*>(p), __ATOMIC_RELAXED);
    pool.unmap(handle);
    ObjHeader h{static_cast<uint32_t>(word), static_cast<uint32_t>(word >> 32)};
    if (h.slot >= kSlots) return -1;
    Slot& s = g_shared->slots[h.slot];
    int want = Slot::live;
    if (!s.state.compare_exchange_strong(want, Slot::busy)) return -1;
    // The header may be stale: a fresh object's memory holds what an earlier
    // object left there until its owner writes the header. Only the same
    // address through both handles proves it is this slot's object.
    bool same = s.gen == h.gen;
    if (same) {
        void* mine = pool.map(s.handle);
        void* given = pool.map(handle);
        same = mine == given;
        pool.unmap(handle);
        pool.unmap(s.handle);
    }
    if (!same) {
        s.state.store(Slot::live);
        return -1;
    }
    pool.free(handle);
    s.handle = 0;
    s.state.store(Slot::empty);
    return 0;
}

size_t random_size(std::mt19937& rng) {
    switch (rng() % 8) {
    case 0: return PAGE_SIZE - rng() % 150;            // headless
    case 1: return sizeof(ObjHeader) + rng() % 56;     // one chunk
    case 2: return 1500 + rng() % 500;                 // about a third
    default: return sizeof(ObjHeader) + rng() % 3000;
    }
}

struct OpMix {
    bool reclaim = true, compact = true, migrate = true;
};

void worker(Pool& pool, Shared& sh, int t, uint64_t seed, int ops, OpMix mix) {
    std::mt19937 rng(static_cast<uint32_t>(seed * 7919u + static_cast<uint64_t>(t)));
    sync::set_current_vcpu(t % pool.vcpus());
    for (int i = 0; i < ops && !sh.stop.load(std::memory_order_relaxed); i++) {
        sh.progress.fetch_add(1, std::memory_order_relaxed);
        unsigned r = rng() % 100;
        if (r < 8) {
            if (mix.reclaim) (void)pool.reclaim_page(1 + rng() % 4);
            continue;
        }
        if (r < 11) {
            sync::set_current_vcpu(static_cast<int>(rng() % static_cast<unsigned>(pool.vcpus())));
            continue;
        }
        int k = static_cast<int>(rng() % kSlots);
        Slot& s = sh.slots[k];
        int st = s.state.load();
        if (st == Slot::busy) continue;
        if (!s.state.compare_exchange_strong(st, Slot::busy)) continue;
        if (st == Slot::empty) {
            size_t size = random_size(rng);
            AllocResult a = pool.alloc(size);
            if (a.err != Errno::ok) {
                s.state.store(Slot::empty);
                continue;
            }
            s.handle = a.handle;
            s.size = size;
            s.gen++;
            fill(pool, k, s);
            s.state.store(Slot::live);
            continue;
        }
        // live
        if (r < 45) {
            verify(pool, k, s);
            pool.free(s.handle);
            s.handle = 0;
            s.state.store(Slot::empty);
        } else if (r < 80) {
            verify(pool, k, s);
            s.state.store(Slot::live);
        } else if (r < 90) {
            if (mix.compact) pool.compact_handle_page(s.handle);
            s.state.store(Slot::live);
        } else {
            if (mix.migrate) (void)pool.migrate_handle_page(s.handle);
            s.state.store(Slot::live);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"z3fold baseline stress: random operations on real threads, contents and leak checks"};
    int threads = 4;
    double seconds = 60;
    uint64_t seed = 1;
    int ops = 2000;
    std::string mutant;
    app.add_option("--threads", threads, "OS threads")->check(CLI::Range(1, 64))->capture_default_str();
    app.add_option("--seconds", seconds, "time budget")->check(CLI::PositiveNumber)->capture_default_str();
    app.add_option("--seed", seed, "random seed")->capture_default_str();
    app.add_option("--ops-per-round", ops, "operations per thread between leak checks")
        ->check(CLI::Range(1, 10000000))
        ->capture_default_str();
    app.add_option("--mutant", mutant, "seeded defect (mutant builds only)");
    OpMix mix;
    bool no_reclaim = false, no_compact = false, no_migrate = false;
    app.add_flag("--no-reclaim", no_reclaim, "leave reclaim out of the operation mix");
    app.add_flag("--no-compact", no_compact, "leave explicit compaction out");
    app.add_flag("--no-migrate", no_migrate, "leave migration out");
    CLI11_PARSE(app, argc, argv);
    mix.reclaim = !no_reclaim;
    mix.compact = !no_compact;
    mix.migrate = !no_migrate;
    if (!mutant.empty()) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
        if (!mutants::select(mutant.c_str())) {
            std::fprintf(stderr, "stress_baseline: unknown mutant '%s'\n", mutant.c_str());
            return 2;
        }
#else
        std::fprintf(stderr, "stress_baseline: this build has no mutants\n");
        return 2;
#endif
    }

    static Shared shared;
    g_shared = &shared;
    shared.start = Clock::now();
    std::atomic<uint32_t> evict_rng{static_cast<uint32_t>(seed)};
    PoolConfig cfg;
    cfg.vcpus = 2;
    cfg.evict = evict;
    cfg.evict_ctx = &evict_rng;
    Pool pool(cfg);
    const auto deadline = shared.start + std::chrono::duration<double>(seconds);
    uint64_t rounds = 0, total_ops = 0;

    while (Clock::now() < deadline) {
        shared.stop = false;
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++)
            ts.emplace_back(worker, std::ref(pool), std::ref(shared), t, seed + rounds, ops, mix);
        // Watchdog: no progress for 10 s is a hang (a deadlock or a livelock).
        uint64_t last = shared.progress.load();
        auto last_change = Clock::now();
        std::atomic<int> done{0};
        std::thread joiner([&] {
            for (auto& th : ts) th.join();
            done = 1;
        });
        while (!done.load()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            uint64_t now_p = shared.progress.load();
            if (now_p != last) {
                last = now_p;
                last_change = Clock::now();
            } else if (Clock::now() - last_change > std::chrono::seconds(10)) {
                finding("hang", "no thread made progress for 10 s");
            }
            if (Clock::now() > deadline) shared.stop = true;
        }
        joiner.join();
        total_ops += shared.progress.load();
        shared.progress = 0;
        // Round end: verify and free everything, then nothing may be left.
        for (int k = 0; k < kSlots; k++) {
            Slot& s = shared.slots[k];
            if (s.state.load() != Slot::live) continue;
            verify(pool, k, s);
            pool.free(s.handle);
            s.handle = 0;
            s.state.store(Slot::empty);
        }
        pool.drain();
        if (pool.total_pages() != 0)
            finding("leak", fmt::format("{} pages left after every object was freed", pool.total_pages()));
        if (pool.slots_cache().live() != 0)
            finding("leak", fmt::format("{} slots objects left after every object was freed", pool.slots_cache().live()));
        rounds++;
    }
    std::printf("baseline: %llu rounds, %llu operations in %.1f s, no finding\n",
                static_cast<unsigned long long>(rounds), static_cast<unsigned long long>(total_ops),
                std::chrono::duration<double>(Clock::now() - shared.start).count());
    return 0;
}
