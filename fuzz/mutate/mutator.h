// z3fold-harden: the structural mutator: it edits programs (ops, threads,
// schedule bytes), not bytes, so every mutant input is a valid program.
// Shared by the libFuzzer target and the AFL++ custom mutator.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>

#include "program/program.h"

namespace z3fh::fuzz {

// Mutate `p` in place; `byte_mutate` (may be null) mutates a raw buffer
// in place and returns its new size (libFuzzer's LLVMFuzzerMutate).
using ByteMutator = size_t (*)(uint8_t* data, size_t size, size_t max_size);
void mutate_program(Program& p, std::mt19937& rng, ByteMutator byte_mutate);
Program crossover(const Program& a, const Program& b, std::mt19937& rng);
Program random_program(std::mt19937& rng);
// A random program with exactly `ops` operations (benchmarks by size).
Program random_program_of_size(std::mt19937& rng, size_t ops);

// Whole-buffer entry points: never produce an invalid program.
size_t mutate_buffer(uint8_t* data, size_t size, size_t max_size, unsigned seed, ByteMutator byte_mutate);
size_t crossover_buffers(const uint8_t* a, size_t asz, const uint8_t* b, size_t bsz, uint8_t* out, size_t max_out,
                         unsigned seed);

}  // namespace z3fh::fuzz
