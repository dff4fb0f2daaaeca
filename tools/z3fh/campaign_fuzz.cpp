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

// One libFuzzer worker's run: in-process fuzzing (no fork mode) of the
// campaign's shared corpus folder, which every worker writes its new inputs
// to and re-reads each second (-reload), for what is left of the budget.
// Fork mode ran each job as a fresh process over a corpus subset and merged
// its finds in yet another process: a campaign ran its programs at 27-56 %
// of the in-process rate (docs/results.md, "Throughput"). A finding ends a
// run and the worker restarts, re-running the corpus; on a mutant that fails
// every few runs that still went 613 execs/s where fork mode (one job) went
// about 10 (its jobs start from a merge and end at their first crash).
constexpr size_t kMaxLen = 1024;  // bytes of an input the engine makes, or loads from a file

std::vector<std::string> libfuzzer_argv(const CampaignPlan& p, int worker, int run, double left_s) {
    const CampaignOptions& o = p.opts;
    // Each worker and each restart its own stream (0 stays libFuzzer's "random").
    const uint64_t seed = o.seed == 0 ? 0 : o.seed + 7919u * static_cast<uint64_t>(worker) + 104729u * static_cast<uint64_t>(run);
    std::vector<std::string> argv = {p.bin,
                                     (p.out / "corpus").string(),
                                     "-artifact_prefix=" + (p.out / "crashes").string() + "/",
                                     fmt::format("-max_total_time={}", std::max(1L, static_cast<long>(left_s + 0.5))),
                                     fmt::format("-seed={}", seed),
                                     // Alone, a worker has no one's finds to re-read.
                                     p.lf_jobs > 1 ? "-reload=1" : "-reload=0",
                                     "-print_final_stats=1",
                                     fmt::format("-max_len={}", kMaxLen)};
    if (!p.dict.empty()) argv.push_back("-dict=" + p.dict);
    return argv;
}

// The engines' environment: the campaign's, but a report is not symbolized
// (a crash's stack costs 0.1 s of llvm-symbolizer; triage replays it
// symbolized). Not when known findings are matched in the process (a leak's
// signature names its allocation site, which the runtime symbolizes), and
// not for a runtime with suppressions (TSan's match function names).
std::map<std::string, std::string> engine_env(const CampaignPlan& p) {
    std::map<std::string, std::string> env = p.env;
    if (!p.known_findings.empty()) return env;
    for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"}) {
        auto it = env.find(var);
        if (it != env.end() && it->second.find("suppressions=") == std::string::npos) it->second += ":symbolize=0";
    }
    return env;
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
    void on_libfuzzer_line(size_t worker, const std::string& line);
    void run_worker(size_t worker);
    bool drop_from_corpus(const std::string& crash);
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
    // One libFuzzer process at a time per worker: its figures this run, and
    // the executions of its earlier runs (each finding ends one; it restarts).
    struct LfWorker {
        uint64_t execs_before = 0, execs = 0, cov = 0, corpus = 0;
        std::string crash;    // what ended this run, if it was a finding
        bool inited = false;  // this run loaded the corpus and began to fuzz
        std::set<std::string> load_crashes;  // crash inputs its runs met as the corpus loaded
    };
    std::set<std::string> dropped_;  // crash inputs taken out of the corpus (by any worker)
    std::vector<LfWorker> workers_ = std::vector<LfWorker>(static_cast<size_t>(std::max(0, p_.lf_jobs)));
    std::atomic<int> lf_live_{0};
    const std::map<std::string, std::string> engine_env_ = engine_env(p_);
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

void FuzzMonitor::on_libfuzzer_line(size_t worker, const std::string& line) {
    // "#N NEW cov: C ft: F corp: K/..." (TSan builds have no cov:, only ft:).
    static const std::regex status(R"(^#(\d+)[:\s].*?(?:cov|ft): (\d+).*?corp: (\d+))");
    static const std::regex written(R"(Test unit written to (\S+))");
    static const std::regex final_re(R"(stat::number_of_executed_units: (\d+))");
    std::lock_guard<std::mutex> g(mu_);
    // Restarts repeat the same start-up lines: fuzzer.log keeps the first
    // 16 MiB (every crash gets its sidecar whatever the log keeps).
    constexpr size_t kLogCap = 16u << 20;
    if (log_.size() < kLogCap) log_ += (workers_.size() > 1 ? fmt::format("[{}] ", worker) : std::string()) + line + "\n";
    LfWorker& w = workers_[worker];
    std::smatch m;
    if (line.find("INITED") != std::string::npos) w.inited = true;
    if (std::regex_search(line, m, written)) {
        w.crash = fs::absolute(m[1].str()).string();
        record_crash(w.crash, elapsed(), "libfuzzer");
        return;
    }
    if (std::regex_search(line, m, status)) {
        w.execs = std::stoull(m[1].str());
        w.cov = std::stoull(m[2].str());
        w.corpus = std::stoull(m[3].str());
    } else if (std::regex_search(line, m, final_re)) {
        w.execs = std::stoull(m[1].str());
    } else {
        return;
    }
    r_.lf_execs = r_.lf_cov = r_.lf_corpus = 0;
    for (const LfWorker& x : workers_) {
        r_.lf_execs += x.execs_before + x.execs;
        r_.lf_cov = std::max(r_.lf_cov, x.cov);
        r_.lf_corpus = std::max(r_.lf_corpus, x.corpus);
    }
}

// An input in the corpus that ends in a finding as the corpus loads (a
// resumed campaign's, or one whose finding depends on what ran before it)
// would end every restart: it leaves the corpus (its crash file keeps it).
// libFuzzer loads at most -max_len bytes of a file. False: nothing matched.
bool FuzzMonitor::drop_from_corpus(const std::string& crash) {
    const std::string bytes = read_file(crash);
    bool dropped = false;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(p_.out / "corpus", ec)) {
        if (!e.is_regular_file(ec)) continue;
        const uintmax_t size = e.file_size(ec);
        if (size != bytes.size() && !(bytes.size() == kMaxLen && size > kMaxLen)) continue;
        if (read_file(e.path().string()).substr(0, kMaxLen) == bytes) dropped = fs::remove(e.path(), ec) || dropped;
    }
    return dropped;
}

// A worker fuzzes until the budget ends. A finding ends its process (a
// sanitizer report leaves it unsound to go on); unless the campaign stops
// at its first finding, it restarts over the shared corpus. A run that ends
// without writing an input is the engine failing, not a finding: no restart.
void FuzzMonitor::run_worker(size_t worker) {
    for (int run = 0;; run++) {
        double left;
        {
            std::lock_guard<std::mutex> g(mu_);
            left = p_.opts.budget_s - elapsed();
            if (stopping_ || left < 1) break;
            workers_[worker].crash.clear();
            workers_[worker].inited = false;
        }
        const ProcResult r = run_process(libfuzzer_argv(p_, static_cast<int>(worker), run, left), engine_env_,
                                         [this, worker](const std::string& l) { on_libfuzzer_line(worker, l); });
        std::lock_guard<std::mutex> g(mu_);
        LfWorker& w = workers_[worker];
        w.execs_before += w.execs;
        w.execs = 0;
        if (r.exit_code == 0 || stopping_ || p_.stop_at_first) break;
        if (w.crash.empty()) {
            lf_code_ = r.exit_code;
            std::fprintf(stderr, "\nz3fh: libFuzzer worker %zu ended (exit %d) without a finding; see fuzzer.log\n", worker,
                         r.exit_code);
            break;
        }
        if (w.inited) continue;
        // A finding as the corpus loaded: its input leaves the corpus (or
        // another worker took it out already). One that no corpus input
        // explains (the empty input libFuzzer runs first, an order-dependent
        // one), or that this worker met loading before, would be met again.
        const bool again = !w.load_crashes.insert(w.crash).second;
        if (!again && drop_from_corpus(w.crash)) dropped_.insert(w.crash);
        if (again || !dropped_.count(w.crash)) {
            std::fprintf(stderr, "\nz3fh: libFuzzer worker %zu: %s as the corpus loads (%s); the worker stops\n", worker,
                         again ? "the same finding again" : "a finding no corpus input explains", w.crash.c_str());
            break;
        }
    }
    lf_live_--;
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

// AFL++'s crashes and figures, unannounced crash files, the series.
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
        // A crash file no line announced (a worker killed while writing
        // it): its sidecar here, at once.
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
// (a run stuck in a program) gets SIGTERM, then SIGKILL.
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
        if (!use_lf_) r_.cov = r_.afl.edges;
        r_.corpus_size = std::max(r_.lf_corpus, r_.afl.corpus);
    }
    r_.execs = r_.lf_execs + r_.afl.execs;
}

// Crash files nobody announced: a worker killed mid-write, or one kept from an
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
    std::vector<std::thread> lf_threads;
    lf_live_ = static_cast<int>(workers_.size());
    for (size_t w = 0; w < workers_.size(); w++) lf_threads.emplace_back([this, w] { run_worker(w); });
    while (lf_live_ > 0 || afl_.running()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        const double t = elapsed();
        std::lock_guard<std::mutex> g(mu_);
        poll(t);
        stop_at_budget(t);
        print_status(t);
    }
    for (std::thread& t : lf_threads) t.join();
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
