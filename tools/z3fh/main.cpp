// z3fold-harden: the z3fh command line. Each subcommand registers its flags
// (each declared once, with its default and help) and what runs when it is
// chosen; they hand over to campaign.cpp, commands.cpp, score.cpp and the
// kernel modules. Usage errors exit 2; --help exits 0.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "campaign.h"
#include "commands.h"
#include "context.h"
#include "kernel_report.h"
#include "program/env_knobs.h"

using namespace z3fh::tool;

namespace {

// A subcommand: its CLI node, and what runs when it is the one chosen.
struct Subcommand {
    CLI::App* cli = nullptr;
    std::function<int()> run;
};

int default_jobs() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// "--budget 5m" and the like; nullopt after saying why.
std::optional<double> duration_flag(const std::string& flag, const std::string& value) {
    auto b = parse_duration(value);
    if (b && *b > 0) return b;
    std::fprintf(stderr, "z3fh: %s '%s' is not a duration (like 90, 5m, 1h)\n", flag.c_str(), value.c_str());
    return std::nullopt;
}

// --target, --kernel-source, --kernel-patch, --kernel-fixes.
void add_target_flags(CLI::App* c, TargetChoice& t, bool campaign_default) {
    auto* opt = c->add_option("--target", t.target,
                              campaign_default ? "port (the C++ port) or kernel (the kernel's own mm/z3fold.c)"
                                               : "port or kernel (default: the sidecar's)");
    opt->check(CLI::IsMember({"port", "kernel"}));
    if (campaign_default) opt->capture_default_str();
    c->add_option("--kernel-source", t.kernel_source,
                  "kernel tree holding mm/z3fold.c (default: Debian's linux-source-6.1 or -6.12, fetched if missing)");
    c->add_option("--kernel-patch", t.kernel_patch,
                  "unified diff applied to mm/z3fold.c before the build (none: no patch, whatever the sidecar says)");
    auto* fixes = c->add_flag("--kernel-fixes", t.kernel_fixes,
                "apply the harness's fixes for what it found in the file first, 6.1's or 6.12's z3fold (./z3fh "
                "kernel-defect fixes shows them); "
                "a campaign puts them under a --kernel-patch by itself when the patch applies on top");
    c->add_flag("--no-kernel-fixes", t.no_kernel_fixes,
                "review a --kernel-patch against the unmodified file, never with the harness's fixes under it")
        ->excludes(fixes);
    c->add_option("--kernel-version", t.kernel_version,
                  "the kernel series: 6.1 (default) or 6.12 (Debian's linux-source-6.12); a --kernel-source tree's "
                  "own Makefile says it otherwise")
        ->check(CLI::IsMember({"6.1", "6.12"}));
    c->add_option("--allocator", t.allocator, "the kernel's allocator file: z3fold (default)")
        ->check(CLI::IsMember({"z3fold", "zsmalloc", "zbud"}));
}

Subcommand campaign_command(CLI::App& app) {
    struct State {
        CampaignOptions co;
        std::string budget = "300";
        bool no_feedback = false, no_coverage = false;
    };
    auto s = std::make_shared<State>();
    s->co.jobs = default_jobs();
    auto* c = app.add_subcommand("campaign", "build, fuzz, triage and report (a few minutes by default)");
    c->add_option("--budget", s->budget, "fuzzing wall time: seconds, or 5m / 1h")->capture_default_str();
    c->add_option("--jobs", s->co.jobs, "parallel fuzzing processes (libFuzzer workers sharing one corpus, or AFL++ instances)")
        ->check(CLI::Range(1, 256))
        ->capture_default_str();
    c->add_option("--engine", s->co.engine, "fuzzing engine")
        ->check(CLI::IsMember({"libfuzzer", "afl", "both"}))
        ->capture_default_str();
    c->add_option("--sanitizer", s->co.sanitizer, "asan (ASan+UBSan), ubsan or tsan")
        ->check(CLI::IsMember({"asan", "ubsan", "tsan"}))
        ->capture_default_str();
    c->add_option("--mutant", s->co.mutant, "fuzz the mutant build with this seeded defect (none: the mutant build, none selected)");
    c->add_option("--strategy", s->co.strategy, "scheduler strategy: input, pct or random")
        ->check(CLI::IsMember({"input", "pct", "random"}))
        ->capture_default_str();
    c->add_option("--user", s->co.user,
                  "the pool's user: any (each input says), zswap, zpool, or zram (zsmalloc's; the zpool user on "
                  "other allocators)")
        ->check(CLI::IsMember({"any", "zswap", "zpool", "zram"}))
        ->capture_default_str();
    c->add_option("--corpus", s->co.corpus, "seed corpus directory (copied), or none")->capture_default_str();
    c->add_option("--out", s->co.out, "campaign folder (default: campaigns/<time>)");
    c->add_option("--seed", s->co.seed, "libFuzzer seed")->capture_default_str();
    c->add_flag("--no-sched-feedback", s->no_feedback, "turn the interleaving counters off");
    c->add_option("--triage-runs", s->co.triage_runs, "replays per finding in triage")->check(CLI::Range(1, 1000))->capture_default_str();
    c->add_flag("--no-build", s->co.no_build, "use the build as it is (score builds once for all its runs)");
    c->add_flag("--keep-going", s->co.keep_going, "fuzz on after a finding, for the whole budget (the worker restarts)");
    c->add_flag("--past-known-findings", s->co.past_known_findings,
                "kernel target: the file's known findings at rest and at teardown (kernel/known-findings.txt) end the "
                "run, not the fuzzing process, so the corpus grows past them (a patch review does this by itself)");
    c->add_flag("--no-coverage", s->no_coverage, "skip the llvm-cov coverage of allocator/ at the end");
    add_target_flags(c, s->co.target, true);
    return {c, [s] {
                auto b = duration_flag("--budget", s->budget);
                if (!b) return 2;
                s->co.budget_s = *b;
                s->co.sched_feedback = !s->no_feedback;
                s->co.coverage = !s->no_coverage;
                return run_campaign(s->co);
            }};
}

// replay, minimize, export-test: one input, the build its sidecar names.
std::vector<Subcommand> input_commands(CLI::App& app) {
    struct State {
        ToolInput in;
        TargetChoice target;
    };
    auto s = std::make_shared<State>();
    s->target.target.clear();
    auto* replay = app.add_subcommand("replay", "replay a finding with its interleaving and print the reproducer");
    replay->add_option("file", s->in.file, "crash input")->required();
    replay->add_option("--runs", s->in.runs, "replay N times; prints reproduced K/N")->check(CLI::Range(1, 100000));
    replay->add_flag("--rr", s->in.rr, "record the replay with rr where the machine allows it");
    auto* minimize = app.add_subcommand("minimize", "shrink a finding, keeping its failure signature");
    minimize->add_option("file", s->in.file, "crash input")->required();
    minimize->add_option("-o,--output", s->in.out, "output (default FILE.min)");
    auto* exp = app.add_subcommand("export-test", "write a finding as a readable GoogleTest case");
    exp->add_option("file", s->in.file, "crash input")->required();
    exp->add_option("-o,--output", s->in.out, "test file (default tests/regress/<name>_test.cpp)");
    exp->add_option("--name", s->in.name, "test name");
    for (CLI::App* c : {replay, minimize, exp}) {
        c->add_option("--mutant", s->in.mutant, "mutant (default: the sidecar's)");
        c->add_option("--sanitizer", s->in.sanitizer, "asan, ubsan or tsan (default: the sidecar's)");
        add_target_flags(c, s->target, false);
    }
    auto with_target = [s](int (*cmd)(const ToolInput&)) {
        return [s, cmd] {
            s->in.target = s->target;
            return cmd(s->in);
        };
    };
    return {{replay, with_target(&cmd_replay)}, {minimize, with_target(&cmd_minimize)}, {exp, with_target(&cmd_export_test)}};
}

Subcommand kernel_defect_command(CLI::App& app) {
    struct State {
        std::string name, out;
        TargetChoice target;
        bool unmodified = false;
    };
    auto s = std::make_shared<State>();
    auto* c = app.add_subcommand(
        "kernel-defect",
        "write a review defect, or a bug z3fold had upstream, as a patch of the kernel's mm/z3fold.c (prints its path)");
    std::string names;
    for (const std::string& n : kernel_defect_names()) names += (names.empty() ? "" : ", ") + n;
    c->add_option("name", s->name,
                  "a review defect or an upstream bug re-created by reverting its fix (" + names +
                      "): a patch of the fixed file, for --kernel-fixes --kernel-patch; or fixes (the fixes, a patch of "
                      "the pristine file)")
        ->required();
    c->add_option("-o,--output", s->out, "patch file (default build/kernel-src/defects/NAME.diff, or NAME.unmodified.diff)");
    c->add_option("--kernel-source", s->target.kernel_source, "kernel tree holding mm/z3fold.c");
    c->add_option("--kernel-version", s->target.kernel_version,
                  "for fixes: the series whose file they edit, 6.1 (default) or 6.12")
        ->check(CLI::IsMember({"6.1", "6.12"}));
    c->add_flag("--unmodified", s->unmodified,
                "a patch of the unmodified file (without the harness's fixes), for --kernel-patch alone");
    return {c, [s] { return cmd_kernel_defect(s->name, s->out, s->target, s->unmodified); }};
}

Subcommand kernel_report_command(CLI::App& app) {
    auto o = std::make_shared<KernelReportOptions>();
    auto* c = app.add_subcommand("kernel-report",
                                 "the fixes for what kernel campaigns found in mm/z3fold.c, as a checked "
                                 "git format-patch series with a cover letter");
    c->add_option("--from", o->from, "campaign folder(s) on the unmodified kernel file (repeatable)")->required();
    c->add_option("--out", o->out, "folder for the series (0000-cover-letter.patch, 0001-...)")->required();
    c->add_option("--signoff", o->signoff, "\"Name <email>\" for Signed-off-by (default: git's user.name and user.email)");
    c->add_option("--runs", o->runs, "replays of each finding before and with its fix")->check(CLI::Range(1, 1000));
    c->add_option("--verify-budget", o->verify_budget_s, "seconds of the campaign on the file with the whole series")
        ->check(CLI::Range(1.0, 86400.0));
    c->add_option("--also-check", o->also_check, "another z3fold.c: say whether it still has the code each fix changes");
    c->add_flag_callback("--no-compile", [o] { o->compile = false; },
                         "skip the W=1 compile in the real tree (it extracts and prepares Debian's full source once)");
    return {c, [o] { return cmd_kernel_report(*o); }};
}

Subcommand score_command(CLI::App& app) {
    struct State {
        ScoreOptions so;
        std::string budget = "60";
        bool no_feedback = false;
    };
    auto s = std::make_shared<State>();
    s->so.jobs = default_jobs();
    auto* c = app.add_subcommand("score", "a campaign per mutant: table of found / time to detect, and the mutation score");
    c->add_option("--budget-per-mutant", s->budget, "seconds (or 1m) per campaign")->capture_default_str();
    c->add_option("--seeds", s->so.seeds, "campaigns per mutant (median and max time to detect)")->check(CLI::Range(1, 1000));
    c->add_option("--mutant", s->so.only, "score only these mutants (repeat, or comma-separated)")->delimiter(',');
    c->add_option("--sanitizer", s->so.sanitizer, "asan, ubsan or tsan")->check(CLI::IsMember({"asan", "ubsan", "tsan"}));
    c->add_option("--json", s->so.json_path, "also write the table as JSON");
    c->add_flag("--no-sched-feedback", s->no_feedback, "turn the interleaving counters off");
    c->add_option("--jobs", s->so.jobs, "runs at a time (one core each)")->check(CLI::Range(1, 256))->capture_default_str();
    c->add_option("--engine", s->so.engine, "fuzzing engine")->check(CLI::IsMember({"libfuzzer", "afl"}))->capture_default_str();
    c->add_option("--corpus", s->so.corpus, "seed corpus for every campaign, or none")->capture_default_str();
    c->add_option("--kernel-allocator", s->so.kernel_allocator,
                  "score the seeded defects of Linux 6.12's mm/<allocator>.c instead (zbud or zsmalloc): a kernel "
                  "campaign per defect, found only with its patch")
        ->check(CLI::IsMember({"zbud", "zsmalloc"}));
    c->add_flag("--baseline", s->so.baseline,
                "also run each mutant through the real-thread stress baseline (ASan and TSan), same budget");
    return {c, [s] {
                auto b = duration_flag("--budget-per-mutant", s->budget);
                if (!b) return 2;
                s->so.budget_per_mutant = *b;
                s->so.sched_feedback = !s->no_feedback;
                return cmd_score(s->so);
            }};
}

std::vector<Subcommand> small_commands(CLI::App& app) {
    struct State {
        bool alloc = false, checkers = false, sizes = false, long_run = false;
        std::string only;
        std::string summary;
    };
    auto s = std::make_shared<State>();
    auto* mutants = app.add_subcommand("mutants", "list the seeded defects: NAME<TAB>CLASS<TAB>description");
    auto* bench = app.add_subcommand("bench", "print the switch-cost figures (last line: one JSON object)");
    bench->add_flag("--alloc", s->alloc, "also run the allocator benchmarks first");
    bench->add_flag("--checkers", s->checkers, "instead: what each checker costs, in executions per CPU second of the ASan fuzz target");
    bench->add_flag("--sizes", s->sizes,
                    "instead: executions per CPU second of the ASan fuzz target by program size (0-64 operations)");
    auto* knobs = app.add_subcommand("knobs", "list the Z3FH_* environment knobs: name, values, what each does");
    auto* test = app.add_subcommand("test", "build every preset and run all fast test suites, then the e2e checks");
    test->add_flag("--long", s->long_run, "also run 10-minute campaigns (evidence, not CI)");
    test->add_option("--only", s->only, "one stage: a preset (default, asan, ubsan, tsan, mutants), oss-fuzz, e2e or kernel")
        ->check(CLI::IsMember({"default", "asan", "ubsan", "tsan", "mutants", "oss-fuzz", "e2e", "kernel"}));
    test->add_option("--summary", s->summary, "also write the stage lines and counts to this file as JSON");
    return {{mutants, [] { return cmd_mutants(); }},
            {knobs, [] {
                 std::printf("%s", z3fh::fuzz::env_knob_table().c_str());
                 return 0;
             }},
            {bench, [s] { return cmd_bench(s->alloc, s->checkers, s->sizes); }},
            {test, [s] { return cmd_test(s->long_run, s->only, s->summary); }}};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"z3fh: fuzz the z3fold port for lifetime and concurrency bugs, replay and shrink what it finds"};
    app.require_subcommand(1);
    std::vector<Subcommand> commands = {campaign_command(app)};
    for (auto add : {&input_commands, &small_commands})
        for (Subcommand& c : add(app)) commands.push_back(c);
    for (auto add : {&kernel_defect_command, &kernel_report_command, &score_command}) commands.push_back(add(app));
    // A knob set to a value outside its table entry is an error, not the default.
    if (std::string why = z3fh::fuzz::check_env_knobs(); !why.empty()) {
        std::fprintf(stderr, "z3fh: %s (./z3fh knobs lists them)\n", why.c_str());
        return 2;
    }
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
    for (const Subcommand& c : commands)
        if (c.cli->parsed()) return c.run();
    return 2;
}
