// z3fold-harden: coverage of the code under test from a campaign's corpus:
// a fuzz target built with -fprofile-instr-generate runs every corpus input
// once (-runs=0), then llvm-profdata merges and llvm-cov summarises and
// renders the subject's sources, named file by file (a folder given to
// llvm-cov matches nothing when the build recorded its sources through
// `..` paths, which left the page with one empty row).
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

json figures(const json& summary) {
    return {{"lines_covered", summary["lines"]["covered"]},   {"lines_total", summary["lines"]["count"]},
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
    // One process over the whole corpus; inputs that fail in the code under
    // test cannot be in a corpus (they would be crashes).
    ProcResult r = run_process({subject.bin, "-runs=0", corpus_dir},
                               {{"LLVM_PROFILE_FILE", (dir / "corpus.profraw").string()}}, quiet, "", 600);
    if (!fs::exists(dir / "corpus.profraw"))
        return done({{"note", fmt::format("the corpus replay wrote no profile (exit {})", r.exit_code)}});
    const std::string prof = (dir / "corpus.profdata").string();
    if (run_process({"llvm-profdata-14", "merge", "-sparse", (dir / "corpus.profraw").string(), "-o", prof}, {}, quiet)
            .exit_code != 0)
        return done({{"note", "llvm-profdata merge failed"}});
    std::vector<std::string> args = {"llvm-cov-14", "export", "-summary-only", "-instr-profile=" + prof, subject.bin};
    args.insert(args.end(), subject.sources.begin(), subject.sources.end());
    std::string exported;
    if (run_process(args, {}, [&](const std::string& l) { exported += l; }).exit_code != 0)
        return done({{"note", "llvm-cov export failed"}});
    json data;
    try {
        data = json::parse(exported)["data"][0];
    } catch (const std::exception& e) {
        return done({{"note", std::string("unreadable llvm-cov summary: ") + e.what()}});
    }
    json out = figures(data["totals"]);
    // One row a file; and the allocator's logic apart from its support code.
    json files = json::array();
    json logic = {{"lines", {{"covered", 0}, {"count", 0}}}, {"branches", {{"covered", 0}, {"count", 0}}}};
    for (const json& f : data.value("files", json::array())) {
        const std::string name = short_name(f.value("filename", ""), subject);
        json row = figures(f["summary"]);
        row["file"] = name;
        const bool support = std::find(subject.support.begin(), subject.support.end(), name) != subject.support.end();
        if (!subject.support.empty()) row["support"] = support;
        files.push_back(row);
        if (support) continue;
        for (const char* k : {"lines", "branches"}) {
            logic[k]["covered"] = logic[k]["covered"].get<long>() + f["summary"][k]["covered"].get<long>();
            logic[k]["count"] = logic[k]["count"].get<long>() + f["summary"][k]["count"].get<long>();
        }
    }
    out["files"] = files;
    if (!subject.support.empty()) {
        auto pct = [](const json& j) {
            long n = j["count"].get<long>();
            return n ? 100.0 * static_cast<double>(j["covered"].get<long>()) / static_cast<double>(n) : 0.0;
        };
        out["logic_lines_percent"] = pct(logic["lines"]);
        out["logic_branches_percent"] = pct(logic["branches"]);
    }
    std::vector<std::string> show = {"llvm-cov-14", "show", "-format=html", "-show-branches=count",
                                     "-instr-profile=" + prof, "-output-dir=" + (dir / "html").string(), subject.bin};
    show.insert(show.end(), subject.sources.begin(), subject.sources.end());
    run_process(show, {}, quiet);
    if (fs::exists(dir / "html" / "index.html")) out["html"] = "coverage/html/index.html";
    fs::remove(dir / "corpus.profraw", ec);
    return done(out);
}

}  // namespace z3fh::tool
