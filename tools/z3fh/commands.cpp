// z3fold-harden: test, mutants, replay, minimize, export-test (the last three
// pick the build from the crash's sidecar and hand over to its z3fh-run).
#include "commands.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "campaign.h"
#include "context.h"
#include "driver_result.h"
#include "e2e_checks.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

int cmd_mutants() {
    auto ms = Context::get().mutants();
    if (ms.empty()) {
        std::fprintf(stderr, "z3fh: no mutant catalogue at %s/allocator/mutants.def\n", Context::get().root().c_str());
        return 2;
    }
    for (const MutantEntry& m : ms) std::printf("%s\t%s\t%s\n", m.name.c_str(), m.cls.c_str(), m.description.c_str());
    return 0;
}

namespace {

// Executions per CPU second of the ASan + UBSan target running `argv`
// (`runs` programs), quietly; nullopt (and a message) if it failed.
std::optional<double> target_rate(const std::vector<std::string>& argv, size_t runs,
                                  const std::map<std::string, std::string>& env, const std::string& what) {
    ProcResult r = run_process(argv, env, [](const std::string&) {});
    if (r.exit_code != 0 || r.cpu_s <= 0) {
        std::fprintf(stderr, "z3fh: bench: the target exited %d (%s)\n", r.exit_code, what.c_str());
        return std::nullopt;
    }
    return static_cast<double>(runs) / r.cpu_s;
}

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// What each checker costs: the libFuzzer target (ASan + UBSan) runs the seed
// corpus, repeated, with every checker on and with each turned off
// (Z3FH_CHECKS_OFF), the settings interleaved over rounds; the figure is the
// median (and the best) of executions per CPU second of the target: its own
// CPU time, so a busy second core matters less than to wall time. On these
// VMs one setting's runs still spread by up to 1.5x: differences below
// that are noise, which the best figure shows least.
int bench_checkers() {
    Context& ctx = Context::get();
    const std::string preset = Context::fuzz_preset("asan", false);
    if (!ctx.ensure_built(preset, {"z3fold_fuzz"})) return 2;
    std::vector<std::string> seeds;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::path(ctx.root()) / "corpus", ec))
        if (e.path().extension() == ".z3fp") seeds.push_back(e.path().string());
    if (seeds.empty()) {
        std::fprintf(stderr, "z3fh: bench --checkers: no seed programs in %s/corpus\n", ctx.root().c_str());
        return 2;
    }
    std::sort(seeds.begin(), seeds.end());
    constexpr int kRepeats = 50, kRounds = 8;  // 8 rounds: each setting first once
    std::vector<std::string> argv{ctx.build_dir(preset) + "/fuzz/z3fold_fuzz"};
    for (int i = 0; i < kRepeats; i++) argv.insert(argv.end(), seeds.begin(), seeds.end());
    const size_t runs = argv.size() - 1;
    const std::vector<std::string> off{"",           "step",           "step-skip",  "lock-order", "potential-deadlock",
                                       "held-at-return", "might-sleep", "step,lock-order,held-at-return,might-sleep"};
    std::vector<std::vector<double>> rates(off.size());
    for (int round = 0; round < kRounds; round++) {
        // Each round starts at another setting: whichever runs first in a
        // round measured slower, whatever it was.
        for (size_t k = 0; k < off.size(); k++) {
            const size_t c = (k + static_cast<size_t>(round)) % off.size();
            auto env = ctx.sanitizer_env("asan");
            env["Z3FH_CHECKS_OFF"] = off[c];
            auto r = target_rate(argv, runs, env, "Z3FH_CHECKS_OFF=" + off[c]);
            if (!r) return 2;
            rates[c].push_back(*r);
        }
    }
    const double all_on = median_of(rates[0]);
    const double all_on_best = *std::max_element(rates[0].begin(), rates[0].end());
    std::printf("%-46s %16s %10s %10s %10s\n", "turned off", "median execs/s", "vs all on", "best", "vs all on");
    json figures = json::object();
    for (size_t c = 0; c < off.size(); c++) {
        double m = median_of(rates[c]);
        double best = *std::max_element(rates[c].begin(), rates[c].end());
        std::printf("%-46s %16.0f %9.2fx %10.0f %9.2fx\n",
                    off[c].empty() ? "(nothing: every checker on)" : off[c].c_str(), m, m / all_on, best,
                    best / all_on_best);
        figures[off[c].empty() ? "all_on" : off[c]] = {{"median", std::lround(m)}, {"best", std::lround(best)}};
    }
    std::printf("%s\n", json{{"checker_cost_execs_per_cpu_s", figures}, {"runs_per_setting", runs},
                             {"rounds", kRounds}, {"preset", preset}}
                             .dump()
                             .c_str());
    return 0;
}

// What a program's size costs: random programs of exactly K operations
// (K = 0 ... 64), each size's rate with every checker on and with the
// per-step checks off, sizes interleaved over rounds. The ASan + UBSan
// driver runs them in one process as the fuzz target runs an input, timing
// only the runs (no file reading, no engine), each process first warmed to
// ASan's steady state (z3fh-run time). A process's rate varies by up to a
// third from one process to the next on these VMs (its memory layout), so
// nine rounds, each a fresh process, and the median with the range. With each size's mean
// scheduling steps, this is the curve an executions-per-second target for
// "a program" has to be read against (measured: docs/results.md and the git history of docs/performance.md).
int bench_sizes() {
    Context& ctx = Context::get();
    const std::string preset = Context::fuzz_preset("asan", false);
    if (!ctx.ensure_built(preset, {"z3fh-run"}) || !ctx.ensure_built("default", {"z3fh-run"})) return 2;
    const std::vector<int> sizes{0, 4, 8, 16, 32, 64};
    constexpr int kPrograms = 100, kRepeats = 20, kRounds = 9;
    std::vector<std::vector<std::string>> argvs;
    for (int k : sizes) {
        const std::string dir = fmt::format("{}/build/bench-sizes/{}", ctx.root(), k);
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::create_directories(dir, ec);  // a fresh tree has no build/bench-sizes yet
        int code = 0;
        (void)run_capture({ctx.build_dir("default") + "/tools/run/z3fh-run", "seeds", dir, "--count",
                           std::to_string(kPrograms), "--ops", std::to_string(k)},
                          {}, &code);
        if (code != 0) {
            std::fprintf(stderr, "z3fh: bench --sizes: writing the %d-operation programs failed (exit %d)\n", k, code);
            return 2;
        }
        std::vector<std::string> argv{ctx.build_dir(preset) + "/tools/run/z3fh-run", "time", "--repeat",
                                      std::to_string(kRepeats)};
        for (const auto& e : fs::directory_iterator(dir, ec)) argv.push_back(e.path().string());
        std::sort(argv.begin() + 4, argv.end());
        argvs.push_back(argv);
    }
    std::vector<std::vector<double>> on(sizes.size()), step_off(sizes.size());
    std::vector<double> mean_steps(sizes.size());
    for (int round = 0; round < kRounds; round++) {
        for (size_t i = 0; i < sizes.size(); i++) {
            const size_t s = (i + static_cast<size_t>(round)) % sizes.size();
            auto env = ctx.sanitizer_env("asan");
            for (bool off : {false, true}) {
                env["Z3FH_CHECKS_OFF"] = off ? "step" : "";
                int code = 0;
                json j = json::parse(run_capture(argvs[s], env, &code), nullptr, false);
                if (code != 0 || j.is_discarded() || !j.contains("execs_per_cpu_s")) {
                    std::fprintf(stderr, "z3fh: bench --sizes: timing the %d-operation programs failed (exit %d)\n",
                                 sizes[s], code);
                    return 2;
                }
                (off ? step_off : on)[s].push_back(j["execs_per_cpu_s"].get<double>());
                mean_steps[s] = j["mean_steps"].get<double>();
            }
        }
    }
    std::printf("%10s %12s %22s %18s %12s %30s\n", "operations", "mean steps", "execs/CPU-s, all on", "(min - max)",
                "us an exec", "execs/CPU-s, step checks off");
    json rows = json::array();
    for (size_t s = 0; s < sizes.size(); s++) {
        const double m = median_of(on[s]), m_off = median_of(step_off[s]);
        const auto [lo, hi] = std::minmax_element(on[s].begin(), on[s].end());
        std::printf("%10d %12.1f %22.0f %8.0f - %7.0f %12.1f %30.0f\n", sizes[s], mean_steps[s], m, *lo, *hi, 1e6 / m,
                    m_off);
        rows.push_back({{"ops", sizes[s]}, {"mean_steps", mean_steps[s]}, {"execs_per_cpu_s", std::lround(m)},
                        {"execs_per_cpu_s_min", std::lround(*lo)}, {"execs_per_cpu_s_max", std::lround(*hi)},
                        {"execs_per_cpu_s_step_checks_off", std::lround(m_off)}});
    }
    std::printf("%s\n", json{{"rate_by_program_size", rows}, {"programs_per_size", kPrograms},
                             {"runs_per_measure", kPrograms * kRepeats}, {"rounds", kRounds}, {"preset", preset}}
                             .dump()
                             .c_str());
    return 0;
}

}  // namespace

int cmd_bench(bool alloc, bool checkers, bool sizes) {
    if (checkers) return bench_checkers();
    if (sizes) return bench_sizes();
    Context& ctx = Context::get();
    if (!ctx.ensure_built("default", {"switch_bench", "alloc_bench"})) return 2;
    if (alloc) {
        int rc = run_process({ctx.build_dir("default") + "/bench/alloc_bench", "--benchmark_min_time=0.2"}, {}).exit_code;
        if (rc != 0) return 2;
    }
    // Its last line is the JSON object.
    return run_process({ctx.build_dir("default") + "/bench/switch_bench"}, {}).exit_code == 0 ? 0 : 2;
}

namespace {

// Mutant, sanitizer and target for an input: flags win, then the sidecar.
// *mutant_build: the input came from the mutant build (a named mutant, or
// the sidecar of a `campaign --mutant none` finding).
bool resolve_build(const ToolInput& in, std::string* mutant, std::string* sanitizer, std::string* strategy,
                   std::string* user, TargetChoice* target, bool* mutant_build) {
    *mutant_build = false;
    *mutant = in.mutant;
    *sanitizer = in.sanitizer;
    *strategy = "input";
    *user = "any";
    *target = in.target;
    std::string side = in.file + ".json";
    bool have_side = fs::exists(side);
    if (have_side) {
        try {
            json j = json::parse(read_file(side));
            if (mutant->empty()) {
                *mutant = j.value("mutant", "none");
                *mutant_build = j.value("mutant_build", false);
            }
            if (sanitizer->empty()) *sanitizer = j.value("sanitizer", "asan");
            *strategy = j.value("strategy", "input");
            *user = j.value("user", "any");
            if (target->target.empty()) {
                target->target = j.value("target", "port");
                if (target->kernel_source.empty()) target->kernel_source = j.value("kernel_source", "");
                if (target->kernel_patch.empty()) target->kernel_patch = j.value("kernel_patch", "");
                target->kernel_fixes = !target->no_kernel_fixes && (target->kernel_fixes || j.value("kernel_fixes", false));
                if (target->kernel_version.empty()) target->kernel_version = j.value("kernel_series", "");
                if (target->allocator.empty()) target->allocator = j.value("allocator", "");
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "z3fh: %s: unreadable sidecar: %s\n", side.c_str(), e.what());
            return false;
        }
    } else if (mutant->empty() && sanitizer->empty()) {
        std::fprintf(stderr,
                     "z3fh: %s has no sidecar (%s); say --mutant NAME|none and --sanitizer asan|ubsan|tsan\n",
                     in.file.c_str(), side.c_str());
        return false;
    }
    if (mutant->empty()) *mutant = "none";
    if (sanitizer->empty()) *sanitizer = "asan";
    if (target->kernel_patch == "none") target->kernel_patch.clear();  // explicitly no patch
    if (target->target.empty()) target->target = "port";
    if (target->target != "port" && target->target != "kernel") {
        std::fprintf(stderr, "z3fh: unknown target '%s' (port or kernel)\n", target->target.c_str());
        return false;
    }
    if (target->target == "kernel" && *mutant != "none") {
        std::fprintf(stderr, "z3fh: mutants are the port's; the kernel target takes --kernel-patch\n");
        return false;
    }
    if (*sanitizer != "asan" && *sanitizer != "ubsan" && *sanitizer != "tsan") {
        std::fprintf(stderr, "z3fh: unknown sanitizer '%s' (asan, ubsan or tsan)\n", sanitizer->c_str());
        return false;
    }
    if (*mutant != "none" && !Context::get().is_mutant(*mutant)) {
        std::fprintf(stderr, "z3fh: unknown mutant '%s' (see ./z3fh mutants)\n", mutant->c_str());
        return false;
    }
    return true;
}

// The input's own z3fh-run (built on demand) with its mutant, sanitizer
// and target, ready to run `args`; nullopt after a message on error.
struct DriverCall {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
};
std::optional<DriverCall> prepare_driver(const ToolInput& in, const std::vector<std::string>& args) {
    struct stat st {};
    if (stat(in.file.c_str(), &st) != 0) {
        std::fprintf(stderr, "z3fh: %s: no such file\n", in.file.c_str());
        return std::nullopt;
    }
    if (S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "z3fh: %s: is a directory, not an input file\n", in.file.c_str());
        return std::nullopt;
    }
    std::string mutant, sanitizer, strategy, user;
    TargetChoice target;
    bool mutant_build = false;
    if (!resolve_build(in, &mutant, &sanitizer, &strategy, &user, &target, &mutant_build)) return std::nullopt;
    Context& ctx = Context::get();
    std::string preset = Context::fuzz_preset(sanitizer, mutant_build || mutant != "none");
    DriverCall call;
    if (target.target == "kernel") {
        auto k = prepare_kernel_file(target);
        std::string dir = k ? ensure_kernel_built(preset, *k, {"z3fh-run-kernel"}) : "";
        if (dir.empty()) return std::nullopt;
        call.argv = {dir + "/kernel/z3fh-run-kernel"};
    } else {
        if (!ctx.ensure_built(preset, {"z3fh-run"})) return std::nullopt;
        call.argv = {ctx.build_dir(preset) + "/tools/run/z3fh-run"};
    }
    call.argv.insert(call.argv.end(), args.begin(), args.end());
    if (mutant != "none") {
        call.argv.push_back("--mutant");
        call.argv.push_back(mutant);
    }
    call.env = ctx.sanitizer_env(sanitizer);
    if (strategy != "input") call.env["Z3FH_STRATEGY"] = strategy;
    if (user != "any") call.env["Z3FH_USER"] = user;
    return call;
}

int hand_over(const ToolInput& in, const std::vector<std::string>& args) {
    auto call = prepare_driver(in, args);
    if (!call) return 2;
    return run_process(call->argv, call->env).exit_code;
}

// rr needs hardware performance counters; say so plainly when there are none.
bool rr_can_record(std::string* why) {
    if (!on_path("rr")) {
        *why = "rr is not installed (apt-get install rr)";
        return false;
    }
    std::ifstream f("/proc/sys/kernel/perf_event_paranoid");
    int paranoid = 2;
    f >> paranoid;
    if (paranoid > 1) {
        *why = fmt::format("kernel.perf_event_paranoid is {} (rr needs <= 1)", paranoid);
        return false;
    }
    int rc = run_process({"rr", "record", "-n", "true"}, {}, [](const std::string&) {}).exit_code;
    if (rc != 0) {
        *why = "a trial `rr record true` failed (no hardware performance counters on this machine?)";
        return false;
    }
    return true;
}

}  // namespace

int cmd_replay(const ToolInput& in) {
    if (in.rr) {
        auto call = prepare_driver(in, {"replay", in.file});
        if (!call) return 2;
        std::string why;
        if (!rr_can_record(&why)) {
            std::printf("rr: cannot record here: %s; falling back to the deterministic schedule replay.\n", why.c_str());
            std::string cmd = "gdb -ex 'break __sanitizer::Die' -ex 'break abort' -ex run --args env";
            for (const auto& [k, v] : call->env) cmd += " " + k + "='" + v + "'";
            for (const std::string& a : call->argv) cmd += " '" + a + "'";
            std::printf("debugger: %s\n", cmd.c_str());
        } else {
            std::printf("rr: recording; then run: rr replay\n");
            std::vector<std::string> argv = {"rr", "record"};
            argv.insert(argv.end(), call->argv.begin(), call->argv.end());
            return run_process(argv, call->env).exit_code;
        }
    }
    // The decisions recorded when the finding was triaged: replayed step by
    // step, so a build that changed under the finding says where the
    // schedule went stale instead of quietly running something else.
    std::vector<std::string> args = {"replay", in.file, fmt::format("--runs={}", in.runs)};
    if (fs::exists(in.file + ".sched")) {
        args.push_back("--schedule");
        args.push_back(in.file + ".sched");
    }
    return hand_over(in, args);
}

int cmd_minimize(const ToolInput& in) {
    std::string out = in.out.empty() ? in.file + ".min" : in.out;
    int rc = hand_over(in, {"minimize", in.file, "-o", out});
    if (rc == 0 && fs::exists(in.file + ".json")) {
        std::error_code ec;
        fs::copy_file(in.file + ".json", out + ".json", fs::copy_options::overwrite_existing, ec);
    }
    return rc;
}

int cmd_export_test(const ToolInput& in) {
    std::string out = in.out;
    if (out.empty()) {
        std::string base = fs::path(in.file).filename().string();
        std::string clean;
        for (char c : base.substr(0, 24)) clean += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        out = Context::get().root() + "/tests/regress/" + clean + "_test.cpp";
    }
    std::vector<std::string> args = {"export-test", in.file, "-o", out};
    if (!in.name.empty()) {
        args.push_back("--name");
        args.push_back(in.name);
    }
    return hand_over(in, args);
}

namespace {

// What `z3fh test` prints at the end: a line per stage or check.
struct TestSummary {
    std::vector<std::string> lines;
    int passed = 0, failed = 0;
    void record(const std::string& line, bool ok) {
        lines.push_back(line);
        (ok ? passed : failed)++;
    }
    void check(const std::string& what, const std::string& err) {
        record(fmt::format("e2e {:<22} {}{}", what, err.empty() ? "passed" : "FAILED", err.empty() ? "" : " (" + err + ")"),
               err.empty());
    }
};

void preset_stages(const std::string& only, TestSummary& sum) {
    Context& ctx = Context::get();
    for (const std::string p : {"default", "asan", "ubsan", "tsan", "mutants"}) {
        if (!only.empty() && only != p) continue;
        std::fprintf(stderr, "\n=== preset %s: configure, build, test ===\n", p.c_str());
        int rc = run_process({"cmake", "--workflow", "--preset", p}, {}, {}, ctx.root()).exit_code;
        sum.record(fmt::format("preset {:<8} {}", p, rc == 0 ? "passed" : "FAILED"), rc == 0);
    }
    if (only.empty() || only == "oss-fuzz") {
        std::fprintf(stderr, "\n=== OSS-Fuzz build check (address/undefined libFuzzer, AFL++; libc++) ===\n");
        int rc = run_process({ctx.root() + "/ci/check-oss-fuzz-build", "--keep", ctx.build_dir("oss-fuzz")}, {}, {},
                             ctx.root())
                     .exit_code;
        sum.record(fmt::format("oss-fuzz build check  {}", rc == 0 ? "passed" : "FAILED"), rc == 0);
    }
}

// rr: these VMs cannot record (no hardware performance counters); the tool
// must say so in one line and fall back to the schedule replay with a ready
// gdb command. Where rr can record, it must record.
std::string check_replay_rr() {
    Context& ctx = Context::get();
    json r = json::parse(read_file(ctx.root() + "/build/e2e/reclaim-put-then-lru/report.json"), nullptr, false);
    if (!r.is_object() || r["findings"].empty()) return "no e2e finding to replay";
    const std::string input = ctx.root() + "/build/e2e/reclaim-put-then-lru/" + r["findings"][0]["input"].get<std::string>();
    int rc = -1;
    std::string out = run_capture({"/proc/self/exe", "replay", "--rr", input}, {}, &rc);
    std::string why;
    const bool can = rr_can_record(&why);
    if (rc != 1) return fmt::format("exit {}", rc);
    if (can && out.find("rr: recording") == std::string::npos) return "rr can record here but did not";
    if (!can && (out.find("rr: cannot record here: " + why) == std::string::npos ||
                 out.find("debugger: gdb") == std::string::npos || driver_result(out).value("reproduced", 0) != 1))
        return "no one-line reason, gdb command and schedule replay";
    return "";
}

void e2e_stage(TestSummary& sum) {
    // Each review mutant is found by a short campaign, and the finding's
    // input runs clean with no mutant selected.
    for (const std::string m : {"release-unlinks", "get-unless-zero", "under-reclaim-bit", "reclaim-put-then-lru"})
        sum.check(m, check_mutant_campaign(m, m, "libfuzzer", 1, 60));
    // AFL++: one instance stops at its finding; both engines side by side
    // fuzz the whole (short) budget.
    sum.check("afl-release-unlinks", check_mutant_campaign("afl-release-unlinks", "release-unlinks", "afl", 1, 60));
    sum.check("both-reclaim-put", check_mutant_campaign("both-reclaim-put", "reclaim-put-then-lru", "both", 2, 30));
    std::fprintf(stderr, "\n=== e2e: replay --rr (detection and fallback) ===\n");
    sum.check("replay-rr-fallback", check_replay_rr());
    std::fprintf(stderr, "\n=== e2e: report.html in headless chromium ===\n");
    sum.check("report-in-browser", check_report_in_browser(Context::get().root() + "/build/e2e/reclaim-put-then-lru"));
    std::fprintf(stderr, "\n=== e2e: campaign killed after its first crash, then resumed (--out SAME) ===\n");
    sum.check("kill-and-resume", check_kill_and_resume("reclaim-put-then-lru"));
    std::fprintf(stderr, "\n=== e2e: Ctrl-C mid-campaign still writes the report ===\n");
    sum.check("interrupt-writes-report", check_interrupt_writes_report("reclaim-put-then-lru"));
}

// The e2e and kernel stages side by side, each `z3fh test --only STAGE` in a
// process of its own: most of their time is one-job campaigns and replays,
// so together they keep both cores busy. Their output is streamed with the
// stage's name in front; each writes its summary as JSON for this one.
void stages_side_by_side(const std::vector<std::string>& stages, TestSummary& sum) {
    const std::string dir = Context::get().root() + "/build/test-stages";
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::mutex out;
    std::vector<int> codes(stages.size(), -1);
    std::vector<std::thread> runs;
    for (size_t i = 0; i < stages.size(); i++) {
        fs::remove(dir + "/" + stages[i] + ".json", ec);
        runs.emplace_back([&, i] {
            const std::string& st = stages[i];
            codes[i] = run_process({"/proc/self/exe", "test", "--only", st, "--summary", dir + "/" + st + ".json"}, {},
                                   [&](const std::string& line) {
                                       std::lock_guard<std::mutex> lock(out);
                                       std::fprintf(stderr, "[%s] %s\n", st.c_str(), line.c_str());
                                   })
                           .exit_code;
        });
    }
    for (std::thread& t : runs) t.join();
    for (size_t i = 0; i < stages.size(); i++) {
        json r = json::parse(read_file(dir + "/" + stages[i] + ".json"), nullptr, false);
        if (!r.is_object() || !r["lines"].is_array()) {
            sum.record(fmt::format("stage {:<17} FAILED (exit {}, no summary)", stages[i], codes[i]), false);
            continue;
        }
        for (const json& l : r["lines"]) sum.lines.push_back(l.get<std::string>());
        sum.passed += r.value("passed", 0);
        sum.failed += r.value("failed", 0);
    }
}

}  // namespace

int cmd_test(bool long_run, const std::string& only, const std::string& summary_out) {
    TestSummary sum;
    preset_stages(only, sum);
    if (only.empty()) stages_side_by_side({"kernel", "e2e"}, sum);
    if (only == "e2e") e2e_stage(sum);
    if (only == "kernel") sum.failed += check_kernel_target(&sum.lines, &sum.passed);
    if (long_run) {
        for (const char* san : {"asan", "tsan"}) {
            CampaignOptions o;
            o.budget_s = 600;
            o.jobs = 2;
            o.sanitizer = san;
            o.out = Context::get().root() + "/build/long/" + std::string(san);
            int rc = run_campaign(o);
            sum.record(fmt::format("long campaign {} {}", san, rc == 0 ? "passed" : "FAILED"), rc == 0);
        }
    }
    if (!summary_out.empty()) {
        std::ofstream f(summary_out);
        f << json{{"lines", sum.lines}, {"passed", sum.passed}, {"failed", sum.failed}}.dump(1) << "\n";
    }
    std::printf("\n");
    for (const std::string& line : sum.lines) std::printf("%s\n", line.c_str());
    std::printf("%d passed, %d failed\n", sum.passed, sum.failed);
    return sum.failed ? 1 : 0;
}

}  // namespace z3fh::tool
