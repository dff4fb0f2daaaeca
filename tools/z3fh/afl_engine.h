// z3fold-harden: AFL++ as a campaign engine: one main (-M, with the CMPLOG
// binary) and N-1 secondary (-S) afl-fuzz instances on one sync folder,
// our structural mutator loaded as AFL++'s custom mutator, and the live
// figures and crash files read from the instances' folders.
#pragma once
#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace z3fh::tool {

struct AflSetup {
    std::string target;         // z3fold_fuzz_afl (afl preset)
    std::string cmplog_target;  // the same in the afl-cmplog preset: the main instance's -c
    std::string mutator_lib;    // libz3fh_afl_mutator.so (default preset)
    std::string dict;           // may be empty
    std::string seeds;          // -i: at least one input
    std::string sync_dir;       // -o: shared by every instance
    std::vector<std::string> foreign;  // -F folders the main instance also imports (libFuzzer's corpus)
    int instances = 1;
    double budget_s = 300;
    uint64_t seed = 0;
    std::map<std::string, std::string> env;  // the target's environment (sanitizer options, Z3FH_*)
};

struct AflCrash {
    std::string path;  // in an instance's crashes/ folder
    std::string instance;
    std::string id;      // AFL++'s six-digit id
    uint64_t execs = 0;  // the instance's executions when it saved it (from the file name)
};

struct AflFigures {
    uint64_t execs = 0;   // summed over instances
    uint64_t edges = 0;   // the largest edges_found (instances share finds)
    uint64_t corpus = 0;  // the largest corpus_count
    uint64_t hangs = 0;
};

// afl-fuzz and afl-clang-fast++ on PATH.
bool afl_available();

// What a VM needs said before afl-fuzz refuses to start: a core_pattern
// that pipes core dumps to a program. Empty if fine; otherwise the message
// (the campaign goes on with AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1).
std::string afl_core_pattern_warning();

class AflEngine {
public:
    // Start the instances (each a child process watched by a thread); their
    // output goes to <sync_dir>/<name>.log. False if afl-fuzz is missing.
    bool start(const AflSetup& setup);
    // Crash files saved since the last call. Those present when start() ran
    // (an earlier run of the same folder) are never reported.
    std::vector<AflCrash> new_crashes();
    // Live from the instances' StatsD packets (one a second each), else
    // from their fuzzer_stats and plot_data (rewritten every 5-60 s).
    AflFigures figures();
    bool running() const;
    // Wait for every instance to end; the exit codes that were not a clean
    // end (0, or SIGINT's) are returned.
    std::vector<int> join();
    // Copy every instance's queue into dir (afl-<instance>-<id>), for
    // coverage and for a later engine; returns how many.
    size_t export_queue(const std::string& dir) const;

private:
    std::map<std::string, std::string> shared_env(const AflSetup& s);

    AflSetup setup_;
    std::vector<std::string> names_;
    std::vector<std::thread> threads_;
    std::vector<int> codes_;
    std::atomic<int> live_{0};  // instances still running
    std::set<std::string> seen_;
    int statsd_fd_ = -1;  // UDP socket on 127.0.0.1 the instances report to
    std::map<std::string, std::map<std::string, uint64_t>> statsd_;  // instance -> metric -> value
public:
    ~AflEngine();
};

}  // namespace z3fh::tool
