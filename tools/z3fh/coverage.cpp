// z3fold-harden: coverage of the code under test from a campaign's corpus:
// a fuzz target built with -fprofile-instr-generate runs every corpus input
// once (-runs=0), then llvm-profdata merges and llvm-cov summarises and
// renders the subject's sources. The build records sources through `..`
// paths, which a source filter given to llvm-cov does not match (the page
// had one empty "Totals" row): the files are picked here by their canonical
// path, and everything else is excluded by its recorded name.
#include "coverage.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

CoverageSubject port_coverage_subject() {
    Context& ctx = Context::get();
    CoverageSubject s;
    s.scope = "allocator/";
    const fs::path root = fs::path(ctx.root()) / "allocator";
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(root, ec)) {
        const std::string ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".cpp" || ext == ".h")) s.sources.push_back(e.path().string());
    }
    std::sort(s.sources.begin(), s.sources.end());
    // native.* is the real-thread backend, not in the fuzz target at all.
    s.sources.erase(std::remove_if(s.sources.begin(), s.sources.end(),
                                   [](const std::string& f) { return f.find("/sync/native.") != std::string::npos; }),
                    s.sources.end());
    s.support = {"report.cpp", "report.h", "introspect.cpp", "introspect.h", "mutants.cpp", "mutants.h",
                 "sync/event.cpp", "sync/lock_order.cpp", "sync/lock_order.h"};
    std::fprintf(stderr, "z3fh: coverage: building the coverage preset ...\n");
    if (ctx.ensure_built("coverage", {"z3fold_fuzz"})) s.bin = ctx.build_dir("coverage") + "/fuzz/z3fold_fuzz";
    return s;
}

namespace {

std::string canonical(const std::string& f) {
    std::error_code ec;
    fs::path c = fs::weakly_canonical(f, ec);
    return ec ? f : c.string();
}

// An ERE matching exactly `name`.
std::string literal_regex(const std::string& name) {
    std::string out;
    for (char ch : name) {
        if (std::string(".[]{}()\\*+?^$|").find(ch) != std::string::npos) out += '\\';
        out += ch;
    }
    return out;
}

json figures(const json& summary) {
    return {{"functions_covered", summary["functions"]["covered"]}, {"functions_total", summary["functions"]["count"]},
            {"lines_covered", summary["lines"]["covered"]},   {"lines_total", summary["lines"]["count"]},
            {"lines_percent", summary["lines"]["percent"]},   {"branches_covered", summary["branches"]["covered"]},
            {"branches_total", summary["branches"]["count"]}, {"branches_percent", summary["branches"]["percent"]}};
}

// The name a report shows for a source: relative to the subject's folder.
std::string short_name(const std::string& file, const CoverageSubject& s) {
    if (s.sources.size() == 1) return s.scope;
    const std::string marker = "/allocator/";
    size_t at = file.rfind(marker);
    return at == std::string::npos ? fs::path(file).filename().string() : file.substr(at + marker.size());
}

}  // namespace

json measure_coverage(const CoverageSubject& subject, const std::string& corpus_dir, const std::string& out_dir,
                      double* seconds) {
    auto t0 = std::chrono::steady_clock::now();
    auto done = [&](json j) {
        *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        j["scope"] = subject.scope;
        return j;
    };
    if (subject.bin.empty()) return done({{"note", "the coverage build failed"}});
    const fs::path dir = fs::path(out_dir) / "coverage";
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    auto quiet = [](const std::string&) {};
    std::fprintf(stderr, "z3fh: coverage: replaying the corpus ...\n");
    // One process over the whole corpus. A corpus can keep an input that
    // fails (one whose finding depends on what ran before it, or seeds) (on a file with findings of its own, many
    // do): its crash file goes to this folder, never the current one, and
    // the process ends before it writes its profile. Then each input is
    // replayed alone, each process with its own profile, and those that
    // ended in a finding leave none.
    std::vector<std::string> profiles;
    ProcResult r = run_process({subject.bin, "-runs=0", "-artifact_prefix=" + dir.string() + "/", corpus_dir},
                               {{"LLVM_PROFILE_FILE", (dir / "corpus.profraw").string()}}, quiet, "", 600);
    if (r.exit_code == 0 && fs::exists(dir / "corpus.profraw")) {
        profiles.push_back((dir / "corpus.profraw").string());
    } else {
        fs::remove(dir / "corpus.profraw", ec);
        std::fprintf(stderr, "z3fh: coverage: an input ends in a finding; replaying the corpus one input at a time ...\n");
        for (const auto& e : fs::directory_iterator(corpus_dir, ec)) {
            if (!e.is_regular_file()) continue;
            const std::string raw = (dir / fmt::format("input-{}.profraw", profiles.size())).string();
            ProcResult one = run_process({subject.bin, "-runs=0", "-artifact_prefix=" + dir.string() + "/", e.path().string()},
                                         {{"LLVM_PROFILE_FILE", raw}}, quiet, "", 60);
            if (one.exit_code == 0 && fs::exists(raw)) profiles.push_back(raw);
            else fs::remove(raw, ec);
        }
    }
    if (profiles.empty())
        return done({{"note", fmt::format("the corpus replay wrote no profile (exit {})", r.exit_code)}});
    const std::string prof = (dir / "corpus.profdata").string();
    std::vector<std::string> merge = {"llvm-profdata-14", "merge", "-sparse", "-o", prof};
    merge.insert(merge.end(), profiles.begin(), profiles.end());
    if (run_process(merge, {}, quiet).exit_code != 0) return done({{"note", "llvm-profdata merge failed"}});
    for (const std::string& raw : profiles)
        if (raw != (dir / "corpus.profraw").string()) fs::remove(raw, ec);
    std::string exported;
    if (run_process({"llvm-cov-14", "export", "-summary-only", "-instr-profile=" + prof, subject.bin}, {},
                    [&](const std::string& l) { exported += l; })
            .exit_code != 0)
        return done({{"note", "llvm-cov export failed"}});
    json data;
    try {
        data = json::parse(exported)["data"][0];
    } catch (const std::exception& e) {
        return done({{"note", std::string("unreadable llvm-cov summary: ") + e.what()}});
    }
    std::vector<std::string> wanted;
    for (const std::string& f : subject.sources) wanted.push_back(canonical(f));
    // One row a file of the subject; its totals, and the allocator's logic
    // apart from its support code.
    json files = json::array();
    std::string ignore;
    json total = {{"lines", {{"covered", 0}, {"count", 0}}},
                  {"branches", {{"covered", 0}, {"count", 0}}},
                  {"functions", {{"covered", 0}, {"count", 0}}}};
    json logic = total;
    auto add = [](json& acc, const json& summary) {
        for (const char* k : {"lines", "branches", "functions"}) {
            acc[k]["covered"] = acc[k]["covered"].get<long>() + summary[k]["covered"].get<long>();
            acc[k]["count"] = acc[k]["count"].get<long>() + summary[k]["count"].get<long>();
        }
    };
    for (const json& f : data.value("files", json::array())) {
        const std::string recorded = f.value("filename", "");
        if (std::find(wanted.begin(), wanted.end(), canonical(recorded)) == wanted.end()) {
            ignore += (ignore.empty() ? "" : "|") + literal_regex(recorded);
            continue;
        }
        add(total, f["summary"]);
        const std::string name = short_name(recorded, subject);
        json row = figures(f["summary"]);
        row["file"] = name;
        const bool support = std::find(subject.support.begin(), subject.support.end(), name) != subject.support.end();
        if (!subject.support.empty()) row["support"] = support;
        files.push_back(row);
        if (!support) add(logic, f["summary"]);
    }
    if (files.empty()) return done({{"note", "the coverage build has none of the subject's files"}});
    auto pct = [](const json& j) {
        long n = j["count"].get<long>();
        return n ? 100.0 * static_cast<double>(j["covered"].get<long>()) / static_cast<double>(n) : 0.0;
    };
    json out = {{"lines_covered", total["lines"]["covered"]},       {"lines_total", total["lines"]["count"]},
                {"lines_percent", pct(total["lines"])},             {"branches_covered", total["branches"]["covered"]},
                {"branches_total", total["branches"]["count"]},     {"branches_percent", pct(total["branches"])},
                {"functions_covered", total["functions"]["covered"]}, {"functions_total", total["functions"]["count"]}};
    out["files"] = files;
    if (!subject.support.empty()) {
        out["logic_lines_percent"] = pct(logic["lines"]);
        out["logic_branches_percent"] = pct(logic["branches"]);
    }
    std::vector<std::string> show = {"llvm-cov-14", "show", "-format=html", "-show-branches=count",
                                     "-instr-profile=" + prof, "-output-dir=" + (dir / "html").string()};
    if (!ignore.empty()) show.push_back("-ignore-filename-regex=^(" + ignore + ")$");
    show.push_back(subject.bin);
    run_process(show, {}, quiet);
    if (fs::exists(dir / "html" / "index.html")) out["html"] = "coverage/html/index.html";
    fs::remove(dir / "corpus.profraw", ec);
    return done(out);
}

}  // namespace z3fh::tool
