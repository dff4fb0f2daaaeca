// z3fold-harden: the kernel stage's end-to-end check of kernel-report
// (`./z3fh test --only kernel`): a campaign on a one-commit git tree of the
// kernel file, then the series it writes must apply, pass checkpatch, build
// and carry its Fixes: tag; a report with no identity must refuse.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "campaign.h"
#include "context.h"
#include "kernel_report.h"
#include "kernel_source.h"
#include "kernel_tree.h"
#include "proc.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace z3fh::tool {

namespace {

// Every patch applies, in order, to the pristine file (as `git am` would).
std::string series_applies(const std::vector<std::string>& patches, const std::string& pristine, const fs::path& scratch) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch / "mm", ec);
    fs::copy_file(pristine, scratch / "mm" / "z3fold.c", ec);
    for (const std::string& p : patches) {
        int code = 0;
        std::string log = run_capture({"patch", "--batch", "--forward", "-s", "-p1", "-d", scratch.string(), "-i", p}, {}, &code);
        if (code != 0) return fs::path(p).filename().string() + " does not apply in order: " + log;
    }
    return "";
}

}  // namespace

std::string check_kernel_report_end_to_end() {
    Context& ctx = Context::get();
    const std::string base = ctx.root() + "/build/e2e/kernel-report";
    std::error_code ec;
    fs::remove_all(base, ec);
    // No identity: it stops, and says how to give one.
    // (Run outside any repository, with no global or system git config.)
    const fs::path outside = fs::temp_directory_path() / fmt::format("z3fh-no-identity-{}", getpid());
    fs::create_directories(outside, ec);
    int rc = 0;
    std::string msg = run_capture({"/proc/self/exe", "kernel-report", "--from", base, "--out", base + "/none"},
                                  {{"HOME", outside.string()}, {"GIT_CONFIG_NOSYSTEM", "1"},
                                   {"GIT_CONFIG_GLOBAL", "/dev/null"}, {"GIT_CEILING_DIRECTORIES", outside.parent_path().string()}},
                                  &rc, outside.string());
    fs::remove_all(outside, ec);
    if (rc != 2 || msg.find("never invents one") == std::string::npos) return fmt::format("no identity: exit {}", rc);
    // The unmodified file as a git tree of one commit, so that the series'
    // Fixes: tags have a commit to find; a short campaign on it, then its series.
    auto debian = prepare_kernel_file(TargetChoice{"kernel", "", "", false, "", ""});
    if (!debian) return "no pristine file";
    const std::string tree = base + "/tree";
    fs::create_directories(tree + "/mm", ec);
    fs::copy_file(debian->pristine, tree + "/mm/z3fold.c", fs::copy_options::overwrite_existing, ec);
    const std::map<std::string, std::string> who = {{"GIT_AUTHOR_NAME", "z3fold-harden test"},
                                                    {"GIT_AUTHOR_EMAIL", "test@z3fold-harden.invalid"},
                                                    {"GIT_COMMITTER_NAME", "z3fold-harden test"},
                                                    {"GIT_COMMITTER_EMAIL", "test@z3fold-harden.invalid"}};
    int git_rc = 0;
    const std::vector<std::vector<std::string>> steps = {
        {"init", "-q"}, {"add", "mm/z3fold.c"}, {"commit", "-q", "-m", "mm: add z3fold"}};
    for (const std::vector<std::string>& args : steps) {
        std::vector<std::string> argv = {"git", "-C", tree};
        argv.insert(argv.end(), args.begin(), args.end());
        run_capture(argv, who, &git_rc);
        if (git_rc != 0) return "could not make the test's git tree";
    }
    const std::string head = run_capture({"git", "-C", tree, "log", "-1", "--abbrev=12", "--format=%h"}, who, &git_rc);
    std::fprintf(stderr, "\n=== kernel: campaign --target kernel --kernel-source <a git tree of the unmodified file>, "
                         "then kernel-report ===\n");
    CampaignOptions co;
    co.target.kernel_source = tree;
    co.budget_s = 15;
    co.jobs = 1;
    co.keep_going = true;
    co.corpus = "none";
    co.triage_runs = 3;
    co.coverage = false;
    co.target.target = "kernel";
    co.out = base + "/campaign";
    if (run_campaign(co) != 1) return "the campaign on the unmodified file found nothing";
    KernelReportOptions o;
    o.from = {co.out};
    o.out = base + "/series";
    o.signoff = "z3fold-harden test <test@z3fold-harden.invalid>";
    o.runs = 3;
    o.verify_budget_s = 15;
    if (int r = cmd_kernel_report(o); r != 0) return fmt::format("kernel-report exit {} (its cover letter says why)", r);
    std::vector<std::string> patches;
    for (const auto& e : fs::directory_iterator(o.out))
        if (e.path().extension() == ".patch" && e.path().filename().string().rfind("0000-", 0) != 0)
            patches.push_back(e.path().string());
    std::sort(patches.begin(), patches.end());
    if (patches.empty()) return "no patch written";
    if (std::string err = series_applies(patches, debian->pristine, base + "/applied"); !err.empty()) return err;
    const std::string cover = read_file(o.out + "/0000-cover-letter.patch");
    for (const std::string& p : patches) {
        const std::string text = read_file(p), check = read_file(p + ".checkpatch.txt");
        if (check.find("total: 0 errors, 0 warnings") == std::string::npos) return fs::path(p).filename().string() + ": checkpatch";
        if (text.find(fmt::format("Fixes: {} (\"mm: add z3fold\")", head.substr(0, 12))) == std::string::npos)
            return fs::path(p).filename().string() + ": no Fixes: tag naming the tree's commit";
        if (text.find("Signed-off-by: z3fold-harden test <test@z3fold-harden.invalid>") == std::string::npos ||
            text.find("Cc: stable@vger.kernel.org") == std::string::npos || text.find("Subject: [PATCH 6.1.y ") == std::string::npos)
            return fs::path(p).filename().string() + ": no subject prefix, sign-off or Cc: stable";
    }
    size_t built = 0;
    for (size_t at = cover.find("builds, no new warnings"); at != std::string::npos; at = cover.find("builds, no new warnings", at + 1))
        built++;
    if (built != patches.size()) return fmt::format("{} of {} patches compiled cleanly in the real tree", built, patches.size());
    return "";
}

}  // namespace z3fh::tool
