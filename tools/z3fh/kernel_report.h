// z3fold-harden: `z3fh kernel-report`: from the user's kernel campaigns, a
// `git format-patch` series of the harness's fixes for the findings in the
// user's mm/z3fold.c, one patch a fix, each checked three ways (checkpatch
// from the same source, a W=1 compile in the real tree, and the harness's
// own replay), with a cover letter saying what was run and each verdict.
#pragma once
#include <string>
#include <vector>

namespace z3fh::tool {

struct KernelReportOptions {
    std::vector<std::string> from;        // campaign folders (report.json inside)
    std::string out;                      // where the series goes
    std::string signoff;                  // "Name <email>"; empty: the user's git identity
    int runs = 5;                         // replays of each finding before and after its fix
    double verify_budget_s = 60;          // the campaign on the file with the whole series
    bool compile = true;                  // the W=1 compile in the real tree
    std::vector<std::string> also_check;  // other z3fold.c files: do they still carry each bug?
};

// Exit status: 0 the series is written and every check passed, 1 written
// with a failed check (said in the cover letter), 2 nothing written.
int cmd_kernel_report(const KernelReportOptions& opts);

// `z3fh test`'s kernel-report check: with no identity it stops; from a short
// campaign on the unmodified file it writes a series whose every patch
// applies in order, passes checkpatch, compiles in the real tree and carries
// its verdicts. "" if so, else why not.
std::string check_kernel_report_end_to_end();

}  // namespace z3fh::tool
