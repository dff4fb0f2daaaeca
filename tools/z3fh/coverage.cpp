// z3fold-harden: coverage of allocator/ from a campaign's corpus: the
// `coverage` preset's fuzz target (-fprofile-instr-generate) runs every
// corpus input once (-runs=0), then llvm-profdata merges and llvm-cov
// summarises and renders the allocator's sources.
#include "coverage.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>

#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

json measure_coverage(const std::string& corpus_dir, const std::string& out_dir, double* seconds) {
    auto t0 = std::chrono::steady_clock::now();
    auto done = [&](json j) {
        *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return j;
    };
    Context& ctx = Context::get();
    std::fprintf(stderr, "z3fh: coverage: building the coverage preset and replaying the corpus ...\n");
    if (!ctx.ensure_built("coverage", {"z3fold_fuzz"})) return done({{"note", "the coverage preset did not build"}});
    const std::string bin = ctx.build_dir("coverage") + "/fuzz/z3fold_fuzz";
    const fs::path dir = fs::path(out_dir) / "coverage";
    std::error_code ec;
    fs::remove_all(dir, ec);
    fs::create_directories(dir, ec);
    auto quiet = [](const std::string&) {};
    // One process over the whole corpus; inputs that fail in the correct
    // allocator cannot be in a corpus (they would be crashes).
    ProcResult r = run_process({bin, "-runs=0", corpus_dir}, {{"LLVM_PROFILE_FILE", (dir / "corpus.profraw").string()}},
                               quiet, "", 600);
    if (!fs::exists(dir / "corpus.profraw"))
        return done({{"note", fmt::format("the corpus replay wrote no profile (exit {})", r.exit_code)}});
    const std::string prof = (dir / "corpus.profdata").string();
    if (run_process({"llvm-profdata-14", "merge", "-sparse", (dir / "corpus.profraw").string(), "-o", prof}, {}, quiet)
            .exit_code != 0)
        return done({{"note", "llvm-profdata merge failed"}});
    const std::string src = ctx.root() + "/allocator";
    std::string exported;
    if (run_process({"llvm-cov-14", "export", "-summary-only", "-instr-profile=" + prof, bin, src}, {},
                    [&](const std::string& l) { exported += l; })
            .exit_code != 0)
        return done({{"note", "llvm-cov export failed"}});
    json totals;
    try {
        totals = json::parse(exported)["data"][0]["totals"];
    } catch (const std::exception& e) {
        return done({{"note", std::string("unreadable llvm-cov summary: ") + e.what()}});
    }
    run_process({"llvm-cov-14", "show", "-format=html", "-show-branches=count", "-instr-profile=" + prof,
                 "-output-dir=" + (dir / "html").string(), bin, src},
                {}, quiet);
    json out = {{"lines_covered", totals["lines"]["covered"]},
                {"lines_total", totals["lines"]["count"]},
                {"lines_percent", totals["lines"]["percent"]},
                {"branches_covered", totals["branches"]["covered"]},
                {"branches_total", totals["branches"]["count"]},
                {"branches_percent", totals["branches"]["percent"]},
                {"scope", "allocator/"}};
    if (fs::exists(dir / "html" / "index.html")) out["html"] = "coverage/html/index.html";
    fs::remove(dir / "corpus.profraw", ec);
    return done(out);
}

}  // namespace z3fh::tool
