// z3fold-harden: end-to-end checks `z3fh test` runs after the presets: a
// campaign killed mid-run loses no finding, and report.html renders in a real
// headless browser with its plot and findings table.
#include "e2e_checks.h"

#include <dirent.h>
#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "campaign.h"
#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

std::string self_exe() {
    std::error_code ec;
    fs::path p = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("z3fh") : p.string();
}

// SIGKILL every process whose command line mentions `needle` (the campaign
// and the fuzzer it started, which runs in its own process group).
int kill_matching(const std::string& needle) {
    int n = 0;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream f(e.path() / "cmdline", std::ios::binary);
        std::string cmd((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        pid_t pid = static_cast<pid_t>(std::stol(name));
        if (pid != getpid() && cmd.find(needle) != std::string::npos && kill(pid, SIGKILL) == 0) n++;
    }
    return n;
}

bool has_crash_file(const fs::path& dir) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
        if (e.path().filename().string().rfind("crash-", 0) == 0 && e.path().extension().empty()) return true;
    return false;
}

}  // namespace

std::string check_interrupt_writes_report(const std::string& mutant) {
    Context& ctx = Context::get();
    const fs::path out = fs::path(ctx.root()) / "build/e2e/interrupt";
    std::error_code ec;
    fs::remove_all(out, ec);
    // Ctrl-C (SIGINT to the tool only, as a terminal would send it to the
    // foreground job) a few seconds after the first crash input is on disk,
    // mid-fuzzing: --keep-going would otherwise fuzz for the whole budget.
    std::atomic<pid_t> pid{0};
    std::atomic<bool> stop{false}, sent{false};
    std::thread watcher([&] {
        for (int i = 0; i < 1200 && !stop; i++) {
            if (has_crash_file(out / "crashes")) {
                std::this_thread::sleep_for(std::chrono::seconds(3));
                if (pid > 0 && kill(pid, SIGINT) == 0) sent = true;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    auto t0 = std::chrono::steady_clock::now();
    ProcResult r = run_process({self_exe(), "campaign", "--mutant", mutant, "--budget=120", "--jobs=1", "--keep-going",
                                "--corpus", "none", "--out", out.string(), "--no-build", "--no-coverage",
                                "--triage-runs=1"},
                               {}, [](const std::string&) {}, "", 0, &pid);
    double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    stop = true;
    watcher.join();
    if (!sent) return fmt::format("no crash input appeared (campaign exit {})", r.exit_code);
    if (r.exit_code != 1) return fmt::format("the interrupted campaign exited {} (expected 1: findings)", r.exit_code);
    if (took > 100) return fmt::format("the campaign ran {:.0f} s after Ctrl-C (budget 120 s)", took);
    json rep = json::parse(read_file((out / "report.json").string()), nullptr, false);
    if (!rep.is_object()) return "no readable report.json after Ctrl-C";
    if (!rep.value("interrupted", false)) return "report.json does not say interrupted";
    if (rep["findings"].empty()) return "the report lists no finding";
    for (const char* f : {"report.md", "report.html"})
        if (!fs::exists(out / f)) return std::string("no ") + f + " after Ctrl-C";
    return "";
}

std::string check_kill_and_resume(const std::string& mutant) {
    Context& ctx = Context::get();
    const fs::path out = fs::path(ctx.root()) / "build/e2e/kill-resume";
    std::error_code ec;
    fs::remove_all(out, ec);
    std::atomic<bool> killed{false};
    std::atomic<bool> stop{false};
    // Kill the campaign (and its fuzzer) with SIGKILL as soon as the first
    // crash input is on disk: no triage, no report, no sidecar guaranteed.
    std::thread watcher([&] {
        for (int i = 0; i < 1200 && !stop; i++) {
            if (has_crash_file(out / "crashes")) {
                kill_matching(out.string());
                killed = true;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    ProcResult first = run_process({self_exe(), "campaign", "--mutant", mutant, "--budget=60", "--jobs=1", "--corpus",
                                    "none", "--out", out.string(), "--no-build", "--no-coverage"},
                                   {}, [](const std::string&) {});
    stop = true;
    watcher.join();
    if (!killed) return fmt::format("no crash input appeared in 60 s (campaign exit {})", first.exit_code);
    if (fs::exists(out / "report.json")) return "the killed campaign still wrote report.json (it was not killed mid-run)";
    std::vector<std::string> killed_crashes;
    for (const auto& e : fs::directory_iterator(out / "crashes", ec))
        if (e.path().filename().string().rfind("crash-", 0) == 0 && e.path().extension().empty())
            killed_crashes.push_back("crashes/" + e.path().filename().string());
    // Resume into the same folder with a tiny budget: the earlier finding
    // must be triaged and reported.
    CampaignOptions o;
    o.budget_s = 2;
    o.jobs = 1;
    o.mutant = mutant;
    o.corpus = "none";
    o.triage_runs = 2;
    o.out = out.string();
    o.no_build = true;
    o.coverage = false;
    int rc = run_campaign(o);
    if (rc != 1) return fmt::format("the resumed campaign exited {} (expected 1: findings)", rc);
    // Every crash input the killed run left is in the report, as a finding
    // (triaged: reproducer on disk) or as a duplicate of one.
    json r = json::parse(read_file((out / "report.json").string()));
    for (const std::string& c : killed_crashes) {
        bool listed = false;
        for (const json& f : r["findings"]) {
            bool as_input = f["input"].get<std::string>() == c && f.value("from_earlier_run", false) &&
                            fs::exists(out / f["reproducer"].get<std::string>());
            bool as_dup = false;
            for (const json& d : f["duplicates"]) as_dup = as_dup || d.get<std::string>() == c;
            listed = listed || as_input || as_dup;
        }
        if (!listed || !fs::exists(out / c)) return "the resumed report lost " + c + " from the killed run";
    }
    return "";
}

std::string check_report_in_browser(const std::string& campaign_dir) {
    const fs::path dir = fs::absolute(campaign_dir);
    const fs::path html = dir / "report.html";
    if (!fs::exists(html)) return "no report.html in " + dir.string();
    std::string browser;
    for (const char* b : {"chromium", "chromium-browser", "google-chrome"}) {
        if (on_path(b)) {
            browser = b;
            break;
        }
    }
    if (browser.empty()) return "no headless browser (apt-get install chromium; ci/install-deps test does)";
    const std::vector<std::string> common = {browser, "--headless", "--no-sandbox", "--disable-gpu",
                                             "--disable-dev-shm-usage", "--hide-scrollbars"};
    // The DOM the browser built: the plot's lines and the table's rows.
    std::string dom;
    std::vector<std::string> dump = common;
    dump.push_back("--dump-dom");
    dump.push_back("file://" + html.string());
    run_process(dump, {}, [&](const std::string& l) { dom += l + "\n"; }, "", 120);
    if (dom.find("<svg id=\"plot\"") == std::string::npos) return "the rendered page has no plot";
    if (dom.find("<polyline class=\"coverage\"") == std::string::npos) return "the plot has no coverage line";
    if (dom.find("<table id=\"findings\"") == std::string::npos) return "the rendered page has no findings table";
    if (dom.find("<td><code>") == std::string::npos) return "the findings table has no finding row";
    if (dom.find("<th>lines</th>") == std::string::npos) return "the coverage table has no line coverage";
    if (dom.find("<th>with the patch</th>") == std::string::npos || dom.find("<th>user</th>") == std::string::npos)
        return "the findings table has no patch-verdict or user column";
    if (dom.find("<pre class=\"diagram\">") == std::string::npos || dom.find("!! T") == std::string::npos)
        return "the page has no interleaving diagram ending where the finding fired";
    // The coverage section and llvm-cov's own page list allocator/'s files,
    // with figures (the page used to show one empty "Totals" row).
    size_t file_rows = 0;
    for (size_t at = dom.find("<tr class=\"file\">"); at != std::string::npos; at = dom.find("<tr class=\"file\">", at + 1))
        file_rows++;
    if (file_rows < 10 || dom.find("<th>pool.cpp</th>") == std::string::npos)
        return fmt::format("the coverage table lists {} file(s), without pool.cpp", file_rows);
    const std::string index = read_file((dir / "coverage" / "html" / "index.html").string());
    if (index.find("pool.cpp") == std::string::npos || index.find("reclaim.cpp") == std::string::npos)
        return "coverage/html/index.html does not list allocator/'s files";
    const fs::path png = dir / "report.png";
    std::error_code ec;
    fs::remove(png, ec);
    std::vector<std::string> shot = common;
    shot.push_back("--window-size=1100,1400");
    shot.push_back("--screenshot=" + png.string());
    shot.push_back("file://" + html.string());
    run_process(shot, {}, [](const std::string&) {}, "", 120);
    if (!fs::exists(png) || fs::file_size(png) < 10000)
        return "no screenshot (or a blank one) at " + png.string();
    return "";
}

std::string check_mutant_campaign(const std::string& label, const std::string& mutant, const std::string& engine,
                                  int jobs, double budget) {
    Context& ctx = Context::get();
    CampaignOptions o;
    o.budget_s = budget;
    o.jobs = jobs;
    o.engine = engine;
    o.mutant = mutant;
    o.corpus = "none";
    o.triage_runs = 3;
    // One of them also measures llvm-cov coverage (the browser check reads it).
    o.coverage = label == "reclaim-put-then-lru";
    o.out = ctx.root() + "/build/e2e/" + label;
    std::error_code ec;
    fs::remove_all(o.out, ec);
    std::fprintf(stderr, "\n=== e2e: campaign --engine %s --mutant %s --budget %.0f --jobs %d --corpus none ===\n",
                 engine.c_str(), mutant.c_str(), budget, jobs);
    const int rc = run_campaign(o);
    if (rc != 1) return fmt::format("campaign exit {}", rc);
    json r = json::parse(read_file(o.out + "/report.json"));
    const std::string input = o.out + "/" + r["findings"][0]["input"].get<std::string>();
    const std::string drv = ctx.build_dir(Context::fuzz_preset("asan", true)) + "/tools/run/z3fh-run";
    if (run_process({drv, "replay", input}, ctx.sanitizer_env("asan"), [](const std::string&) {}).exit_code != 0)
        return "the input also fails with no mutant selected";
    json side = json::parse(read_file(input + ".json"), nullptr, false);
    if (engine != "both" && (!side.is_object() || side.value("engine", "") != engine))
        return "the finding's sidecar does not name engine " + engine;
    for (const char* e : {"libfuzzer", "afl"}) {
        const bool want = engine == "both" || engine == e;
        if (want && (!r.contains("engines") || !r["engines"].contains(e) || r["engines"][e]["execs"].get<uint64_t>() == 0))
            return fmt::format("engine {} ran no executions", e);
    }
    return "";
}

}  // namespace z3fh::tool
