// z3fold-harden: the libFuzzer target. An input is a program plus its
// interleaving; a finding (invariant, deadlock, hang, sanitizer report) ends
// the process, so the engine saves the input. Interleaving feedback goes to
// libFuzzer through extra counters, and to AFL++ (built with
// Z3FH_AFL_FEEDBACK, linked with libAFLDriver: persistent mode, test cases
// in shared memory) through extra slots in its coverage map.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "program/env_knobs.h"
#include "harness/runner.h"
#include "layout.h"
#include "mutate/mutator.h"
#include "program/program.h"

namespace {

constexpr size_t kCounters = 1 << 12;
// libFuzzer reads this section as extra coverage: a new (preempted site,
// next site) pair or a lock class newly contended is new "coverage".
__attribute__((section("__libfuzzer_extra_counters"), used)) uint8_t g_sched_counters[kCounters];

#ifdef Z3FH_AFL_FEEDBACK
// AFL++ reads only its shared map. Its pc-guard runtime hands each guard a
// map slot when registered, and refuses guards registered once its fork
// server is up (run outside afl-fuzz, the driver starts it before
// LLVMFuzzerInitialize). So they are registered as the compiler registers
// the instrumented code's own: from a constructor at the instrumentation's
// priority (2), before anything starts; hitting one is an edge like any other.
extern "C" void __sanitizer_cov_trace_pc_guard_init(uint32_t* start, uint32_t* stop);
extern "C" void __sanitizer_cov_trace_pc_guard(uint32_t* guard);
uint32_t g_sched_guards[kCounters];
void bump(size_t i) { __sanitizer_cov_trace_pc_guard(&g_sched_guards[i % kCounters]); }
__attribute__((constructor(2))) void register_sched_guards() {  // 2: reserved, the instrumentation's, on purpose
    __sanitizer_cov_trace_pc_guard_init(g_sched_guards, g_sched_guards + kCounters);
}
#else
void bump(size_t i) {
    uint8_t& c = g_sched_counters[i % kCounters];
    if (c != 255) c++;
}
#endif
Z3FH_INTENTIONAL_WRAP void on_switch(uint64_t from, uint64_t to) { bump(static_cast<size_t>((from * 0x9e3779b97f4a7c15ULL) ^ to) % (kCounters - 64)); }
void on_block(uint8_t cls) { bump(kCounters - 64 + cls); }

// Every run's configuration. Lockdep's graph outlives one run: orders seen
// in different inputs of this process that form a cycle are a
// potential-deadlock finding.
z3fh::fuzz::RunConfig g_config = [] {
    z3fh::fuzz::RunConfig cfg;
    cfg.cross_run_lockdep = true;
    return cfg;
}();

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // Z3FH_NO_SCHED_FEEDBACK=1 turns the interleaving counters off (for
    // measuring what they buy; the git history of docs/performance.md).
    const char* off = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::no_sched_feedback);
    if (!off || std::strcmp(off, "1") != 0) z3fh::fuzz::set_feedback({&on_switch, &on_block});
    // Unknown values of the knobs the campaign passes are an error, not the
    // default (fuzz/program/env_knobs.def).
    if (std::string why = z3fh::fuzz::check_env_knobs(); !why.empty()) {
        std::fprintf(stderr, "z3fold_fuzz: %s\n", why.c_str());
        std::exit(2);
    }
    // A patch review: the unpatched file's own findings at rest and at
    // teardown end the run, not the process (fuzz/harness/runner.h).
    g_config.known_findings = z3fh::fuzz::known_findings_from_env();
    z3fh::fuzz::UserKind user;
    bool any;
    if (const char* u = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::user); u && !z3fh::fuzz::parse_user_kind(u, &user, &any)) {
        std::fprintf(stderr, "z3fold_fuzz: Z3FH_USER=%s: not any, zswap, zpool or zram\n", u);
        std::exit(2);
    }
    if (const char* s = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::strategy)) {
        z3fh::fuzz::Program probe;
        if (!z3fh::fuzz::force_schedule_kind(probe, s)) {
            std::fprintf(stderr, "z3fold_fuzz: Z3FH_STRATEGY=%s: not input, pct or random\n", s);
            std::exit(2);
        }
    }
    // Z3FH_CHECKS_OFF=step,lock-order,... turns checkers off, to measure
    // what each costs (docs/invariants.md); never in a campaign.
    if (const char* checks_off = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::checks_off)) {
        std::string error = z3fh::fuzz::turn_checks_off(checks_off, &g_config);
        if (!error.empty()) {
            std::fprintf(stderr, "z3fold_fuzz: Z3FH_CHECKS_OFF: %s\n", error.c_str());
            std::exit(2);
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    z3fh::fuzz::Program prog;
    if (!z3fh::fuzz::decode_lenient(data, size, &prog)) return -1;  // not ours: keep it out of the corpus
    // The campaign's --strategy (replay applies the same from the sidecar).
    static const std::string strategy = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::strategy) ? z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::strategy) : "";
    z3fh::fuzz::force_schedule_kind(prog, strategy);
    // The campaign's --user (replay applies the same from the sidecar).
    static const std::string user = z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::user) ? z3fh::fuzz::env_value(z3fh::fuzz::EnvKnob::user) : "";
    z3fh::fuzz::UserKind forced;
    bool any = true;
    if (z3fh::fuzz::parse_user_kind(user, &forced, &any) && !any) prog.user = forced;
    (void)z3fh::fuzz::run_program(prog, g_config);
    return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    return z3fh::fuzz::mutate_buffer(data, size, max_size, seed, &LLVMFuzzerMutate);
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t* d1, size_t s1, const uint8_t* d2, size_t s2, uint8_t* out,
                                            size_t max_out, unsigned int seed) {
    return z3fh::fuzz::crossover_buffers(d1, s1, d2, s2, out, max_out, seed);
}
