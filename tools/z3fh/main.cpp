// z3fold-harden: the z3fh command line. Every flag is declared here once,
// with its default and help; subcommands hand over to campaign.cpp and
// commands.cpp. Usage errors exit 2; --help exits 0.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <thread>

#include "campaign.h"
#include "commands.h"
#include "context.h"
#include "kernel_report.h"

using namespace z3fh::tool;

namespace {

CLI::App* add_kernel_report(CLI::App& app, KernelReportOptions& o) {
    auto* c = app.add_subcommand("kernel-report",
                                 "the fixes for what kernel campaigns found in mm/z3fold.c, as a checked "
                                 "git format-patch series with a cover letter");
    c->add_option("--from", o.from, "campaign folder(s) on the unmodified kernel file (repeatable)")->required();
    c->add_option("--out", o.out, "folder for the series (0000-cover-letter.patch, 0001-...)")->required();
    c->add_option("--signoff", o.signoff, "\"Name <email>\" for Signed-off-by (default: git's user.name and user.email)");
    c->add_option("--runs", o.runs, "replays of each finding before and with its fix")->check(CLI::Range(1, 1000));
    c->add_option("--verify-budget", o.verify_budget_s, "seconds of the campaign on the file with the whole series")
        ->check(CLI::Range(1.0, 86400.0));
    c->add_option("--also-check", o.also_check, "another z3fold.c: say whether it still has the code each fix changes");
    bool no_compile = false;
    c->add_flag_callback("--no-compile", [&o] { o.compile = false; },
                         "skip the W=1 compile in the real tree (it extracts and prepares Debian's full source once)");
    (void)no_compile;
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"z3fh: fuzz the z3fold port for lifetime and concurrency bugs, replay and shrink what it finds"};
    app.require_subcommand(1);

    CampaignOptions co;
    co.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::string budget = "300";
    bool no_feedback = false;
    auto* campaign = app.add_subcommand("campaign", "build, fuzz, triage and report (a few minutes by default)");
    campaign->add_option("--budget", budget, "fuzzing wall time: seconds, or 5m / 1h")->capture_default_str();
    campaign->add_option("--jobs", co.jobs, "parallel fuzzing processes (libFuzzer fork mode above 1)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    campaign->add_option("--engine", co.engine, "fuzzing engine")->check(CLI::IsMember({"libfuzzer", "afl", "both"}))->capture_default_str();
    campaign->add_option("--sanitizer", co.sanitizer, "asan (ASan+UBSan), ubsan or tsan")
        ->check(CLI::IsMember({"asan", "ubsan", "tsan"}))
        ->capture_default_str();
    campaign->add_option("--mutant", co.mutant,
                         "fuzz the mutant build with this seeded defect (none: the mutant build, none selected)");
    campaign->add_option("--strategy", co.strategy, "scheduler strategy: input, pct or random")
        ->check(CLI::IsMember({"input", "pct", "random"}))
        ->capture_default_str();
    campaign->add_option("--user", co.user, "the pool's user: any (each input says), zswap or zpool")
        ->check(CLI::IsMember({"any", "zswap", "zpool"}))
        ->capture_default_str();
    campaign->add_option("--corpus", co.corpus, "seed corpus directory (copied), or none")->capture_default_str();
    campaign->add_option("--out", co.out, "campaign folder (default: campaigns/<time>)");
    campaign->add_option("--seed", co.seed, "libFuzzer seed")->capture_default_str();
    campaign->add_flag("--no-sched-feedback", no_feedback, "turn the interleaving counters off");
    campaign->add_option("--triage-runs", co.triage_runs, "replays per finding in triage")->check(CLI::Range(1, 1000))->capture_default_str();
    campaign->add_flag("--no-build", co.no_build, "use the build as it is (score builds once for all its runs)");
    campaign->add_flag("--keep-going", co.keep_going, "fuzz on after a finding, for the whole budget (fork mode)");
    bool no_coverage = false;
    campaign->add_flag("--no-coverage", no_coverage, "skip the llvm-cov coverage of allocator/ at the end");
    auto add_target_flags = [](CLI::App* c, TargetChoice& t, bool campaign_default) {
        auto* opt = c->add_option("--target", t.target,
                                  campaign_default ? "port (the C++ port) or kernel (the kernel's own mm/z3fold.c)"
                                                   : "port or kernel (default: the sidecar's)");
        opt->check(CLI::IsMember({"port", "kernel"}));
        if (campaign_default) opt->capture_default_str();
        c->add_option("--kernel-source", t.kernel_source,
                      "kernel tree holding mm/z3fold.c (default: Debian's linux-source-6.1, fetched if missing)");
        c->add_option("--kernel-patch", t.kernel_patch, "unified diff applied to mm/z3fold.c before the build (none: no patch, whatever the sidecar says)");
        c->add_flag("--kernel-fixes", t.kernel_fixes,
                    "apply the harness's fixes for what it found in 6.1 first (./z3fh kernel-defect fixes shows them)");
    };
    add_target_flags(campaign, co.target, true);

    ToolInput in;
    auto* replay = app.add_subcommand("replay", "replay a finding with its interleaving and print the reproducer");
    replay->add_option("file", in.file, "crash input")->required();
    replay->add_option("--runs", in.runs, "replay N times; prints reproduced K/N")->check(CLI::Range(1, 100000));
    replay->add_flag("--rr", in.rr, "record the replay with rr where the machine allows it");
    auto* minimize = app.add_subcommand("minimize", "shrink a finding, keeping its failure signature");
    minimize->add_option("file", in.file, "crash input")->required();
    minimize->add_option("-o,--output", in.out, "output (default FILE.min)");
    auto* exp = app.add_subcommand("export-test", "write a finding as a readable GoogleTest case");
    exp->add_option("file", in.file, "crash input")->required();
    exp->add_option("-o,--output", in.out, "test file (default tests/regress/<name>_test.cpp)");
    exp->add_option("--name", in.name, "test name");
    TargetChoice in_target;
    in_target.target.clear();
    for (CLI::App* c : {replay, minimize, exp}) {
        c->add_option("--mutant", in.mutant, "mutant (default: the sidecar's)");
        c->add_option("--sanitizer", in.sanitizer, "asan, ubsan or tsan (default: the sidecar's)");
        add_target_flags(c, in_target, false);
    }
    std::string defect_name, defect_out;
    TargetChoice defect_target;
    auto* defect = app.add_subcommand(
        "kernel-defect",
        "write a review defect, or a bug z3fold had upstream, as a patch of the kernel's mm/z3fold.c (prints its path)");
    std::string defect_names;
    for (const std::string& n : kernel_defect_names()) defect_names += (defect_names.empty() ? "" : ", ") + n;
    defect->add_option("name", defect_name,
                       "a review defect or an upstream bug re-created by reverting its fix (" + defect_names +
                           "): a patch of the fixed file, for --kernel-fixes --kernel-patch; or fixes (the fixes, a "
                           "patch of the pristine file)")
        ->required();
    defect->add_option("-o,--output", defect_out,
                       "patch file (default build/kernel-src/defects/NAME.diff, or NAME.unmodified.diff)");
    defect->add_option("--kernel-source", defect_target.kernel_source, "kernel tree holding mm/z3fold.c");
    bool defect_unmodified = false;
    defect->add_flag("--unmodified", defect_unmodified,
                     "a patch of the unmodified file (without the harness's fixes), for --kernel-patch alone");
    KernelReportOptions report_opts;
    auto* kreport = add_kernel_report(app, report_opts);
    auto* mutants = app.add_subcommand("mutants", "list the seeded defects: NAME<TAB>CLASS<TAB>description");
    ScoreOptions so;
    std::string score_budget = "60";
    bool score_no_feedback = false;
    auto* score = app.add_subcommand("score", "a campaign per mutant: table of found / time to detect, and the mutation score");
    score->add_option("--budget-per-mutant", score_budget, "seconds (or 1m) per campaign")->capture_default_str();
    score->add_option("--seeds", so.seeds, "campaigns per mutant (median and max time to detect)")->check(CLI::Range(1, 1000));
    score->add_option("--mutant", so.only, "score only these mutants (repeat, or comma-separated)")->delimiter(',');
    score->add_option("--sanitizer", so.sanitizer, "asan, ubsan or tsan")->check(CLI::IsMember({"asan", "ubsan", "tsan"}));
    score->add_option("--json", so.json_path, "also write the table as JSON");
    score->add_flag("--no-sched-feedback", score_no_feedback, "turn the interleaving counters off");
    so.jobs = co.jobs;
    score->add_option("--jobs", so.jobs, "runs at a time (one core each)")->check(CLI::Range(1, 256))->capture_default_str();
    score->add_option("--engine", so.engine, "fuzzing engine")->check(CLI::IsMember({"libfuzzer", "afl"}))->capture_default_str();
    score->add_option("--corpus", so.corpus, "seed corpus for every campaign, or none")->capture_default_str();
    score->add_flag("--baseline", so.baseline,
                    "also run each mutant through the real-thread stress baseline (ASan and TSan), same budget");
    bool bench_alloc = false;
    auto* bench = app.add_subcommand("bench", "print the switch-cost figures (last line: one JSON object)");
    bench->add_flag("--alloc", bench_alloc, "also run the allocator benchmarks first");
    bool bench_checkers = false;
    bench->add_flag("--checkers", bench_checkers,
                    "instead: what each checker costs, in executions per CPU second of the ASan fuzz target");
    bool bench_sizes = false;
    bench->add_flag("--sizes", bench_sizes,
                    "instead: executions per CPU second of the ASan fuzz target by program size (0-64 operations)");
    bool long_run = false;
    std::string only;
    auto* test = app.add_subcommand("test", "build every preset and run all fast test suites, then the e2e checks");
    test->add_flag("--long", long_run, "also run 10-minute campaigns (evidence, not CI)");
    test->add_option("--only", only, "one stage: a preset (default, asan, ubsan, tsan, mutants), oss-fuzz, e2e or kernel");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    if (*campaign) {
        auto b = parse_duration(budget);
        if (!b || *b <= 0) {
            std::fprintf(stderr, "z3fh: --budget '%s' is not a duration (like 90, 5m, 1h)\n", budget.c_str());
            return 2;
        }
        co.budget_s = *b;
        co.sched_feedback = !no_feedback;
        co.coverage = !no_coverage;
        return run_campaign(co);
    }
    in.target = in_target.target;
    in.kernel_source = in_target.kernel_source;
    in.kernel_patch = in_target.kernel_patch;
    in.kernel_fixes = in_target.kernel_fixes;
    if (*kreport) return cmd_kernel_report(report_opts);
    if (*defect) return cmd_kernel_defect(defect_name, defect_out, defect_target, defect_unmodified);
    if (*replay) return cmd_replay(in);
    if (*minimize) return cmd_minimize(in);
    if (*exp) return cmd_export_test(in);
    if (*mutants) return cmd_mutants();
    if (*bench) return cmd_bench(bench_alloc, bench_checkers, bench_sizes);
    if (*score) {
        auto b = parse_duration(score_budget);
        if (!b || *b <= 0) {
            std::fprintf(stderr, "z3fh: --budget-per-mutant '%s' is not a duration\n", score_budget.c_str());
            return 2;
        }
        so.budget_per_mutant = *b;
        so.sched_feedback = !score_no_feedback;
        return cmd_score(so);
    }
    if (*test) return cmd_test(long_run, only);
    return 2;
}
