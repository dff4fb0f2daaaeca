// z3fold-harden: `z3fh campaign`: build, fuzz, notice and triage findings,
// and write report.json and report.md.
#pragma once
#include <cstdint>
#include <string>

#include "kernel_source.h"

namespace z3fh::tool {

struct CampaignOptions {
    double budget_s = 300;
    int jobs = 1;
    std::string engine = "libfuzzer";
    std::string sanitizer = "asan";
    std::string mutant;
    std::string strategy = "input";
    std::string user = "any";  // the pool's user: any (the input's byte decides), zswap or zpool
    std::string corpus = "corpus";  // "none": start empty
    std::string out;
    uint64_t seed = 0;
    bool sched_feedback = true;
    int triage_runs = 5;
    bool no_build = false;
    bool coverage = true;  // llvm-cov of allocator/ from the corpus at the end
    TargetChoice target;   // the port, or the kernel's own mm/z3fold.c
    bool keep_going = false;  // fuzz on after a crash (its worker restarts, even with one job)
    // Record the kernel file's known findings at rest and at teardown
    // (kernel/known-findings.txt) without ending the fuzzing process, as a
    // patch review of the unmodified file does by itself.
    bool past_known_findings = false;
    bool minimize = true;     // triage minimises and exports each new finding (kernel-report's check does not need it)
};

// The programs a campaign runs for a sanitizer and mutant choice.
struct EngineBinaries {
    std::string libfuzzer;   // the libFuzzer target
    std::string driver;      // z3fh-run of the same tree: replay, minimise, export for either engine
    std::string afl;         // the AFL++ target (afl presets)
    std::string afl_cmplog;  // the same with CMPLOG (afl-cmplog presets)
    std::string afl_mutator; // our mutator as an AFL++ custom mutator library
};
EngineBinaries engine_binaries(const std::string& sanitizer, bool mutants);
// Build what `engine` (libfuzzer, afl, both) needs; false (output shown) on failure.
bool build_engines(const std::string& engine, const std::string& sanitizer, bool mutants, double* seconds = nullptr);

// Exit status: 0 no finding, 1 findings, 2 the tool failed.
int run_campaign(const CampaignOptions& opts);

}  // namespace z3fh::tool
