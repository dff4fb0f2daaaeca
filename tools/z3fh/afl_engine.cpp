// z3fold-harden: AFL++ instances for a campaign.
#include "afl_engine.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

namespace {

// "key : value" lines of an instance's fuzzer_stats.
std::map<std::string, std::string> read_stats(const fs::path& p) {
    std::map<std::string, std::string> kv;
    std::ifstream f(p);
    std::string line;
    while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        auto trim = [](std::string s) {
            s.erase(0, s.find_first_not_of(" \t"));
            s.erase(s.find_last_not_of(" \t\r") + 1);
            return s;
        };
        kv[trim(line.substr(0, colon))] = trim(line.substr(colon + 1));
    }
    return kv;
}

uint64_t number(const std::map<std::string, std::string>& kv, const std::string& key) {
    auto it = kv.find(key);
    if (it == kv.end()) return 0;
    try {
        return std::stoull(it->second);
    } catch (const std::exception&) {
        return 0;
    }
}

// afl-fuzz processes already running on this machine (each holds a core).
int running_afl_instances() {
    int n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        std::ifstream f(e.path() / "comm");
        std::string comm;
        if (f && std::getline(f, comm) && comm == "afl-fuzz") n++;
    }
    return n;
}

// -M for the first of several instances, -S for the rest. A lone instance
// is a secondary too (unless it imports a foreign corpus, which only a main
// may): a main walks its queue in order (-M implies -Z), so each generation
// of a race waits a whole queue cycle; weighted random choice found
// get-unless-zero twice as fast (measured: docs/results.md and the git history of docs/performance.md).
const char* role(int i, int instances, bool foreign) { return i == 0 && (instances > 1 || foreign) ? "-M" : "-S"; }

// The last row of plot_data, split at commas.
std::vector<std::string> last_plot_row(const fs::path& p) {
    std::ifstream f(p);
    std::string line, last;
    while (std::getline(f, line))
        if (!line.empty() && line[0] != '#') last = line;
    std::vector<std::string> col;
    size_t pos = 0;
    while (!last.empty() && pos <= last.size()) {
        size_t end = last.find(',', pos);
        if (end == std::string::npos) end = last.size();
        std::string v = last.substr(pos, end - pos);
        v.erase(0, v.find_first_not_of(' '));
        col.push_back(v);
        pos = end + 1;
    }
    return col;
}

// AFL++ names its saved inputs "id:000007,sig:06,...,execs:1234,...".
bool is_saved_input(const fs::path& p) { return p.filename().string().rfind("id:", 0) == 0; }

}  // namespace

bool afl_available() { return on_path("afl-fuzz") && on_path("afl-clang-fast++"); }

std::string afl_core_pattern_warning() {
    std::ifstream f("/proc/sys/kernel/core_pattern");
    std::string pattern;
    std::getline(f, pattern);
    if (pattern.empty() || pattern[0] != '|') return {};
    return fmt::format(
        "/proc/sys/kernel/core_pattern pipes core dumps to a program ({}); afl-fuzz refuses to start on that, "
        "because a crash reported through the pipe is slow to arrive. Fix it with "
        "`echo core | sudo tee /proc/sys/kernel/core_pattern`; this campaign goes on with "
        "AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 (crashes are still caught, each a little later)",
        pattern.substr(0, 60));
}

// The environment every instance shares: the sanitizers' options afl-fuzz
// insists on, the live-figures socket (statsd_fd_, opened here), and the
// knobs a campaign of minutes on a VM needs.
std::map<std::string, std::string> AflEngine::shared_env(const AflSetup& s) {
    std::map<std::string, std::string> env = s.env;
    // afl-fuzz insists on these in the sanitizers' options (it reads the
    // crash from the abort, and symbolising in every run is slow).
    for (const char* var : {"ASAN_OPTIONS", "UBSAN_OPTIONS"})
        if (env.count(var)) env[var] += ":symbolize=0:abort_on_error=1:halt_on_error=1";
    env["AFL_NO_UI"] = "1";  // the campaign prints the status line
    // Live figures: afl-fuzz sends StatsD gauges every second; its files
    // lag by up to a minute. No socket, no live figures: the files remain.
    statsd_fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (statsd_fd_ >= 0 && bind(statsd_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(statsd_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        env["AFL_STATSD"] = "1";
        env["AFL_STATSD_HOST"] = "127.0.0.1";
        env["AFL_STATSD_PORT"] = std::to_string(ntohs(addr.sin_port));
        env["AFL_STATSD_TAGS_FLAVOR"] = "dogstatsd";  // tags name the instance (its -T banner)
    }
    env["AFL_SKIP_CPUFREQ"] = "1";  // VMs have no cpufreq governor to check
    env["AFL_AUTORESUME"] = "1";   // an existing sync folder is a resumed campaign
    env["AFL_CUSTOM_MUTATOR_LIBRARY"] = s.mutator_lib;
    env["AFL_IMPORT_FIRST"] = "1";  // take the other instances' finds before fuzzing on
    env["AFL_SYNC_TIME"] = "1";     // sync every minute, not every 30: campaigns here last minutes
    // More instances (ours and other campaigns') than cores: afl-fuzz would
    // fail to bind one to a free core.
    if (s.instances + running_afl_instances() > static_cast<int>(std::max(1u, std::thread::hardware_concurrency())))
        env["AFL_NO_AFFINITY"] = "1";
    if (!afl_core_pattern_warning().empty()) env["AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES"] = "1";
    return env;
}

namespace {

// Instance i's command line (named `name`).
std::vector<std::string> afl_instance_argv(const AflSetup& s, int i, const std::string& name) {
    std::vector<std::string> argv = {"afl-fuzz", "-i", s.seeds, "-o", s.sync_dir, role(i, s.instances, !s.foreign.empty()), name,
                                     "-m", "none",
                                     // Our own watchdog reports a stuck run as a finding; this is the backstop.
                                     "-t", "5000",
                                     "-V", fmt::format("{}", static_cast<long>(s.budget_s + 0.5)),
                                     "-s", fmt::format("{}", s.seed + static_cast<uint64_t>(i)),
                                     "-T", name};
    if (!s.dict.empty()) {
        argv.push_back("-x");
        argv.push_back(s.dict);
    }
    // CMPLOG on the first secondary (on the main when it is alone).
    if (i == std::min(1, s.instances - 1) && !s.cmplog_target.empty()) {
        argv.push_back("-c");
        argv.push_back(s.cmplog_target);
    }
    if (i == 0)
        for (const std::string& f : s.foreign) {
            argv.push_back("-F");
            argv.push_back(f);
        }
    argv.push_back("--");
    argv.push_back(s.target);
    return argv;
}

}  // namespace

bool AflEngine::start(const AflSetup& s) {
    if (!afl_available()) {
        std::fprintf(stderr, "z3fh: afl-fuzz is not installed (Debian package afl++)\n");
        return false;
    }
    setup_ = s;
    std::error_code ec;
    fs::create_directories(s.sync_dir, ec);
    // What an earlier run of this folder saved is not new.
    for (const auto& inst : fs::directory_iterator(s.sync_dir, ec)) {
        fs::path crashes = inst.path() / "crashes";
        if (!fs::is_directory(crashes)) continue;
        for (const auto& e : fs::directory_iterator(crashes, ec))
            if (is_saved_input(e.path())) seen_.insert(e.path().string());
    }
    const std::map<std::string, std::string> env = shared_env(s);
    codes_.assign(static_cast<size_t>(s.instances), 0);
    for (int i = 0; i < s.instances; i++) {
        std::string name = i == 0 ? "main" : fmt::format("s{}", i);
        names_.push_back(name);
        std::vector<std::string> argv = afl_instance_argv(s, i, name);
        const std::string log = (fs::path(s.sync_dir) / (name + ".log")).string();
        // The main runs our structural mutator only: a race needs several
        // generations of small program edits, and AFL++'s byte havoc beside
        // it made get-unless-zero take 82 s instead of 6 (measured: docs/results.md and the git history of docs/performance.md).
        // The secondaries add havoc (and CMPLOG) on the shared queue.
        std::map<std::string, std::string> ienv = env;
        if (i == 0) ienv["AFL_CUSTOM_MUTATOR_ONLY"] = "1";
        live_++;
        threads_.emplace_back([this, argv, ienv, log, i] {
            std::ofstream out(log);
            ProcResult r = run_process(argv, ienv, [&](const std::string& l) { out << l << '\n'; });
            codes_[static_cast<size_t>(i)] = r.exit_code;
            live_--;
        });
    }
    return true;
}

std::vector<AflCrash> AflEngine::new_crashes() {
    std::vector<AflCrash> out;
    static const std::regex execs_re(R"(execs:(\d+))");
    static const std::regex id_re(R"(^id:(\d+))");
    std::error_code ec;
    for (const std::string& name : names_) {
        fs::path dir = fs::path(setup_.sync_dir) / name / "crashes";
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (is_saved_input(e.path()) && !seen_.count(e.path().string())) files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const fs::path& p : files) {
            seen_.insert(p.string());
            std::smatch m;
            std::string fn = p.filename().string();
            AflCrash c{p.string(), name, "", 0};
            if (std::regex_search(fn, m, id_re)) c.id = m[1].str();
            if (std::regex_search(fn, m, execs_re)) c.execs = std::stoull(m[1].str());
            out.push_back(c);
        }
    }
    return out;
}

AflEngine::~AflEngine() {
    if (statsd_fd_ >= 0) close(statsd_fd_);
}

AflFigures AflEngine::figures() {
    // "fuzzing.execs_done:123|g|#banner:main,afl_version:++4.04c", a line each.
    static const std::regex gauge(R"(^fuzzing\.(\w+):(\d+)(?:\.\d+)?\|g\|#banner:([^,]+))");
    char buf[65536];
    ssize_t n;
    while (statsd_fd_ >= 0 && (n = recv(statsd_fd_, buf, sizeof buf, 0)) > 0) {
        std::string packet(buf, static_cast<size_t>(n)), line;
        size_t pos = 0;
        while (pos < packet.size()) {
            size_t end = packet.find('\n', pos);
            if (end == std::string::npos) end = packet.size();
            line = packet.substr(pos, end - pos);
            pos = end + 1;
            std::smatch m;
            if (std::regex_search(line, m, gauge)) statsd_[m[3].str()][m[1].str()] = std::stoull(m[2].str());
        }
    }
    AflFigures f;
    for (const std::string& name : names_) {
        const fs::path dir = fs::path(setup_.sync_dir) / name;
        // fuzzer_stats is rewritten once a minute (and at exit), plot_data
        // every five seconds: the newer of the two.
        auto kv = read_stats(dir / "fuzzer_stats");
        uint64_t execs = number(kv, "execs_done"), edges = number(kv, "edges_found");
        uint64_t corpus = number(kv, "corpus_count"), hangs = number(kv, "saved_hangs");
        std::vector<std::string> col = last_plot_row(dir / "plot_data");
        // relative_time, cycles_done, cur_item, corpus_count, pending_total, pending_favs, map_size,
        // saved_crashes, saved_hangs, max_depth, execs_per_sec, total_execs, edges_found
        if (col.size() >= 13) {
            auto num = [](const std::string& v) { return std::strtoull(v.c_str(), nullptr, 10); };
            if (num(col[11]) > execs) {
                execs = num(col[11]);
                edges = num(col[12]);
                corpus = num(col[3]);
                hangs = num(col[8]);
            }
        }
        auto live = statsd_.find(name);
        if (live != statsd_.end() && live->second["execs_done"] > execs) {
            execs = live->second["execs_done"];
            edges = live->second["edges_found"];
            corpus = live->second["corpus_count"];
            hangs = live->second["saved_hangs"];
        }
        f.execs += execs;
        f.edges = std::max(f.edges, edges);
        f.corpus = std::max(f.corpus, corpus);
        f.hangs += hangs;
    }
    return f;
}

bool AflEngine::running() const { return live_.load() > 0; }

std::vector<int> AflEngine::join() {
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::vector<int> bad;
    for (int c : codes_)
        if (c != 0 && c != 128 + 2) bad.push_back(c);
    return bad;
}

size_t AflEngine::export_queue(const std::string& dir) const {
    size_t n = 0;
    std::error_code ec;
    static const std::regex id_re(R"(^id:(\d+))");
    for (const std::string& name : names_) {
        fs::path q = fs::path(setup_.sync_dir) / name / "queue";
        for (const auto& e : fs::directory_iterator(q, ec)) {
            std::smatch m;
            std::string fn = e.path().filename().string();
            if (!e.is_regular_file() || !std::regex_search(fn, m, id_re)) continue;
            fs::copy_file(e.path(), fs::path(dir) / fmt::format("afl-{}-{}", name, m[1].str()),
                          fs::copy_options::skip_existing, ec);
            n++;
        }
    }
    return n;
}

}  // namespace z3fh::tool
