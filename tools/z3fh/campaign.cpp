// z3fold-harden: `z3fh campaign`: the prepare phase (what to build and run,
// where) and the phases in order (campaign_phases.h).
#include "campaign.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "campaign_phases.h"
#include "context.h"
#include "coverage.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

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

namespace {

// Options that cannot go together, said before anything is built.
bool options_make_sense(const CampaignOptions& o, bool kernel) {
    Context& ctx = Context::get();
    if (!o.mutant.empty() && o.mutant != "none" && !ctx.is_mutant(o.mutant)) {
        std::fprintf(stderr, "z3fh: unknown mutant '%s' (see ./z3fh mutants; 'none' = the mutant build, none selected)\n",
                     o.mutant.c_str());
        return false;
    }
    if (kernel && !o.mutant.empty()) {
        std::fprintf(stderr, "z3fh: mutants are seeded in the port; for the kernel target give --kernel-patch FILE "
                             "(./z3fh kernel-defect NAME writes the review defects as patches)\n");
        return false;
    }
    if (o.engine != "libfuzzer" && (kernel || o.sanitizer != "asan")) {
        std::fprintf(stderr, "z3fh: --engine %s fuzzes the port with ASan+UBSan (--sanitizer asan); TSan, UBSan-only "
                             "and kernel-target campaigns run with --engine libfuzzer\n", o.engine.c_str());
        return false;
    }
    return true;
}

// A patch of the unmodified file: the file's own findings (6.1's K1-K13,
// docs/findings.md) come within a second and restart the fuzzing process
// each time. Where the harness's fixes for them apply and the patch
// applies on top, they go under the patch, so the campaign reviews the
// patch at full speed and triage compares with the fixed file; the report
// says so. --no-kernel-fixes fuzzes the unmodified base instead.
void decide_base_findings(CampaignPlan& p) {
    TargetChoice& t = p.opts.target;
    if (t.kernel_patch.empty() || t.kernel_patch == "none") return;
    if (t.kernel_fixes) {
        p.target_info["base_findings"] = "fixed under the patch (--kernel-fixes)";
        return;
    }
    const std::string why = t.no_kernel_fixes ? "--no-kernel-fixes" : fixes_fit_under_patch(t);
    if (why.empty()) {
        t.kernel_fixes = true;
        p.target_info["base_findings"] =
            "fixed under the patch: the harness's fixes for the file's own findings applied first, as the patch "
            "applies on top of them (--no-kernel-fixes to review it against the unmodified file)";
        std::fprintf(stderr, "z3fh: the patch applies on top of the harness's fixes for the file's own findings: they "
                             "go under it, and findings are compared with the fixed file (--no-kernel-fixes: not)\n");
    } else {
        p.target_info["base_findings"] = "not fixed under the patch (" + why + ")";
    }
}

// The file's own findings found once every thread ended
// (kernel/known-findings.txt): in a patch review of the unmodified file,
// or with --past-known-findings, they end the run, not the process.
void decide_known_findings(CampaignPlan& p) {
    const bool review = !p.kfile->patch.empty() && !p.opts.target.kernel_fixes;
    if (!review && !p.opts.past_known_findings) return;
    if (p.opts.target.kernel_fixes && p.kfile->patch.empty()) return;  // the fixed file has none of them
    json listed = json::array();
    for (const auto& [sig, which] : known_findings_of(p.kfile->sha256)) {
        p.known_findings.push_back(sig);
        listed.push_back({{"signature", sig}, {"finding", which}});
    }
    p.target_info["known_findings"] = listed;
    const std::string what = p.known_findings.empty()
                                 ? "none are listed for this file (kernel/known-findings.txt): each of them restarts "
                                   "the fuzzing process"
                                 : fmt::format("the {} it has at rest or at teardown (kernel/known-findings.txt) end "
                                               "the run, not the fuzzing process; those found mid-run restart it",
                                               p.known_findings.size());
    const std::string before = p.target_info.value("base_findings", "");
    const std::string b = before.empty() ? "the file's own findings: " + what : before + "; " + what;
    p.target_info["base_findings"] = b;
    std::fprintf(stderr, "z3fh: %s\n", b.c_str());
}

// The kernel target: its file, its build, and (with a patch) the build of
// the kernel without it, which triage replays each finding on.
bool prepare_kernel_target(CampaignPlan& p, const std::string& preset) {
    auto tk = std::chrono::steady_clock::now();
    decide_base_findings(p);
    p.kfile = prepare_kernel_file(p.opts.target);
    if (!p.kfile) return false;
    p.build_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - tk).count();
    std::string kdir = ensure_kernel_built(preset, *p.kfile, {"z3fold_fuzz_kernel", "z3fh-run-kernel"}, &p.build_s);
    if (kdir.empty()) return false;
    p.bin = kdir + "/kernel/z3fold_fuzz_kernel";
    p.driver = kdir + "/kernel/z3fh-run-kernel";
    if (!p.kfile->patch.empty()) {
        auto base = prepare_kernel_file(without_patch(p.opts.target));
        std::string bdir = base ? ensure_kernel_built(preset, *base, {"z3fh-run-kernel"}, &p.build_s) : "";
        if (bdir.empty()) return false;
        p.base_driver = bdir + "/kernel/z3fh-run-kernel";
    }
    p.target_info["kernel_version"] = p.kfile->version;
    p.target_info["kernel_series"] = p.kfile->series;
    p.target_info["allocator"] = p.kfile->allocator;
    {
        // Who drives the file: the broad zpool user, the model of that
        // series' zswap (6.1: through zpool's evict; 6.12: its own LRU),
        // and for zsmalloc 6.12's zram (model).
        const std::string zswap = fmt::format("Linux {}'s zswap (model)", p.kfile->series);
        const bool zram = p.kfile->allocator == "zsmalloc";
        const std::string& u = p.opts.user;
        p.target_info["user_model"] = u == "zswap"   ? zswap
                                      : u == "zpool" ? std::string("the broad zpool user")
                                      : u == "zram"  ? std::string(zram ? "Linux 6.12's zram (model)" : "the broad zpool user")
                                      : zram         ? "the broad zpool user, " + zswap + " and Linux 6.12's zram (model)"
                                                     : "the broad zpool user and " + zswap;
    }
    p.target_info["kernel_sha256"] = p.kfile->sha256;
    p.target_info["kernel_known"] = p.kfile->known;
    p.target_info["kernel_source"] =
        p.opts.target.kernel_source.empty() ? "" : fs::absolute(p.opts.target.kernel_source).string();
    p.target_info["kernel_patch"] = p.kfile->patch;
    p.target_info["kernel_fixes"] = p.opts.target.kernel_fixes;
    decide_known_findings(p);
    return true;
}

// A patch of the unmodified file: 6.1's own findings (docs/findings.md,
// K1-K13) come within a second and would end a one-job run before the
// patch's own could show. So fuzz the whole budget; triage says which
// findings are the patch's. Not under TSan, whose crash handler hung in
// libFuzzer's fork mode on this file (not tried with restarting workers).
void decide_keep_going(CampaignPlan& p) {
    const CampaignOptions& o = p.opts;
    // zbud's unmodified file has no finding of its own to fuzz past.
    const bool patch_of_unmodified =
        p.kernel && !p.kfile->patch.empty() && !o.target.kernel_fixes && p.kfile->allocator == "z3fold";
    p.keep_going = o.keep_going || (patch_of_unmodified && o.sanitizer != "tsan");
    if (p.keep_going && !o.keep_going)
        std::fprintf(stderr,
                     "z3fh: a patch of the unmodified kernel: fuzzing past findings for the whole budget (as "
                     "--keep-going); triage says which are the patch's. --kernel-fixes puts the harness's fixes for "
                     "the file's own findings under the patch instead.\n");
    else if (patch_of_unmodified && !p.keep_going)
        std::fprintf(stderr,
                     "z3fh: a patch of the unmodified kernel under TSan stops at the first finding, which may be "
                     "the file's own: --kernel-fixes puts the harness's fixes for those under the patch.\n");
}

// The campaign folder, with the seeds copied in (never written back).
bool prepare_folder(CampaignPlan& p) {
    const CampaignOptions& o = p.opts;
    Context& ctx = Context::get();
    fs::path out = o.out.empty() ? fs::path(ctx.root()) / "campaigns" /
                                       (now_stamp() + (o.mutant.empty() ? "" : "-" + o.mutant))
                                 : fs::path(o.out);
    std::error_code ec;
    // A campaign killed between corpus_phase's two renames.
    if (!fs::exists(out / "corpus") && fs::is_directory(out / "corpus.old")) fs::rename(out / "corpus.old", out / "corpus", ec);
    for (const char* sub : {"crashes", "corpus", "findings"}) fs::create_directories(out / sub, ec);
    if (ec) {
        std::fprintf(stderr, "z3fh: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
        return false;
    }
    p.out = fs::absolute(out);
    if (o.corpus == "none") return true;
    fs::path src = fs::path(o.corpus).is_absolute() ? fs::path(o.corpus) : fs::path(ctx.root()) / o.corpus;
    if (!fs::is_directory(src)) {
        std::fprintf(stderr, "z3fh: corpus %s is not a directory (or say --corpus none)\n", src.c_str());
        return false;
    }
    for (const auto& e : fs::directory_iterator(src))
        if (e.is_regular_file() && e.path().extension() == ".z3fp")
            fs::copy_file(e.path(), p.out / "corpus" / e.path().filename(), fs::copy_options::skip_existing, ec);
    return true;
}

void decide_engines(CampaignPlan& p) {
    const CampaignOptions& o = p.opts;
    Context& ctx = Context::get();
    p.env = ctx.sanitizer_env(o.sanitizer);
    if (!o.mutant.empty()) p.env["Z3FH_MUTANT"] = o.mutant;
    if (!o.sched_feedback) p.env["Z3FH_NO_SCHED_FEEDBACK"] = "1";
    if (o.strategy != "input") p.env["Z3FH_STRATEGY"] = o.strategy;
    if (o.user != "any") p.env["Z3FH_USER"] = o.user;
    if (!p.known_findings.empty()) {
        std::string list;
        for (const std::string& s : p.known_findings) list += (list.empty() ? "" : ",") + s;
        p.env["Z3FH_KNOWN_FINDINGS"] = list;
    }
    // A potential-deadlock finding's witness inputs go beside the crash inputs.
    p.env["Z3FH_WITNESS_DIR"] = (p.out / "crashes").string();
    // Processes per engine: `both` splits --jobs (at least one each).
    const bool use_lf = o.engine != "afl", use_afl = o.engine != "libfuzzer";
    p.lf_jobs = !use_lf ? 0 : use_afl ? std::max(1, o.jobs / 2) : o.jobs;
    p.afl_jobs = !use_afl ? 0 : use_lf ? std::max(1, o.jobs - p.lf_jobs) : o.jobs;
    // One process stops at its first finding (unless --keep-going); with
    // several, a finding restarts its worker and the others go on.
    p.stop_at_first = !p.keep_going && p.lf_jobs + p.afl_jobs == 1;
    p.dict = fs::exists(ctx.root() + "/corpus/z3fold.dict") ? ctx.root() + "/corpus/z3fold.dict" : "";
}

std::optional<CampaignPlan> prepare_phase(const CampaignOptions& o) {
    CampaignPlan p;
    p.opts = o;
    p.kernel = o.target.target == "kernel";
    if (!options_make_sense(o, p.kernel)) return std::nullopt;
    // --mutant none: the mutant build with no mutant selected (its code paths
    // compiled in, all off), to show they change nothing when off.
    p.mutant_build = !o.mutant.empty();
    p.mutant_name = p.mutant_build ? o.mutant : "none";
    const std::string preset = Context::fuzz_preset(o.sanitizer, p.mutant_build);
    p.target_info = {{"target", o.target.target}};
    if (!o.no_build)
        std::fprintf(stderr, "z3fh: building %s (fuzz target and driver%s) ...\n", preset.c_str(),
                     p.kernel ? ", kernel target" : "");
    if (!p.kernel && !o.no_build && !build_engines(o.engine, o.sanitizer, p.mutant_build, &p.build_s)) return std::nullopt;
    p.bins = engine_binaries(o.sanitizer, p.mutant_build);
    p.bin = p.bins.libfuzzer;
    p.driver = p.bins.driver;
    if (p.kernel && !prepare_kernel_target(p, preset)) return std::nullopt;
    decide_keep_going(p);
    if (!prepare_folder(p)) return std::nullopt;
    decide_engines(p);
    return p;
}

size_t count_files(const fs::path& dir) {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.is_regular_file(ec)) n++;
    return n;
}

// The corpus, proportionate to what it covers. The workers write every
// input that added a feature (an edge, or a bucket of an interleaving
// counter) when it was found, and keep a shorter input beside the one it
// replaced; most are subsumed by later finds. libFuzzer's merge keeps the
// fewest inputs that together have every feature, so what the coverage and
// throughput phases replay, and what a resumed campaign loads, is only that.
void corpus_phase(const CampaignPlan& p, FuzzResult& fz) {
    const fs::path corpus = p.out / "corpus", merged = p.out / "corpus.merged", old = p.out / "corpus.old",
                   scratch = p.out / "merge-scratch";
    std::error_code ec;
    fz.corpus_found = count_files(corpus);
    if (p.lf_jobs == 0 || fz.corpus_found == 0 || g_campaign_interrupts > 1) return;
    for (const fs::path& d : {merged, scratch}) {
        fs::remove_all(d, ec);
        fs::create_directories(d, ec);
    }
    std::fprintf(stderr, "z3fh: corpus: keeping the inputs that cover it (of %zu) ...\n", fz.corpus_found);
    // Crash-resistant: an input that fails is left out; its crash file (if
    // any) goes to the scratch folder, not crashes/ (triage is done).
    // Lock-order witnesses of the merge's runs stay out of crashes/ too.
    std::map<std::string, std::string> env = p.env;
    env["Z3FH_WITNESS_DIR"] = scratch.string();
    const ProcResult r = run_process({p.bin, "-merge=1", "-artifact_prefix=" + scratch.string() + "/",
                                      "-merge_control_file=" + (scratch / "merge.txt").string(), merged.string(),
                                      corpus.string()},
                                     env, [](const std::string&) {}, scratch.string());
    const size_t kept = count_files(merged);
    if (r.exit_code != 0 || kept == 0) {
        std::fprintf(stderr, "z3fh: corpus: the merge failed (exit %d); the corpus is kept whole\n", r.exit_code);
    } else {
        // Two renames, so a kill at any point leaves a whole corpus
        // (prepare_folder puts corpus.old back if corpus is missing).
        fs::remove_all(old, ec);
        fs::rename(corpus, old, ec);
        if (!ec) fs::rename(merged, corpus, ec);
        if (!ec) {
            fz.corpus_size = kept;
            fs::remove_all(old, ec);
        }
    }
    fs::remove_all(merged, ec);
    fs::remove_all(scratch, ec);
}

// llvm-cov measures the code under test: allocator/, or the kernel's file.
json coverage_phase(const CampaignPlan& p, uint64_t edges, double* seconds) {
    json coverage = {{"edges", edges}};
    if (!p.opts.coverage || g_campaign_interrupts > 0) return coverage;
    CoverageSubject subject;
    if (p.kernel) {
        subject.scope = "mm/" + p.kfile->allocator + ".c";
        subject.sources = {p.kfile->file};
        std::fprintf(stderr, "z3fh: coverage: building the kernel target for coverage ...\n");
        std::string cdir = ensure_kernel_built("coverage", *p.kfile, {"z3fold_fuzz_kernel"}, nullptr,
                                               {"-DCMAKE_C_FLAGS=-fprofile-instr-generate -fcoverage-mapping"});
        if (!cdir.empty()) subject.bin = cdir + "/kernel/z3fold_fuzz_kernel";
    } else {
        subject = port_coverage_subject();
    }
    coverage.update(measure_coverage(subject, (p.out / "corpus").string(), p.out.string(), seconds));
    return coverage;
}

// Throughput as docs/results.md defines it: checked scheduling steps per
// second, i.e. the campaign's execs/s times the mean steps of the programs
// it ran (its corpus, sampled), beside the in-process rate of the same
// programs (z3fh-run time: no engine between runs).
json throughput_phase(const CampaignPlan& p, const FuzzResult& fz) {
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(p.out / "corpus", ec))
        if (e.is_regular_file()) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    constexpr size_t kSample = 200;
    if (files.size() > kSample) {
        std::vector<std::string> sample;
        for (size_t i = 0; i < kSample; i++) sample.push_back(files[i * files.size() / kSample]);
        files.swap(sample);
    }
    if (files.empty() || fz.fuzz_s <= 0) return json::object();
    std::vector<std::string> argv = {p.driver, "time", "--repeat", "3"};
    argv.insert(argv.end(), files.begin(), files.end());
    int code = 0;
    std::string out = run_capture(argv, p.env, &code);
    while (!out.empty() && out.back() == '\n') out.pop_back();
    json t = json::parse(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1), nullptr, false);
    if (code != 0 || !t.is_object() || !t.contains("mean_steps"))
        return {{"note", "could not time the corpus (a program in it crashes this build)"}};
    const double execs_per_s = static_cast<double>(fz.execs) / fz.fuzz_s;
    const double per_cpu = execs_per_s / std::max(1, p.lf_jobs + p.afl_jobs);
    const double in_process = t["execs_per_cpu_s"].get<double>();
    return {{"sampled_programs", files.size()},
            {"mean_steps", t["mean_steps"]},
            {"steps_per_s", execs_per_s * t["mean_steps"].get<double>()},
            {"campaign_execs_per_cpu_s", per_cpu},
            {"in_process_execs_per_cpu_s", in_process},
            {"campaign_share_of_in_process", in_process > 0 ? per_cpu / in_process : 0.0},
            // Summed over the sampled programs: how deep the corpus goes.
            {"depth", t.value("depth", json::object())},
            // Sampled programs that end in one of the file's known findings
            // (recorded without ending the process: Z3FH_KNOWN_FINDINGS).
            {"known_findings", t.value("known_findings", uint64_t{0})}};
}

}  // namespace

int run_campaign(const CampaignOptions& o) {
    std::optional<CampaignPlan> plan = prepare_phase(o);
    if (!plan) return 2;
    FuzzResult fuzz = fuzz_phase(*plan);
    if (fuzz.failed) return fuzz.failed;
    TriageResult triage = triage_phase(*plan, fuzz);
    corpus_phase(*plan, fuzz);
    double coverage_s = 0;
    json coverage = coverage_phase(*plan, fuzz.cov, &coverage_s);
    report_phase(*plan, fuzz, triage, coverage, coverage_s, throughput_phase(*plan, fuzz));
    return triage.findings.empty() && triage.untriaged.empty() ? 0 : 1;
}

}  // namespace z3fh::tool
