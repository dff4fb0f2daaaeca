// z3fold-harden: the campaign's fuzz phase. The engines run as child
// processes for the budget; libFuzzer's output is read on its own thread,
// AFL++'s folders by the monitor loop; every crash input gets its sidecar
// the moment it is seen, so replay needs no flags even if we die right after.
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "campaign_phases.h"
#include "context.h"
#include "driver_result.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

std::atomic<int> g_campaign_interrupts{0};

namespace {

// The first Ctrl-C stops the engines (SIGINT reaches them through us) and
// triage follows, as when the budget ends; a second one stops triage too
// (the rest listed untriaged). The report is written either way.
void on_sigint(int) {
    static const char first[] = "\nz3fh: stopping the engines; triage and the report follow (Ctrl-C again to skip triage)\n";
    static const char again[] = "\nz3fh: skipping the rest of triage; writing the report\n";
    int n = ++g_campaign_interrupts;
    ssize_t ignored = n == 1 ? write(2, first, sizeof first - 1) : write(2, again, sizeof again - 1);
    (void)ignored;
    signal_children(SIGINT);
}

std::vector<std::string> libfuzzer_argv(const CampaignPlan& p) {
    const CampaignOptions& o = p.opts;
    std::vector<std::string> argv = {p.bin,
                                     (p.out / "corpus").string(),
                                     "-artifact_prefix=" + (p.out / "crashes").string() + "/",
                                     fmt::format("-max_total_time={}", static_cast<long>(o.budget_s + 0.5)),
                                     fmt::format("-seed={}", o.seed),
                                     "-print_final_stats=1",
                                     "-max_len=1024"};
    if (!p.dict.empty()) argv.push_back("-dict=" + p.dict);
    if (p.lf_jobs > 1 || p.keep_going || p.afl_jobs > 0) {
        // Fork mode; with --keep-going (or beside AFL++) a single job too, so
        // a crash does not end the campaign (a kernel with known findings
        // can be fuzzed past them).
        argv.push_back(fmt::format("-fork={}", p.lf_jobs));
        argv.push_back("-ignore_crashes=1");
    }
    return argv;
}

class FuzzMonitor {
public:
    explicit FuzzMonitor(const CampaignPlan& plan) : p_(plan), t0_(std::chrono::steady_clock::now()) {
        // Crash files already here are an earlier run's (resume after a
        // kill): the scan after fuzzing lists them as such.
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(p_.out / "crashes", ec)) recorded_.insert(e.path().string());
    }
    FuzzResult run();

private:
    double elapsed() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }
    json sidecar(const std::string& engine) const;
    void record_crash(const std::string& path, double t, const std::string& engine);
    void on_libfuzzer_line(const std::string& line);
    bool start_afl();
    void poll(double t);
    void stop_at_budget(double t);
    void print_status(double t);
    void finish();
    void scan_unannounced();

    const CampaignPlan& p_;
    const std::chrono::steady_clock::time_point t0_;
    const bool use_lf_ = p_.lf_jobs > 0, use_afl_ = p_.afl_jobs > 0;
    const bool tty_ = isatty(2);
    std::mutex mu_;  // libFuzzer's reader thread and the monitor loop
    FuzzResult r_;
    std::set<std::string> recorded_;
    std::string log_;
    AflEngine afl_;
    std::atomic<bool> lf_live_{false};
    int lf_code_ = 0;
    double last_print_ = -100, stop_t_ = 0;
    bool stopping_ = false;
    struct Escalation {
        double after;
        int sig;
        bool sent;
    } escalation_[2] = {{2, SIGTERM, false}, {8, SIGKILL, false}};
};

// What replay needs to rebuild and select (docs/report-schema.md).
json FuzzMonitor::sidecar(const std::string& engine) const {
    const CampaignOptions& o = p_.opts;
    json side = {{"mutant", p_.mutant_name}, {"mutant_build", p_.mutant_build}, {"sanitizer", o.sanitizer},
                 {"strategy", o.strategy}, {"user", o.user}, {"engine", engine}, {"format_version", 1}};
    side.update(p_.target_info);
    return side;
}

void FuzzMonitor::record_crash(const std::string& path, double t, const std::string& engine) {
    if (!recorded_.insert(path).second) return;
    const uint64_t at_execs = r_.lf_execs + r_.afl.execs;
    r_.crashes.push_back({path, t, at_execs, false});
    json side = sidecar(engine);
    side.update({{"time_to_detect_s", t}, {"execs_at_detect", at_execs}});
    write_file(path + ".json", side.dump(2) + "\n");
}

void FuzzMonitor::on_libfuzzer_line(const std::string& line) {
    // "#N NEW cov: C ft: F corp: K/..." (TSan builds have no cov:, only ft:).
    static const std::regex status(R"(^#(\d+)[:\s].*?(?:cov|ft): (\d+).*?corp: (\d+))");
    static const std::regex written(R"(Test unit written to (\S+))");
    static const std::regex final_re(R"(stat::number_of_executed_units: (\d+))");
    std::lock_guard<std::mutex> g(mu_);
    log_ += line + "\n";
    std::smatch m;
    if (std::regex_search(line, m, written)) {
        record_crash(fs::absolute(m[1].str()).string(), elapsed(), "libfuzzer");
    } else if (std::regex_search(line, m, status)) {
        r_.lf_execs = std::stoull(m[1].str());
        r_.lf_cov = std::stoull(m[2].str());
        r_.lf_corpus = std::stoull(m[3].str());
    } else if (std::regex_search(line, m, final_re)) {
        r_.final_execs = std::stoull(m[1].str());
    }
}

bool FuzzMonitor::start_afl() {
    std::string warn = afl_core_pattern_warning();
    if (!warn.empty()) std::fprintf(stderr, "z3fh: note: %s\n", warn.c_str());
    AflSetup as;
    as.target = p_.bins.afl;
    as.cmplog_target = p_.bins.afl_cmplog;
    as.mutator_lib = p_.bins.afl_mutator;
    as.dict = p_.dict;
    as.seeds = (p_.out / "corpus").string();
    // AFL++ needs one input to start from: with no corpus, the empty program.
    std::error_code ec;
    if (fs::is_empty(p_.out / "corpus", ec)) run_driver(p_.driver, {"seeds", (p_.out / "corpus").string(), "--empty"});
    as.sync_dir = (p_.out / "afl").string();
    if (use_lf_) as.foreign.push_back((p_.out / "corpus").string());  // libFuzzer's finds flow into AFL++
    as.instances = p_.afl_jobs;
    as.budget_s = p_.opts.budget_s;
    as.seed = p_.opts.seed;
    as.env = p_.env;
    return afl_.start(as);
}

// AFL++'s crashes and figures, fork-mode crash files, the series.
void FuzzMonitor::poll(double t) {
    std::error_code ec;
    if (use_afl_) {
        r_.afl = afl_.figures();
        for (const AflCrash& c : afl_.new_crashes()) {
            // AFL++'s byte-level stages leave inputs only the lenient
            // decoder reads: the campaign keeps the program as it ran.
            std::string dest = (p_.out / "crashes" / fmt::format("afl-{}-{}", c.instance, c.id)).string();
            DriverRun d = run_driver(p_.driver, {"canonical", c.path, "-o", dest});
            if (d.exit_code != 0) fs::copy_file(c.path, dest, fs::copy_options::overwrite_existing, ec);
            record_crash(dest, t, "afl");
        }
    }
    if (use_lf_) {
        // libFuzzer's fork mode writes crash files without announcing
        // them: every new one gets its sidecar here, at once.
        for (const auto& e : fs::directory_iterator(p_.out / "crashes", ec)) {
            const std::string path = e.path().string();
            const std::string fn = e.path().filename().string();
            if (fn.rfind("crash-", 0) == 0 && fn.find('.') == std::string::npos && !recorded_.count(path))
                record_crash(path, t, "libfuzzer");
        }
    }
    r_.execs = r_.lf_execs + r_.afl.execs;
    r_.cov = use_lf_ ? r_.lf_cov : r_.afl.edges;
    r_.corpus_size = std::max(r_.lf_corpus, r_.afl.corpus);
    if (r_.series.empty() || t - r_.series.back().t >= 1.0) r_.series.push_back({t, r_.execs, r_.cov, r_.corpus_size});
}

// The budget is the campaign's, not each engine's: at its end the engines
// are stopped (libFuzzer's fork mode overran -max_total_time by its last
// jobs' length, 6% on a 5-minute budget). An engine that ignores SIGINT
// (fork mode waits for its jobs) gets SIGTERM, then SIGKILL.
void FuzzMonitor::stop_at_budget(double t) {
    if (!stopping_ && ((p_.stop_at_first && !r_.crashes.empty()) || t >= p_.opts.budget_s || g_campaign_interrupts > 0)) {
        stopping_ = true;
        stop_t_ = t;
        signal_children(SIGINT);
    }
    for (auto& [after, sig, sent] : escalation_)
        if (stopping_ && !sent && t - stop_t_ > after) {
            signal_children(sig);
            sent = true;
        }
}

void FuzzMonitor::print_status(double t) {
    if (t - last_print_ < (tty_ ? 0.5 : 10.0)) return;
    last_print_ = t;
    double rate = t > 0 ? static_cast<double>(r_.execs) / t : 0;
    std::string covs = use_lf_ && use_afl_
                           ? fmt::format("cov {} (libFuzzer) {} (AFL++ edges)", r_.lf_cov, r_.afl.edges)
                           : fmt::format("cov {}", r_.cov);
    std::fprintf(stderr, "%s[%5.0fs/%.0fs] execs %llu (%.0f/s)  %s  corpus %llu  findings %zu%s", tty_ ? "\r" : "", t,
                 p_.opts.budget_s, static_cast<unsigned long long>(r_.execs), rate, covs.c_str(),
                 static_cast<unsigned long long>(r_.corpus_size), r_.crashes.size(), tty_ ? "  " : "\n");
}

// After the engines end: their final figures, AFL++'s queue into the corpus.
void FuzzMonitor::finish() {
    if (use_lf_ && (lf_code_ < 0 || lf_code_ == 127)) {
        std::fprintf(stderr, "z3fh: could not run %s\n", p_.bin.c_str());
        r_.failed = 2;
        return;
    }
    if (use_afl_) {
        std::vector<int> afl_bad = afl_.join();
        r_.afl = afl_.figures();
        if (!afl_bad.empty() && r_.afl.execs == 0) {
            std::fprintf(stderr, "z3fh: afl-fuzz failed (exit %d); its log: %s/afl/main.log\n", afl_bad[0],
                         p_.out.c_str());
            // Beside libFuzzer the campaign still has findings to triage.
            if (!use_lf_) r_.failed = 2;
        }
        // AFL++'s queue joins the campaign corpus: coverage, and a later
        // campaign of either engine, start from it.
        afl_.export_queue((p_.out / "corpus").string());
        r_.execs = r_.lf_execs + r_.afl.execs;
        if (!use_lf_) r_.cov = r_.afl.edges;
        r_.corpus_size = std::max(r_.lf_corpus, r_.afl.corpus);
    }
    if (r_.final_execs) r_.execs = r_.final_execs + r_.afl.execs;
}

// Crash files nobody announced: a fork-mode crash, or one kept from an
// earlier run of this folder (resume after a kill), whose sidecar, written
// when it was found, is kept as it is.
void FuzzMonitor::scan_unannounced() {
    std::set<std::string> seen;
    for (const Crash& c : r_.crashes) seen.insert(c.path);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(p_.out / "crashes", ec)) {
        std::string path = e.path().string();
        if (e.path().extension() != "" || seen.count(path) || e.path().filename().string().find('.') != std::string::npos)
            continue;
        Crash c{path, r_.fuzz_s, r_.execs};
        json side = json::parse(read_file(path + ".json"), nullptr, false);
        if (side.is_object()) {
            c.t = side.value("time_to_detect_s", r_.fuzz_s);
            c.execs = side.value("execs_at_detect", r_.execs);
            c.earlier = true;
        } else {
            write_file(path + ".json", sidecar(p_.opts.engine).dump(2) + "\n");
        }
        r_.crashes.push_back(c);
    }
    // An earlier run's findings first: they were found first, so a crash of
    // this run with the same signature is listed as their duplicate.
    std::stable_partition(r_.crashes.begin(), r_.crashes.end(), [](const Crash& c) { return c.earlier; });
}

FuzzResult FuzzMonitor::run() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, nullptr);
    const CampaignOptions& o = p_.opts;
    std::fprintf(stderr, "z3fh: fuzzing for %.0fs with %s, sanitizer %s%s -> %s\n", o.budget_s,
                 use_lf_ && use_afl_ ? fmt::format("{} libFuzzer job(s) and {} AFL++ instance(s)", p_.lf_jobs, p_.afl_jobs).c_str()
                 : use_afl_          ? fmt::format("{} AFL++ instance(s)", p_.afl_jobs).c_str()
                                     : fmt::format("{} libFuzzer job(s)", p_.lf_jobs).c_str(),
                 o.sanitizer.c_str(), o.mutant.empty() ? "" : (", mutant " + o.mutant).c_str(), p_.out.c_str());
    if (use_afl_ && !start_afl()) {
        r_.failed = 2;
        return r_;
    }
    std::thread lf_thread;
    if (use_lf_) {
        lf_live_ = true;
        lf_thread = std::thread([this] {
            lf_code_ = run_process(libfuzzer_argv(p_), p_.env, [this](const std::string& l) { on_libfuzzer_line(l); })
                           .exit_code;
            lf_live_ = false;
        });
    }
    while (lf_live_ || afl_.running()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        const double t = elapsed();
        std::lock_guard<std::mutex> g(mu_);
        poll(t);
        stop_at_budget(t);
        print_status(t);
    }
    if (lf_thread.joinable()) lf_thread.join();
    r_.fuzz_s = elapsed();
    if (tty_) std::fprintf(stderr, "\n");
    write_file((p_.out / "fuzzer.log").string(), log_);
    finish();
    if (r_.failed) return r_;
    scan_unannounced();
    r_.interrupted = g_campaign_interrupts > 0;
    return r_;
}

}  // namespace

FuzzResult fuzz_phase(const CampaignPlan& plan) { return FuzzMonitor(plan).run(); }

}  // namespace z3fh::tool
