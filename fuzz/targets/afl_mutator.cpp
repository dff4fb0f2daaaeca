// z3fold-harden: the structural mutator as an AFL++ custom mutator library
// (AFL_CUSTOM_MUTATOR_LIBRARY), so AFL++ edits programs (ops, threads,
// schedule) rather than bytes, as libFuzzer does through
// LLVMFuzzerCustomMutator. afl-fuzz dlopen()s this library: it is built
// without sanitizers or AFL++ instrumentation.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "program/env_knobs.h"
#include "mutate/mutator.h"

namespace {

struct MutatorState {
    std::mt19937 rng;
    std::vector<uint8_t> buf;  // the output buffer AFL++ reads; ours until the next call
};

// Programs are small (9-byte header, 3 bytes an op, at most 96 ops).
constexpr size_t kMaxInput = 1024;

// The byte-level edits the structural mutator applies to schedule bytes
// (libFuzzer lends it LLVMFuzzerMutate; AFL++ has no such entry point):
// a few of havoc's, on one (delay, target) stream.
std::mt19937 g_bytes_rng;
size_t mutate_schedule_bytes(uint8_t* data, size_t size, size_t max_size) {
    std::mt19937& rng = g_bytes_rng;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < edits; i++) {
        switch (rng() % 6) {
        case 0:  // a random byte
            if (size) data[rng() % size] = static_cast<uint8_t>(rng());
            break;
        case 1:  // a small step: a little earlier or later, the neighbour thread
            if (size) data[rng() % size] = static_cast<uint8_t>(data[rng() % size] + (rng() % 2 ? 1 : 255));
            break;
        case 2:  // flip a bit
            if (size) data[rng() % size] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
        case 3:  // insert a byte
            if (size < max_size) {
                size_t at = rng() % (size + 1);
                std::memmove(data + at + 1, data + at, size - at);
                data[at] = static_cast<uint8_t>(rng() % 48);
                size++;
            }
            break;
        case 4:  // erase a byte
            if (size) {
                size_t at = rng() % size;
                std::memmove(data + at, data + at + 1, size - at - 1);
                size--;
            }
            break;
        case 5:  // copy one byte over another (repeat a preemption)
            if (size >= 2) data[rng() % size] = data[rng() % size];
            break;
        }
    }
    return size;
}

}  // namespace

extern "C" {

void* afl_custom_init(void* /*afl*/, unsigned int seed) {
    auto* st = new MutatorState;
    st->rng.seed(seed);
    g_bytes_rng.seed(seed ^ 0x5a5a5a5au);
    st->buf.resize(kMaxInput);
    return st;
}

// One mutant of buf; with a splice partner (add_buf), one time in four a
// crossover of the two programs instead.
size_t afl_custom_fuzz(void* data, uint8_t* buf, size_t buf_size, uint8_t** out_buf, uint8_t* add_buf,
                       size_t add_buf_size, size_t max_size) {
    auto* st = static_cast<MutatorState*>(data);
    size_t cap = std::min(max_size, kMaxInput);
    size_t n;
    if (add_buf && add_buf_size && st->rng() % 4 == 0) {
        n = z3fh::fuzz::crossover_buffers(buf, buf_size, add_buf, add_buf_size, st->buf.data(), cap, st->rng());
    } else {
        size_t len = std::min(buf_size, cap);
        std::memcpy(st->buf.data(), buf, len);
        n = z3fh::fuzz::mutate_buffer(st->buf.data(), len, cap, st->rng(), &mutate_schedule_bytes);
    }
    if (n == 0) {  // nothing fitted: hand the input back unchanged
        n = std::min(buf_size, cap);
        std::memcpy(st->buf.data(), buf, n);
    }
    *out_buf = st->buf.data();
    return n;
}

// Executions per queue entry in the custom stage. AFL++ otherwise spends
// thousands on one entry (its stage length doubles with every find), where
// a race needs several generations of small edits: like libFuzzer, move on
// to the next entry soon.
uint32_t afl_custom_fuzz_count(void* /*data*/, const uint8_t* /*buf*/, size_t /*buf_size*/) {
    static const uint32_t count = [] {
        const char* v = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::afl_fuzz_count);
        return v ? static_cast<uint32_t>(std::strtoul(v, nullptr, 10)) : 64u;
    }();
    return count;
}

const char* afl_custom_describe(void* /*data*/, size_t /*max_description_len*/) { return "z3fh-program"; }

void afl_custom_deinit(void* data) { delete static_cast<MutatorState*>(data); }

}  // extern "C"
