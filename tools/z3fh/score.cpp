// z3fold-harden: `z3fh score`: a campaign per mutant (and per seed), a table
// of found / time to detect / kind, and the mutation score; with --baseline,
// the same mutants through the real-thread stress baseline under ASan and
// TSan, side by side. Runs are child processes, --jobs at a time.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "campaign.h"
#include "finding_json.h"
#include "commands.h"
#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

struct Outcome {
    bool found = false;
    double ttd = 0;
    std::string kind;
    bool tool_error = false;
};

std::string self_exe() {
    std::error_code ec;
    fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("z3fh") : p.string();
}

// The kind of a baseline finding, from the first line that names one: the
// baseline's own and the allocator's checks by their JSON lines, the
// sanitizers' by their report's first line.
std::string baseline_kind(const std::string& line) {
    static const std::regex asan(R"(ERROR: AddressSanitizer: ([\w-]+))");
    static const std::regex tsan(R"(WARNING: ThreadSanitizer: ([\w ()-]+?)(?: \(pid|$))");
    static const std::regex ubsan(R"(runtime error: (.{0,40}))");
    if (std::string k = finding_json_field(line, "==baseline== FINDING ", "kind"); !k.empty()) return k;
    if (std::string k = finding_json_field(line, kFindingJsonMarker, "kind"); !k.empty()) return "check:" + k;
    std::smatch m;
    if (std::regex_search(line, m, asan)) return "asan:" + m[1].str();
    if (std::regex_search(line, m, tsan)) return "tsan:" + m[1].str();
    if (std::regex_search(line, m, ubsan)) return "ubsan:" + m[1].str();
    return {};
}

Outcome run_baseline(const std::string& bin, const std::string& mutant, const std::string& sanitizer, double budget,
                     int seed, const std::string& log_path) {
    Context& ctx = Context::get();
    std::map<std::string, std::string> env = ctx.sanitizer_env(sanitizer);
    std::vector<std::string> argv = {bin, "--mutant", mutant, fmt::format("--seconds={}", budget),
                                     fmt::format("--seed={}", seed)};
    Outcome out;
    std::string log;
    auto t0 = std::chrono::steady_clock::now();
    auto now = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    // Grace beyond the budget for the last round's leak check; past it the
    // run is stuck in a way its own watchdog did not see.
    ProcResult r = run_process(
        argv, env,
        [&](const std::string& line) {
            log += line + "\n";
            if (out.kind.empty()) {
                std::string k = baseline_kind(line);
                if (!k.empty()) {
                    out.kind = k;
                    out.ttd = now();
                }
            }
        },
        "", static_cast<unsigned>(budget + 30));
    write_file(log_path, log);
    if (r.exit_code == 0) return Outcome{};
    if (r.exit_code < 0 || r.exit_code == 127 || r.exit_code == 2) {
        out.tool_error = true;
        return out;
    }
    out.found = true;
    if (out.kind.empty()) {
        out.kind = r.exit_code == 128 + 14 ? "timeout" : fmt::format("exit-{}", r.exit_code);
        out.ttd = now();
    }
    return out;
}

Outcome run_harness(const ScoreOptions& so, const std::string& mutant, int seed, const std::string& dir) {
    std::vector<std::string> argv = {self_exe(),
                                     "campaign",
                                     "--mutant",
                                     mutant,  // removed below for the control row
                                     fmt::format("--budget={}", so.budget_per_mutant),
                                     "--jobs=1",
                                     "--corpus",
                                     so.corpus,
                                     fmt::format("--seed={}", seed),
                                     "--sanitizer",
                                     so.sanitizer,
                                     "--engine",
                                     so.engine,
                                     "--out",
                                     dir,
                                     "--triage-runs=1",
                                     "--no-build",
                                     "--no-coverage"};
    if (!so.sched_feedback) argv.push_back("--no-sched-feedback");
    if (mutant == "none") argv.erase(argv.begin() + 2, argv.begin() + 4);
    std::string log;
    ProcResult r = run_process(argv, {}, [&](const std::string& l) { log += l + "\n"; });
    write_file(dir + ".log", log);
    Outcome out;
    if (r.exit_code != 0 && r.exit_code != 1) {
        out.tool_error = true;
        return out;
    }
    json rep;
    try {
        rep = json::parse(read_file(dir + "/report.json"));
    } catch (const std::exception&) {
        out.tool_error = true;
        return out;
    }
    if (!rep["findings"].empty()) {
        out.found = true;
        out.ttd = rep["findings"][0]["time_to_detect_s"].get<double>();
        out.kind = rep["findings"][0]["signature"].get<std::string>();
    }
    return out;
}

// One row of a table: the median (and max) over seeds of the found runs.
json summarize(const MutantEntry& m, const std::vector<Outcome>& runs) {
    std::vector<double> ttd;
    std::string kind;
    for (const Outcome& o : runs) {
        if (!o.found) continue;
        ttd.push_back(o.ttd);
        if (kind.empty()) kind = o.kind;
    }
    std::sort(ttd.begin(), ttd.end());
    bool found = !ttd.empty();
    return {{"name", m.name},
            {"class", m.cls},
            {"found", found},
            {"found_runs", ttd.size()},
            {"runs", runs.size()},
            {"time_to_detect_s", found ? json(ttd[ttd.size() / 2]) : json(nullptr)},
            {"time_to_detect_max_s", found ? json(ttd.back()) : json(nullptr)},
            {"kind", kind}};
}

std::string cell(const json& r) {
    if (!r["found"].get<bool>()) return fmt::format("{:<6} {:>7}", fmt::format("0/{}", r["runs"].get<int>()), "-");
    return fmt::format("{:<6} {:>7.2f}", fmt::format("{}/{}", r["found_runs"].get<int>(), r["runs"].get<int>()),
                       r["time_to_detect_s"].get<double>());
}

double median_found(const json& rows, size_t first) {
    std::vector<double> v;
    for (size_t i = first; i < rows.size(); i++)
        if (rows[i]["found"].get<bool>()) v.push_back(rows[i]["time_to_detect_s"].get<double>());
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

namespace {

// The mutants --mutant names (all without it); false after naming one that is not.
bool select_mutants(const ScoreOptions& so, std::vector<MutantEntry>* mutants) {
    Context& ctx = Context::get();
    *mutants = ctx.mutants();
    for (const std::string& name : so.only) {
        if (!ctx.is_mutant(name)) {
            std::fprintf(stderr, "z3fh: unknown mutant '%s' (see ./z3fh mutants)\n", name.c_str());
            return false;
        }
    }
    if (so.only.empty()) return true;
    mutants->erase(std::remove_if(mutants->begin(), mutants->end(),
                                  [&](const MutantEntry& m) {
                                      return std::find(so.only.begin(), so.only.end(), m.name) == so.only.end();
                                  }),
                   mutants->end());
    return true;
}

// Everything is built first: the runs then start at once and build time
// never counts as time to detect.
bool build_score_targets(const ScoreOptions& so, const std::vector<std::string>& baselines) {
    std::vector<bool> builds = {true};
    if (so.baseline) builds.push_back(false);  // the control row fuzzes the correct allocator
    for (bool with_mutants : builds) {
        std::fprintf(stderr, "z3fh: building the %s targets%s ...\n", so.engine.c_str(),
                     with_mutants ? " with the mutants" : "");
        if (!build_engines(so.engine, so.sanitizer, with_mutants)) return false;
    }
    for (const std::string& b : baselines) {
        std::fprintf(stderr, "z3fh: building baseline-%s ...\n", b.c_str());
        if (!Context::get().ensure_built("baseline-" + b, {"stress_baseline"})) return false;
    }
    return true;
}

struct ScorePlan {
    const ScoreOptions& so;
    const std::vector<MutantEntry>& mutants;
    const std::vector<std::string>& baselines;  // columns after the harness's
    std::string base;                           // the runs' folder
    size_t columns() const { return 1 + baselines.size(); }
    size_t per_mutant() const { return static_cast<size_t>(so.seeds) * columns(); }
};

// One task: mutant t / per_mutant, seed, column (0 harness, 1.. baselines).
// A run that failed to start or to report is tried once more (a binary
// being relinked under a long score, say).
Outcome run_score_task(const ScorePlan& p, size_t t, std::mutex& print_mu, std::string* what) {
    const MutantEntry& m = p.mutants[t / p.per_mutant()];
    const int seed = static_cast<int>((t % p.per_mutant()) / p.columns()) + 1;
    const size_t col = t % p.columns();
    Outcome o;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (col == 0) {
            o = run_harness(p.so, m.name, seed, fmt::format("{}/{}-seed{}", p.base, m.name, seed));
            *what = "harness";
        } else {
            const std::string& san = p.baselines[col - 1];
            o = run_baseline(Context::get().build_dir("baseline-" + san) + "/baseline/stress_baseline", m.name, san,
                             p.so.budget_per_mutant, seed, fmt::format("{}/{}-seed{}-baseline-{}.log", p.base, m.name, seed, san));
            *what = "baseline-" + san;
        }
        if (!o.tool_error) break;
        std::lock_guard<std::mutex> g(print_mu);
        std::fprintf(stderr, "z3fh: %s %s seed %d: the run failed to start or to report%s\n", m.name.c_str(),
                     what->c_str(), seed, attempt == 0 ? "; trying it once more" : "");
    }
    return o;
}

// Every task, so.jobs at a time; false (said) if one could not run.
bool run_score_tasks(const ScorePlan& p, std::vector<Outcome>* results) {
    const size_t total = p.mutants.size() * p.per_mutant();
    results->assign(total, Outcome{});
    std::atomic<size_t> next{0}, done{0};
    std::atomic<bool> failed{false};
    std::mutex print_mu;
    std::fprintf(stderr, "z3fh: %zu runs of %.0fs, %d at a time -> %s\n", total, p.so.budget_per_mutant, p.so.jobs,
                 p.base.c_str());
    auto worker = [&] {
        for (size_t t; (t = next.fetch_add(1)) < total && !failed.load();) {
            std::string what;
            const Outcome o = run_score_task(p, t, print_mu, &what);
            (*results)[t] = o;
            if (o.tool_error) failed = true;
            std::lock_guard<std::mutex> g(print_mu);
            std::fprintf(stderr, "[%zu/%zu] %-26s %-14s %s\n", done.fetch_add(1) + 1, total,
                         p.mutants[t / p.per_mutant()].name.c_str(), what.c_str(),
                         o.tool_error ? "TOOL ERROR (see the log in the score folder)"
                         : o.found    ? fmt::format("found after {:.2f}s: {}", o.ttd, o.kind).c_str()
                                      : "not found");
        }
    };
    std::vector<std::thread> pool;
    for (int j = 0; j < p.so.jobs; j++) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
    if (failed) std::fprintf(stderr, "z3fh: a run failed to start or to report; logs in %s\n", p.base.c_str());
    return !failed;
}

// A table per column, a row per mutant. With --baseline, row 0 is the
// control: a mutant's finding of the same kind as its column's control
// finding is not counted (it is not the mutant's).
std::vector<json> score_tables(const ScorePlan& p, const std::vector<Outcome>& results) {
    std::vector<json> tables(p.columns(), json::array());
    for (size_t i = 0; i < p.mutants.size(); i++)
        for (size_t c = 0; c < p.columns(); c++) {
            std::vector<Outcome> runs;
            for (int s = 0; s < p.so.seeds; s++)
                runs.push_back(results[i * p.per_mutant() + static_cast<size_t>(s) * p.columns() + c]);
            tables[c].push_back(summarize(p.mutants[i], runs));
        }
    for (json& rows : tables) {
        if (!p.so.baseline || !rows[0]["found"].get<bool>()) continue;
        for (size_t i = 1; i < rows.size(); i++)
            if (rows[i]["found"].get<bool>() && rows[i]["kind"] == rows[0]["kind"]) {
                rows[i]["found"] = false;
                rows[i]["kind"] = rows[i]["kind"].get<std::string>() + " (= control)";
            }
    }
    return tables;
}

int found_in(const json& rows, size_t first) {
    int n = 0;
    for (size_t i = first; i < rows.size(); i++) n += rows[i]["found"].get<bool>();
    return n;
}

void print_score(const ScorePlan& p, const std::vector<json>& tables, size_t first) {
    std::string head = fmt::format("\n{:<28} {:<30} {:<14} {:<36}", "mutant", "class", "harness", "finding");
    for (const std::string& b : p.baselines) head += fmt::format(" {:<14} {:<24}", "baseline-" + b, "finding");
    std::printf("%s\n", head.c_str());
    for (size_t i = 0; i < p.mutants.size(); i++) {
        const json& r = tables[0][i];
        std::string line = fmt::format("{:<28} {:<30} {:<14} {:<36}", r["name"].get<std::string>(),
                                       r["class"].get<std::string>(), cell(r), r["kind"].get<std::string>());
        for (size_t c = 1; c < p.columns(); c++)
            line += fmt::format(" {:<14} {:<24}", cell(tables[c][i]), tables[c][i]["kind"].get<std::string>());
        std::printf("%s\n", line.c_str());
    }
    const size_t scored = p.mutants.size() - first;
    std::printf("mutation score: harness %d/%zu (median time to detect %.2fs)", found_in(tables[0], first), scored,
                median_found(tables[0], first));
    for (size_t c = 1; c < p.columns(); c++)
        std::printf(", baseline-%s %d/%zu (median %.2fs)", p.baselines[c - 1].c_str(), found_in(tables[c], first),
                    scored, median_found(tables[c], first));
    std::printf("\n(budget %.0fs per run, %d seed(s), interleaving feedback %s)\n", p.so.budget_per_mutant, p.so.seeds,
                p.so.sched_feedback ? "on" : "off");
}

json score_json(const ScorePlan& p, const std::vector<json>& tables, size_t first) {
    const size_t scored = p.mutants.size() - first;
    auto scored_rows = [&](const json& rows) {
        return json(std::vector<json>(rows.begin() + static_cast<long>(first), rows.end()));
    };
    json out = {{"mutants", scored_rows(tables[0])}, {"found", found_in(tables[0], first)}, {"total", scored},
                {"engine", p.so.engine}, {"sanitizer", p.so.sanitizer}, {"sched_feedback", p.so.sched_feedback},
                {"budget_per_mutant_s", p.so.budget_per_mutant}, {"seeds", p.so.seeds}, {"runs_folder", p.base}};
    for (size_t c = 1; c < p.columns(); c++)
        out["baseline"][p.baselines[c - 1]] = {{"mutants", scored_rows(tables[c])}, {"found", found_in(tables[c], first)},
                                               {"total", scored}};
    if (p.so.baseline) {
        out["control"]["harness"] = tables[0][0];
        for (size_t c = 1; c < p.columns(); c++) out["control"]["baseline-" + p.baselines[c - 1]] = tables[c][0];
    }
    return out;
}

}  // namespace

int cmd_score(const ScoreOptions& so) {
    if (!so.kernel_allocator.empty()) return cmd_kernel_score(so);
    if (so.engine != "libfuzzer" && so.sanitizer != "asan") {
        std::fprintf(stderr, "z3fh: score --engine %s runs with --sanitizer asan (ASan+UBSan); TSan and UBSan-only "
                             "scores run with --engine libfuzzer\n", so.engine.c_str());
        return 2;
    }
    std::vector<MutantEntry> mutants;
    if (!select_mutants(so, &mutants)) return 2;
    // With --baseline, a control row first: every engine on the correct allocator.
    if (so.baseline) mutants.insert(mutants.begin(), MutantEntry{"none", "control", "no mutant"});
    const std::vector<std::string> baselines =
        so.baseline ? std::vector<std::string>{"asan", "tsan"} : std::vector<std::string>{};
    if (!build_score_targets(so, baselines)) return 2;
    ScorePlan p{so, mutants, baselines, Context::get().root() + "/build/score/" + now_stamp()};
    std::error_code ec;
    fs::create_directories(p.base, ec);
    std::vector<Outcome> results;
    if (!run_score_tasks(p, &results)) return 2;
    const std::vector<json> tables = score_tables(p, results);
    const size_t first = so.baseline ? 1 : 0;  // rows before it are the control
    print_score(p, tables, first);
    if (!so.json_path.empty() && !write_file(so.json_path, score_json(p, tables, first).dump(2) + "\n")) {
        std::fprintf(stderr, "z3fh: cannot write %s\n", so.json_path.c_str());
        return 2;
    }
    return 0;
}

}  // namespace z3fh::tool
