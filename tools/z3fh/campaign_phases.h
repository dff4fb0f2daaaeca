// z3fold-harden: the campaign's phases, each in its own file:
//   prepare (campaign.cpp)         what to build, run and where, from the options
//   fuzz    (campaign_fuzz.cpp)    the engines as child processes, watched live;
//                                  every crash input gets its sidecar at once
//   triage  (campaign_triage.cpp)  replay K/N, minimise, reproducer, exported
//                                  test, which user's world reached it
//   report  (campaign_report.cpp)  report.json, report.md, report.html
// They talk through the structs below; z3fh-run's results are read as JSON
// (driver_result.h), never scraped.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "afl_engine.h"
#include "campaign.h"
#include "kernel_source.h"

namespace z3fh::tool {

// Ctrl-C count during a campaign: 1 stops the engines, 2 stops triage too.
extern std::atomic<int> g_campaign_interrupts;

struct CampaignPlan {
    CampaignOptions opts;
    bool kernel = false;
    bool mutant_build = false;
    std::string mutant_name;                // "none" when no mutant is selected
    std::optional<KernelFile> kfile;        // the kernel target's file
    EngineBinaries bins;
    std::string bin;                        // the libFuzzer target
    std::string driver;                     // z3fh-run of the same tree
    std::string base_driver;                // z3fh-run of the kernel without the user's patch ("" if none)
    bool keep_going = false;                // a finding restarts its worker, for the whole budget
    bool stop_at_first = false;             // one process: its first finding ends the campaign
    int lf_jobs = 0, afl_jobs = 0;
    std::string dict;
    // The unpatched file's own findings a patch review records without
    // ending the fuzzing process (Z3FH_KNOWN_FINDINGS), when they are not
    // fixed under the patch.
    std::vector<std::string> known_findings;
    nlohmann::json target_info;             // what a sidecar and the report say about the target
    std::filesystem::path out;              // absolute
    std::map<std::string, std::string> env; // for the engines and every z3fh-run
    double build_s = 0;
};

struct Sample {
    double t;
    uint64_t execs;
    uint64_t cov;
    uint64_t corpus;
};

struct Crash {
    std::string path;  // absolute
    double t;
    uint64_t execs;
    bool earlier = false;  // found by an earlier run into the same folder
};

struct FuzzResult {
    int failed = 0;  // non-zero: the tool's exit status (an engine could not run)
    double fuzz_s = 0;
    uint64_t execs = 0, cov = 0, corpus_size = 0;
    size_t corpus_found = 0;  // corpus entries before the merge (seeds among them); corpus_size: what it kept
    uint64_t lf_execs = 0, lf_cov = 0, lf_corpus = 0;  // summed over workers and their runs; the largest
    AflFigures afl;
    std::vector<Sample> series;
    std::vector<Crash> crashes;  // an earlier run's first
    bool interrupted = false;
};

struct TriageResult {
    nlohmann::json findings = nlohmann::json::array();
    nlohmann::json untriaged = nlohmann::json::array();
    double triage_s = 0;
};

FuzzResult fuzz_phase(const CampaignPlan& plan);
TriageResult triage_phase(const CampaignPlan& plan, const FuzzResult& fuzz);
// Writes report.json, report.md and report.html; prints the summary.
void report_phase(const CampaignPlan& plan, const FuzzResult& fuzz, const TriageResult& triage,
                  const nlohmann::json& coverage, double coverage_s, const nlohmann::json& throughput);

}  // namespace z3fh::tool
