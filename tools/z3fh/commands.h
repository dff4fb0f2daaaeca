// z3fold-harden: the z3fh subcommands other than campaign.
#pragma once
#include <string>
#include <vector>

#include "kernel_source.h"

namespace z3fh::tool {

struct ToolInput {
    std::string file, out, mutant, sanitizer, name;
    int runs = 1;
    bool rr = false;
    // --target and the kernel flags; an empty target.target: the sidecar's.
    TargetChoice target = sidecar_target();
    static TargetChoice sidecar_target() {
        TargetChoice t;
        t.target.clear();
        return t;
    }
};

int cmd_test(bool long_run, const std::string& only, const std::string& summary_out);
int cmd_mutants();
int cmd_bench(bool alloc, bool checkers, bool sizes);

struct ScoreOptions {
    double budget_per_mutant = 60;
    int seeds = 1;
    bool sched_feedback = true;
    std::string sanitizer = "asan";
    std::string engine = "libfuzzer";
    std::string corpus = "corpus";  // seeds for every campaign, or "none"
    std::vector<std::string> only;  // empty: every mutant
    std::string json_path;
    int jobs = 1;
    bool baseline = false;  // also the real-thread stress baseline under ASan and TSan
    // Score the seeded defects of this kernel allocator's 6.12 file instead
    // of the port's mutants (each a tool-written patch, kernel-defect).
    std::string kernel_allocator;
};
int cmd_score(const ScoreOptions& so);
// score --kernel-allocator A: a kernel campaign per seeded defect of A's
// 6.12 file (kernel_source.cpp); found = a finding that fails only with it.
int cmd_kernel_score(const ScoreOptions& so);
int cmd_replay(const ToolInput& in);
int cmd_minimize(const ToolInput& in);
int cmd_export_test(const ToolInput& in);

}  // namespace z3fh::tool
