// z3fold-harden: the campaign: the fuzzing engine as a child process, its
// output parsed live, every crash given a sidecar at once, then triage
// (replay K/N, minimise, reproducer, exported test) and the reports.
#include "campaign.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include "afl_engine.h"
#include "context.h"
#include "coverage.h"
#include "proc.h"
#include "program/program.h"
#include "report_html.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

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

// The first Ctrl-C stops the engines (SIGINT reaches them through us) and
// triage follows, as when the budget ends; a second one stops triage too
// (the rest listed untriaged). The report is written either way.
std::atomic<int> g_interrupts{0};
void on_sigint(int) {
    static const char first[] = "\nz3fh: stopping the engines; triage and the report follow (Ctrl-C again to skip triage)\n";
    static const char again[] = "\nz3fh: skipping the rest of triage; writing the report\n";
    int n = ++g_interrupts;
    ssize_t ignored = n == 1 ? write(2, first, sizeof first - 1) : write(2, again, sizeof again - 1);
    (void)ignored;
    signal_children(SIGINT);
}

// Run z3fh-run in the same build and collect its output.
std::string run_driver(const std::string& driver, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, int* code) {
    std::vector<std::string> argv = {driver};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_capture(argv, env, code);
}

std::string match1(const std::string& s, const std::regex& re) {
    std::smatch m;
    return std::regex_search(s, m, re) ? m[1].str() : std::string();
}

}  // namespace

EngineBinaries engine_binaries(const std::string& sanitizer, bool mutants) {
    Context& ctx = Context::get();
    const std::string lf = ctx.build_dir(Context::fuzz_preset(sanitizer, mutants));
    const std::string m = mutants ? "-mutants" : "";
    return {lf + "/fuzz/z3fold_fuzz", lf + "/tools/run/z3fh-run", ctx.build_dir("afl" + m) + "/fuzz/z3fold_fuzz_afl",
            ctx.build_dir("afl-cmplog" + m) + "/fuzz/z3fold_fuzz_afl",
            ctx.build_dir("default") + "/fuzz/libz3fh_afl_mutator.so"};
}

bool build_engines(const std::string& engine, const std::string& sanitizer, bool mutants, double* seconds) {
    Context& ctx = Context::get();
    const std::string m = mutants ? "-mutants" : "";
    // The libFuzzer tree always: its z3fh-run replays and shrinks for both engines.
    std::vector<std::string> lf_targets = {"z3fh-run"};
    if (engine != "afl") lf_targets.push_back("z3fold_fuzz");
    if (!ctx.ensure_built(Context::fuzz_preset(sanitizer, mutants), lf_targets, seconds)) return false;
    if (engine == "libfuzzer") return true;
    if (!afl_available()) {
        std::fprintf(stderr, "z3fh: afl-fuzz and afl-clang-fast++ are not installed (Debian package afl++)\n");
        return false;
    }
    return ctx.ensure_built("afl" + m, {"z3fold_fuzz_afl"}, seconds) &&
           ctx.ensure_built("afl-cmplog" + m, {"z3fold_fuzz_afl"}, seconds) &&
           ctx.ensure_built("default", {"z3fh_afl_mutator"}, seconds);
}

int run_campaign(const CampaignOptions& o) {
    Context& ctx = Context::get();
    if (!o.mutant.empty() && o.mutant != "none" && !ctx.is_mutant(o.mutant)) {
        std::fprintf(stderr, "z3fh: unknown mutant '%s' (see ./z3fh mutants; 'none' = the mutant build, none selected)\n",
                     o.mutant.c_str());
        return 2;
    }
    // --mutant none: the mutant build with no mutant selected (its code paths
    // compiled in, all off), to show they change nothing when off.
    const bool mutant_build = !o.mutant.empty();
    const std::string mutant_name = mutant_build ? o.mutant : "none";
    const bool kernel = o.target.target == "kernel";
    if (kernel && !o.mutant.empty()) {
        std::fprintf(stderr, "z3fh: mutants are seeded in the port; for the kernel target give --kernel-patch FILE "
                             "(./z3fh kernel-defect NAME writes the review defects as patches)\n");
        return 2;
    }
    if (o.engine != "libfuzzer" && (kernel || o.sanitizer != "asan")) {
        std::fprintf(stderr, "z3fh: --engine %s fuzzes the port with ASan+UBSan (--sanitizer asan); TSan, UBSan-only "
                             "and kernel-target campaigns run with --engine libfuzzer\n", o.engine.c_str());
        return 2;
    }
    const std::string preset = Context::fuzz_preset(o.sanitizer, mutant_build);
    double build_s = 0;
    std::optional<KernelFile> kfile;
    if (kernel) {
        auto tk = std::chrono::steady_clock::now();
        kfile = prepare_kernel_file(o.target);
        if (!kfile) return 2;
        build_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - tk).count();
    }
    if (!o.no_build) std::fprintf(stderr, "z3fh: building %s (fuzz target and driver%s) ...\n", preset.c_str(),
                                  kernel ? ", kernel target" : "");
    if (!o.no_build && !kernel && !build_engines(o.engine, o.sanitizer, mutant_build, &build_s)) return 2;
    const EngineBinaries bins = engine_binaries(o.sanitizer, mutant_build);
    std::string kdir;
    if (kernel) {
        kdir = ensure_kernel_built(preset, *kfile, {"z3fold_fuzz_kernel", "z3fh-run-kernel"}, &build_s);
        if (kdir.empty()) return 2;
    }
    const std::string bin = kernel ? kdir + "/kernel/z3fold_fuzz_kernel" : bins.libfuzzer;
    const std::string driver = kernel ? kdir + "/kernel/z3fh-run-kernel" : bins.driver;
    // With a kernel patch, triage replays each finding on the kernel without
    // it too: a finding the unpatched kernel also has is not the patch's.
    std::string base_driver;
    if (kernel && !kfile->patch.empty()) {
        auto base = prepare_kernel_file(without_patch(o.target));
        std::string bdir = base ? ensure_kernel_built(preset, *base, {"z3fh-run-kernel"}, &build_s) : "";
        if (bdir.empty()) return 2;
        base_driver = bdir + "/kernel/z3fh-run-kernel";
    }
    // A patch of the unmodified file: 6.1's own findings (docs/findings.md,
    // K1-K11) come within a second and would end a one-job run before the
    // patch's own could show. So fuzz the whole budget; triage says which
    // findings are the patch's. Not under TSan, whose crash handler can hang
    // in fork mode on this file (docs/performance.md, the kernel target).
    const bool patch_of_unmodified = kernel && !kfile->patch.empty() && !o.target.kernel_fixes;
    const bool keep_going = o.keep_going || (patch_of_unmodified && o.sanitizer != "tsan");
    if (keep_going && !o.keep_going)
        std::fprintf(stderr,
                     "z3fh: a patch of the unmodified kernel: fuzzing past findings for the whole budget (as "
                     "--keep-going); triage says which are the patch's. --kernel-fixes puts the harness's fixes for "
                     "6.1's own findings under the patch instead.\n");
    else if (patch_of_unmodified && !keep_going)
        std::fprintf(stderr,
                     "z3fh: a patch of the unmodified kernel under TSan stops at the first finding, which may be "
                     "6.1's own: --kernel-fixes puts the harness's fixes for those under the patch.\n");
    // What a sidecar and the report say about the target.
    json target_info = {{"target", o.target.target}};
    if (kernel) {
        target_info["kernel_version"] = kfile->version;
        target_info["kernel_sha256"] = kfile->sha256;
        target_info["kernel_known"] = kfile->known;
        target_info["kernel_source"] = o.target.kernel_source.empty() ? "" : fs::absolute(o.target.kernel_source).string();
        target_info["kernel_patch"] = kfile->patch;
        target_info["kernel_fixes"] = o.target.kernel_fixes;
    }

    fs::path out = o.out.empty() ? fs::path(ctx.root()) / "campaigns" /
                                       (now_stamp() + (o.mutant.empty() ? "" : "-" + o.mutant))
                                 : fs::path(o.out);
    std::error_code ec;
    fs::create_directories(out / "crashes", ec);
    fs::create_directories(out / "corpus", ec);
    fs::create_directories(out / "findings", ec);
    if (ec) {
        std::fprintf(stderr, "z3fh: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
        return 2;
    }
    out = fs::absolute(out);
    // The seeds are copied, never written back.
    if (o.corpus != "none") {
        fs::path src = fs::path(o.corpus).is_absolute() ? fs::path(o.corpus) : fs::path(ctx.root()) / o.corpus;
        if (!fs::is_directory(src)) {
            std::fprintf(stderr, "z3fh: corpus %s is not a directory (or say --corpus none)\n", src.c_str());
            return 2;
        }
        for (const auto& e : fs::directory_iterator(src))
            if (e.is_regular_file() && e.path().extension() == ".z3fp")
                fs::copy_file(e.path(), out / "corpus" / e.path().filename(), fs::copy_options::skip_existing, ec);
    }

    std::map<std::string, std::string> env = ctx.sanitizer_env(o.sanitizer);
    if (!o.mutant.empty()) env["Z3FH_MUTANT"] = o.mutant;
    if (!o.sched_feedback) env["Z3FH_NO_SCHED_FEEDBACK"] = "1";
    if (o.strategy != "input") env["Z3FH_STRATEGY"] = o.strategy;
    if (o.user != "any") env["Z3FH_USER"] = o.user;
    // A potential-deadlock finding's witness inputs go beside the crash inputs.
    env["Z3FH_WITNESS_DIR"] = (out / "crashes").string();

    // Processes per engine: `both` splits --jobs (at least one each).
    const bool use_lf = o.engine != "afl", use_afl = o.engine != "libfuzzer";
    const int lf_jobs = !use_lf ? 0 : use_afl ? std::max(1, o.jobs / 2) : o.jobs;
    const int afl_jobs = !use_afl ? 0 : use_lf ? std::max(1, o.jobs - lf_jobs) : o.jobs;
    // One process stops at its first finding (unless --keep-going); several
    // fuzz the whole budget, as libFuzzer's fork mode does.
    const bool stop_at_first = !keep_going && lf_jobs + afl_jobs == 1;
    const std::string dict = fs::exists(ctx.root() + "/corpus/z3fold.dict") ? ctx.root() + "/corpus/z3fold.dict" : "";

    std::vector<std::string> argv = {bin,
                                     (out / "corpus").string(),
                                     "-artifact_prefix=" + (out / "crashes").string() + "/",
                                     fmt::format("-max_total_time={}", static_cast<long>(o.budget_s + 0.5)),
                                     fmt::format("-seed={}", o.seed),
                                     "-print_final_stats=1",
                                     "-max_len=1024"};
    if (!dict.empty()) argv.push_back("-dict=" + dict);
    if (lf_jobs > 1 || keep_going || use_afl) {
        // Fork mode; with --keep-going (or beside AFL++) a single job too, so
        // a crash does not end the campaign (a kernel with known findings
        // can be fuzzed past them).
        argv.push_back(fmt::format("-fork={}", lf_jobs));
        argv.push_back("-ignore_crashes=1");
    }

    // Live state: libFuzzer's output is parsed on its own thread, AFL++'s
    // folders are read by the loop below; one lock for both.
    std::mutex mu;
    std::vector<Sample> series;
    std::vector<Crash> crashes;
    uint64_t lf_execs = 0, lf_cov = 0, lf_corpus = 0, final_execs = 0;
    AflFigures afl_fig;
    const bool tty = isatty(2);
    auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    // The input is on disk; its sidecar follows at once, so replay needs no
    // flags even if we die right now.
    // Crash files already here are an earlier run's (resume after a kill):
    // the scan after fuzzing lists them as such.
    std::set<std::string> recorded;
    for (const auto& e : fs::directory_iterator(out / "crashes", ec)) recorded.insert(e.path().string());
    // What replay needs to rebuild and select (docs/report-schema.md).
    auto sidecar = [&](const std::string& engine) {
        json side = {{"mutant", mutant_name}, {"mutant_build", mutant_build}, {"sanitizer", o.sanitizer},
                     {"strategy", o.strategy}, {"user", o.user}, {"engine", engine}, {"format_version", 1}};
        side.update(target_info);
        return side;
    };
    auto record_crash = [&](const std::string& path, double t, uint64_t at_execs, const std::string& engine) {
        if (!recorded.insert(path).second) return;
        crashes.push_back({path, t, at_execs, false});
        json side = sidecar(engine);
        side.update({{"time_to_detect_s", t}, {"execs_at_detect", at_execs}});
        write_file(path + ".json", side.dump(2) + "\n");
    };
    // "#N NEW cov: C ft: F corp: K/..." (TSan builds have no cov:, only ft:).
    static const std::regex status(R"(^#(\d+)[:\s].*?(?:cov|ft): (\d+).*?corp: (\d+))");
    static const std::regex written(R"(Test unit written to (\S+))");
    static const std::regex final_re(R"(stat::number_of_executed_units: (\d+))");
    std::string log;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, nullptr);

    std::fprintf(stderr, "z3fh: fuzzing for %.0fs with %s, sanitizer %s%s -> %s\n", o.budget_s,
                 use_lf && use_afl ? fmt::format("{} libFuzzer job(s) and {} AFL++ instance(s)", lf_jobs, afl_jobs).c_str()
                 : use_afl         ? fmt::format("{} AFL++ instance(s)", afl_jobs).c_str()
                                   : fmt::format("{} libFuzzer job(s)", lf_jobs).c_str(),
                 o.sanitizer.c_str(), o.mutant.empty() ? "" : (", mutant " + o.mutant).c_str(), out.c_str());
    AflEngine afl;
    if (use_afl) {
        std::string warn = afl_core_pattern_warning();
        if (!warn.empty()) std::fprintf(stderr, "z3fh: note: %s\n", warn.c_str());
        AflSetup as;
        as.target = bins.afl;
        as.cmplog_target = bins.afl_cmplog;
        as.mutator_lib = bins.afl_mutator;
        as.dict = dict;
        as.seeds = (out / "corpus").string();
        // AFL++ needs one input to start from: with no corpus, the empty program.
        if (fs::is_empty(out / "corpus", ec)) run_driver(driver, {"seeds", (out / "corpus").string(), "--empty"}, {}, nullptr);
        as.sync_dir = (out / "afl").string();
        if (use_lf) as.foreign.push_back((out / "corpus").string());  // libFuzzer's finds flow into AFL++
        as.instances = afl_jobs;
        as.budget_s = o.budget_s;
        as.seed = o.seed;
        as.env = env;
        if (!afl.start(as)) return 2;
    }
    std::atomic<bool> lf_live{use_lf};
    int lf_code = 0;
    std::thread lf_thread;
    if (use_lf) {
        lf_thread = std::thread([&] {
            lf_code = run_process(argv, env, [&](const std::string& line) {
                          std::lock_guard<std::mutex> g(mu);
                          log += line + "\n";
                          std::smatch m;
                          if (std::regex_search(line, m, written)) {
                              record_crash(fs::absolute(m[1].str()).string(), elapsed(), lf_execs + afl_fig.execs,
                                           "libfuzzer");
                          } else if (std::regex_search(line, m, status)) {
                              lf_execs = std::stoull(m[1].str());
                              lf_cov = std::stoull(m[2].str());
                              lf_corpus = std::stoull(m[3].str());
                          } else if (std::regex_search(line, m, final_re)) {
                              final_execs = std::stoull(m[1].str());
                          }
                      }).exit_code;
            lf_live = false;
        });
    }
    // The loop: AFL++'s crashes and figures, the series, the status line;
    // the first finding ends a one-process campaign, the budget ends all
    // (SIGINT, then SIGTERM and SIGKILL to an engine that lingers).
    uint64_t execs = 0, cov = 0, corpus_size = 0;
    double last_print = -100, stop_t = 0;
    bool stopping = false;
    struct Escalation {
        double after;
        int sig;
        bool sent;
    } escalation[] = {{2, SIGTERM, false}, {8, SIGKILL, false}};
    while (lf_live || afl.running()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        const double t = elapsed();
        std::lock_guard<std::mutex> g(mu);
        if (use_afl) {
            afl_fig = afl.figures();
            for (const AflCrash& c : afl.new_crashes()) {
                // AFL++'s byte-level stages leave inputs only the lenient
                // decoder reads: the campaign keeps the program as it ran.
                std::string dest = (out / "crashes" / fmt::format("afl-{}-{}", c.instance, c.id)).string();
                int code = 0;
                run_driver(driver, {"canonical", c.path, "-o", dest}, {}, &code);
                if (code != 0) fs::copy_file(c.path, dest, fs::copy_options::overwrite_existing, ec);
                record_crash(dest, t, lf_execs + afl_fig.execs, "afl");
            }
        }
        if (use_lf) {
            // libFuzzer's fork mode writes crash files without announcing
            // them: every new one gets its sidecar here, at once.
            for (const auto& e : fs::directory_iterator(out / "crashes", ec)) {
                const std::string p = e.path().string();
                const std::string fn = e.path().filename().string();
                if (fn.rfind("crash-", 0) == 0 && fn.find('.') == std::string::npos && !recorded.count(p))
                    record_crash(p, t, lf_execs + afl_fig.execs, "libfuzzer");
            }
        }
        execs = lf_execs + afl_fig.execs;
        cov = use_lf ? lf_cov : afl_fig.edges;
        corpus_size = std::max(lf_corpus, afl_fig.corpus);
        if (series.empty() || t - series.back().t >= 1.0) series.push_back({t, execs, cov, corpus_size});
        // The budget is the campaign's, not each engine's: at its end the
        // engines are stopped (libFuzzer's fork mode overran -max_total_time
        // by its last jobs' length, 6% on a 5-minute budget).
        if (!stopping && ((stop_at_first && !crashes.empty()) || t >= o.budget_s || g_interrupts > 0)) {
            stopping = true;
            stop_t = t;
            signal_children(SIGINT);
        }
        // An engine that ignores SIGINT (libFuzzer's fork mode waits for its
        // jobs) gets SIGTERM after 5 s, SIGKILL after 15.
        for (auto& [after, sig, sent] : escalation)
            if (stopping && !sent && t - stop_t > after) {
                signal_children(sig);
                sent = true;
            }
        if (t - last_print >= (tty ? 0.5 : 10.0)) {
            last_print = t;
            double rate = t > 0 ? static_cast<double>(execs) / t : 0;
            std::string covs = use_lf && use_afl ? fmt::format("cov {} (libFuzzer) {} (AFL++ edges)", lf_cov, afl_fig.edges)
                                                 : fmt::format("cov {}", cov);
            std::fprintf(stderr, "%s[%5.0fs/%.0fs] execs %llu (%.0f/s)  %s  corpus %llu  findings %zu%s",
                         tty ? "\r" : "", t, o.budget_s, static_cast<unsigned long long>(execs), rate, covs.c_str(),
                         static_cast<unsigned long long>(corpus_size), crashes.size(), tty ? "  " : "\n");
        }
    }
    if (lf_thread.joinable()) lf_thread.join();
    std::vector<int> afl_bad = afl.join();
    double fuzz_s = elapsed();
    if (tty) std::fprintf(stderr, "\n");
    write_file((out / "fuzzer.log").string(), log);
    if (use_lf && (lf_code < 0 || lf_code == 127)) {
        std::fprintf(stderr, "z3fh: could not run %s\n", bin.c_str());
        return 2;
    }
    if (use_afl) {
        afl_fig = afl.figures();
        if (!afl_bad.empty() && afl_fig.execs == 0) {
            std::fprintf(stderr, "z3fh: afl-fuzz failed (exit %d); its log: %s/afl/main.log\n", afl_bad[0], out.c_str());
            // Beside libFuzzer the campaign still has findings to triage.
            if (!use_lf) return 2;
        }
        // AFL++'s queue joins the campaign corpus: coverage, and a later
        // campaign of either engine, start from it.
        afl.export_queue((out / "corpus").string());
        execs = lf_execs + afl_fig.execs;
        if (!use_lf) cov = afl_fig.edges;
        corpus_size = std::max(lf_corpus, afl_fig.corpus);
    }
    if (final_execs) execs = final_execs + afl_fig.execs;
    // Crashes libFuzzer wrote that we did not see announced (fork mode).
    std::set<std::string> seen;
    for (const Crash& c : crashes) seen.insert(c.path);
    for (const auto& e : fs::directory_iterator(out / "crashes")) {
        std::string p = e.path().string();
        if (e.path().extension() == "" && !seen.count(p) &&
            e.path().filename().string().find('.') == std::string::npos) {
            // Either a fork-mode crash we did not see announced, or one kept
            // from an earlier run of this folder (resume after a kill): that
            // one's sidecar, written when it was found, is kept as it is.
            Crash c{p, fuzz_s, execs};
            json side;
            try {
                side = json::parse(read_file(p + ".json"));
                c.t = side.value("time_to_detect_s", fuzz_s);
                c.execs = side.value("execs_at_detect", execs);
                c.earlier = true;
            } catch (const std::exception&) {
                write_file(p + ".json", sidecar(o.engine).dump(2) + "\n");
            }
            crashes.push_back(c);
        }
    }

    // An earlier run's findings first: they were found first, so a crash of
    // this run with the same signature is listed as their duplicate.
    std::stable_partition(crashes.begin(), crashes.end(), [](const Crash& c) { return c.earlier; });
    // Triage: replay, signature, dedupe, minimise, reproducer, exported test.
    auto tt = std::chrono::steady_clock::now();
    std::map<std::string, std::string> denv = env;
    json findings = json::array();
    std::map<std::string, size_t> by_sig;
    int n = 0;
    // Interrupted twice: the rest are listed untriaged; their inputs and
    // sidecars are on disk for replay.
    json untriaged = json::array();
    const bool interrupted_fuzzing = g_interrupts > 0;
    for (const Crash& c : crashes) {
        if (g_interrupts > 1) {
            untriaged.push_back(fs::relative(c.path, out).string());
            continue;
        }
        int code = 0;
        // One replay names the signature; only a new one is replayed N times
        // (a --keep-going campaign can leave thousands of duplicates).
        // ... and records the decisions it took beside the input (replay
        // checks them step by step later).
        std::string rep = run_driver(driver, {"replay", c.path, "--record-schedule", c.path + ".sched"}, denv, &code);
        if (g_interrupts > 1) {
            untriaged.push_back(fs::relative(c.path, out).string());
            continue;
        }
        std::string sig = match1(rep, std::regex(R"(signature: (\S+))"));
        if (sig.empty()) sig = "not-reproduced";
        if (by_sig.count(sig)) {
            findings[by_sig[sig]]["duplicates"].push_back(fs::relative(c.path, out).string());
            continue;
        }
        if (o.triage_runs > 1)
            rep = run_driver(driver, {"replay", c.path, fmt::format("--runs={}", o.triage_runs)}, denv, &code);
        std::string reproduced = match1(rep, std::regex(R"(reproduced (\d+/\d+))"));
        std::string base = fmt::format("finding-{}", ++n);
        fs::path dir = out / "findings";
        std::string min_path = (dir / (base + ".min.z3fp")).string();
        std::string min_out = run_driver(driver, {"minimize", c.path, "-o", min_path}, denv, &code);
        if (code != 0) min_path.clear();
        else fs::copy_file(c.path + ".json", min_path + ".json", fs::copy_options::overwrite_existing, ec);
        std::string repro = run_driver(driver, {"replay", min_path.empty() ? c.path : min_path}, denv, &code);
        std::string repro_path = (dir / (base + ".txt")).string();
        write_file(repro_path, repro);
        std::string test_path = (dir / (base + "_test.cpp")).string();
        std::vector<std::string> exp = {"export-test", min_path.empty() ? c.path : min_path, "-o", test_path,
                                        "--name", fmt::format("Finding{}", n)};
        if (!o.mutant.empty()) {
            exp.push_back("--mutant");
            exp.push_back(o.mutant);
        }
        run_driver(driver, exp, denv, &code);
        if (code != 0) test_path.clear();
        json without_patch = nullptr;
        if (!base_driver.empty()) {
            std::string base_out = run_driver(base_driver, {"replay", c.path}, denv, &code);
            without_patch = base_out.find("signature: " + sig + "\n") != std::string::npos;
        }
        std::string kind = sig.substr(0, sig.find(':'));
        std::string invariant = kind == "invariant" ? sig.substr(sig.find(':') + 1) : "";
        if (kind != "invariant" && kind != "sanitizer" && kind != "tsan") kind = sig.substr(0, sig.find('@'));
        json f = {{"signature", sig},
                  {"kind", kind},
                  {"invariant", invariant},
                  {"time_to_detect_s", c.t},
                  {"from_earlier_run", c.earlier},
                  {"execs_at_detect", c.execs},
                  {"replays", reproduced},
                  {"input", fs::relative(c.path, out).string()},
                  {"minimized", min_path.empty() ? "" : fs::relative(min_path, out).string()},
                  {"minimize_log", min_out},
                  {"reproducer", fs::relative(repro_path, out).string()},
                  {"exported_test", test_path.empty() ? "" : fs::relative(test_path, out).string()},
                  {"duplicates", json::array()}};
        if (!without_patch.is_null()) f["reproduces_without_patch"] = without_patch;
        // Which user's world reached it (docs/zswap-model.md): the input's own
        // byte, unless the campaign pinned the user.
        {
            fuzz::Program prog;
            std::string data = read_file(c.path);
            if (o.user != "any") f["user"] = o.user;
            else if (fuzz::decode_lenient(reinterpret_cast<const uint8_t*>(data.data()), data.size(), &prog))
                f["user"] = fuzz::user_kind_name(prog.user);
        }
        by_sig[sig] = findings.size();
        findings.push_back(f);
    }
    double triage_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - tt).count();
    double coverage_s = 0;
    json coverage = {{"edges", cov}};
    // llvm-cov measures the code under test: allocator/, or the kernel's file.
    if (o.coverage && g_interrupts == 0) {
        CoverageSubject subject;
        if (kernel) {
            subject.scope = "mm/z3fold.c";
            subject.sources = {kfile->file};
            std::fprintf(stderr, "z3fh: coverage: building the kernel target for coverage ...\n");
            std::string cdir = ensure_kernel_built("coverage", *kfile, {"z3fold_fuzz_kernel"}, nullptr,
                                                   {"-DCMAKE_C_FLAGS=-fprofile-instr-generate -fcoverage-mapping"});
            if (!cdir.empty()) subject.bin = cdir + "/kernel/z3fold_fuzz_kernel";
        } else {
            subject = port_coverage_subject();
        }
        coverage.update(measure_coverage(subject, (out / "corpus").string(), out.string(), &coverage_s));
    }

    json ts = json::array();
    for (const Sample& s : series)
        ts.push_back({{"t", s.t}, {"execs", s.execs}, {"coverage", s.cov}, {"corpus", s.corpus},
                      {"execs_per_s", s.t > 0 ? static_cast<double>(s.execs) / s.t : 0.0}});
    json report = {{"target", o.target.target},
                   {"engine", o.engine},
                   {"sanitizer", o.sanitizer},
                   {"strategy", o.strategy},
                   {"mutant", mutant_name},
                   {"mutant_build", mutant_build},
                   {"budget_s", o.budget_s},
                   {"elapsed_s", fuzz_s},
                   {"build_s", build_s},
                   {"triage_s", triage_s},
                   {"jobs", o.jobs},
                   {"seed", o.seed},
                   {"sched_feedback", o.sched_feedback},
                   {"execs", execs},
                   {"execs_per_s", fuzz_s > 0 ? static_cast<double>(execs) / fuzz_s : 0.0},
                   {"coverage_s", coverage_s},
                   {"coverage", coverage},
                   {"corpus_size", corpus_size},
                   {"timeseries", ts},
                   {"interrupted", interrupted_fuzzing || g_interrupts > 0},
                   {"findings", findings},
                   {"untriaged", untriaged}};
    report.update(target_info);
    // Each engine's own figures (their coverage counts are not comparable:
    // libFuzzer's features vs AFL++'s map edges).
    if (use_lf)
        report["engines"]["libfuzzer"] = {{"jobs", lf_jobs}, {"execs", final_execs ? final_execs : lf_execs},
                                          {"coverage", lf_cov}, {"corpus", lf_corpus}};
    if (use_afl)
        report["engines"]["afl"] = {{"jobs", afl_jobs}, {"execs", afl_fig.execs}, {"coverage", afl_fig.edges},
                                    {"corpus", afl_fig.corpus}, {"hangs", afl_fig.hangs},
                                    {"sync_dir", "afl"}};
    write_file((out / "report.json").string(), report.dump(2) + "\n");

    std::string md = fmt::format(
        "# z3fold-harden campaign\n\n| | |\n|---|---|\n| target | {} |\n| engine | {} |\n| sanitizer | {} |\n"
        "| mutant | {} |\n| budget | {:.0f} s |\n| fuzzing time | {:.1f} s |\n| build / triage | {:.1f} s / {:.1f} s |\n"
        "| executions | {} ({:.0f}/s) |\n| coverage (edges) | {} |\n| corpus | {} |\n\n## Findings\n\n",
        kernel ? "kernel mm/z3fold.c " + kfile->version + (kfile->patch.empty() ? "" : ", patched with " + kfile->patch)
               : std::string("port"),
        o.engine, o.sanitizer, mutant_name, o.budget_s, fuzz_s, build_s, triage_s, execs,
        fuzz_s > 0 ? static_cast<double>(execs) / fuzz_s : 0.0, cov, corpus_size);
    if (coverage.contains("lines_percent"))
        md = md.substr(0, md.size() - std::string("\n## Findings\n\n").size()) +
             fmt::format("| {0} lines | {1:.1f}% ({2} of {3}) |\n| {0} branches | {4:.1f}% ({5} of {6}) |\n{7}"
                         "| coverage page | [{8}]({8}) |\n\n## Findings\n\n",
                         coverage.value("scope", "allocator/"), coverage["lines_percent"].get<double>(),
                         coverage["lines_covered"].get<int>(),
                         coverage["lines_total"].get<int>(), coverage["branches_percent"].get<double>(),
                         coverage["branches_covered"].get<int>(), coverage["branches_total"].get<int>(),
                         coverage.contains("logic_lines_percent")
                             ? fmt::format("| the allocator's logic (without reports, introspection, mutant switches) | "
                                           "lines {:.1f}%, branches {:.1f}% |\n",
                                           coverage["logic_lines_percent"].get<double>(),
                                           coverage["logic_branches_percent"].get<double>())
                             : std::string(),
                         coverage.value("html", ""));
    if (findings.empty()) md += "None.\n";
    else md += "| signature | user | detected after | replays | reproducer | minimised | test |\n|---|---|---|---|---|---|---|\n";
    // With a kernel patch: whose finding it is.
    auto whose = [](const json& f) -> std::string {
        if (!f.contains("reproduces_without_patch")) return "";
        return f["reproduces_without_patch"].get<bool>() ? " (also without the patch)" : " (only with the patch)";
    };
    for (const json& f : findings)
        md += fmt::format("| `{}`{} | {} | {:.2f} s | {} | [{}]({}) | {} | {} |\n", f["signature"].get<std::string>(), whose(f),
                          f.value("user", "-"), f["time_to_detect_s"].get<double>(), f["replays"].get<std::string>(),
                          f["reproducer"].get<std::string>(), f["reproducer"].get<std::string>(),
                          f["minimized"].get<std::string>(), f["exported_test"].get<std::string>());
    write_file((out / "report.md").string(), md);
    write_file((out / "report.html").string(), render_report_html(report));

    std::printf("campaign: %llu execs in %.1fs (%.0f/s), %zu finding(s); report: %s\n",
                static_cast<unsigned long long>(execs), fuzz_s, fuzz_s > 0 ? static_cast<double>(execs) / fuzz_s : 0.0,
                findings.size(), (out / "report.json").c_str());
    for (const json& f : findings)
        std::printf("  %s%s after %.2fs, reproduced %s, reproducer %s\n", f["signature"].get<std::string>().c_str(),
                    whose(f).c_str(), f["time_to_detect_s"].get<double>(), f["replays"].get<std::string>().c_str(),
                    (out / f["reproducer"].get<std::string>()).c_str());
    signal(SIGINT, SIG_DFL);
    if (!untriaged.empty())
        std::printf("  %zu crash input(s) left untriaged (report.json \"untriaged\"; replay each)\n", untriaged.size());
    if (g_interrupts > 0) std::printf("interrupted: the report covers what ran until then\n");
    return findings.empty() && untriaged.empty() ? 0 : 1;
}

}  // namespace z3fh::tool
