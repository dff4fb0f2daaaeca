// Allocator throughput, native backend: alloc+free, alloc+map+unmap+free at
// several sizes, on 1 and 2 threads (each with its own handles, one pool).
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "pool.h"

namespace {

z3fh::Pool* shared_pool() {
    static auto* pool = new z3fh::Pool(z3fh::PoolConfig{2, nullptr, nullptr, nullptr});
    return pool;
}

void BM_AllocFree(benchmark::State& state) {
    z3fh::Pool& pool = *shared_pool();
    const size_t size = static_cast<size_t>(state.range(0));
    std::vector<z3fh::Handle> live;
    live.reserve(64);
    for (auto _ : state) {
        for (int i = 0; i < 64; i++) live.push_back(pool.alloc(size).handle);
        for (z3fh::Handle h : live) pool.free(h);
        live.clear();
    }
    state.SetItemsProcessed(state.iterations() * 64);
}

void BM_AllocMapFree(benchmark::State& state) {
    z3fh::Pool& pool = *shared_pool();
    const size_t size = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        z3fh::Handle h = pool.alloc(size).handle;
        auto* p = static_cast<char*>(pool.map(h));
        p[0] = 1;
        benchmark::DoNotOptimize(p);
        pool.unmap(h);
        pool.free(h);
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_AllocFree)->Arg(64)->Arg(500)->Arg(1500)->Arg(4096)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AllocMapFree)->Arg(64)->Arg(500)->Arg(1500)->Arg(4096)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
