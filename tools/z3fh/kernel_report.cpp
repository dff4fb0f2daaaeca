// z3fold-harden: `z3fh kernel-report` (kernel_report.h). Its steps, in order:
// read the campaigns' findings; attribute each to the fix that removes it
// (the harness replays the finding's input on the file with that fix
// alone); write the series with git in a scratch repository; check each
// patch with checkpatch.pl and a W=1 compile in the real tree; run a
// campaign on the file with the whole series, seeded with every finding;
// write the cover letter.
#include "kernel_report.h"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>

#include "campaign.h"
#include "context.h"
#include "findings.h"
#include "driver_result.h"
#include "kernel_edits.h"
#include "kernel_source.h"
#include "kernel_tree.h"
#include "proc.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

struct Finding {
    json f;                // the campaign's finding
    std::string campaign;  // its folder (absolute)
    std::string input;     // the minimised input, else the crash input (absolute)
    std::string user_env;  // the campaign's --user ("any" unless pinned)
    std::string sanitizer = "asan";  // the campaign's: its replays build the same (a TSan race shows only under TSan)
    const KernelFix* fix = nullptr;
    std::string before, after;  // replays: "K/N" on the unfixed file and with the fix alone
    json diagram = json::array();  // drawn by the unfixed file's replay
};

struct Campaigns {
    std::vector<Finding> findings;  // distinct by signature, earliest first
    TargetChoice target;            // the file they ran (unmodified)
    std::string version;            // "6.1.192-3"
    std::string series;             // "6.1" | "6.12": whose fixes, users and stable tree
    double fuzz_s = 0;              // summed fuzzing time
    std::vector<std::string> runs;  // one line per campaign: what ran
    std::string git_tree;           // the source as a git tree (absolute), or "" if it is none
    // The campaigns' sanitizer when they all ran one (the series' seeded
    // campaign runs it, so a race the series adds shows), else asan.
    std::string sanitizer;
};

std::optional<Campaigns> read_campaigns(const std::vector<std::string>& dirs) {
    Campaigns c;
    std::string sha;
    std::map<std::string, size_t> by_sig;
    for (const std::string& d : dirs) {
        const fs::path dir = fs::absolute(d);
        json r = json::parse(read_file((dir / "report.json").string()), nullptr, false);
        if (!r.is_object()) {
            std::fprintf(stderr, "z3fh: %s: no readable report.json (a campaign folder?)\n", d.c_str());
            return std::nullopt;
        }
        if (r.value("target", "") != "kernel" || !r.value("kernel_patch", "").empty() || r.value("kernel_fixes", false)) {
            std::fprintf(stderr, "z3fh: %s: not a campaign on the unmodified kernel file (--target kernel, no "
                                 "--kernel-patch, no --kernel-fixes)\n", d.c_str());
            return std::nullopt;
        }
        if (r.value("allocator", "z3fold") != "z3fold" || !kernel_fixes_exist(r.value("kernel_series", "6.1"))) {
            std::fprintf(stderr, "z3fh: %s: the harness has fixes for mm/z3fold.c of 6.1 and 6.12 only (this ran "
                                 "Linux %s's mm/%s.c)\n", d.c_str(), r.value("kernel_series", "?").c_str(),
                         r.value("allocator", "?").c_str());
            return std::nullopt;
        }
        if (!sha.empty() && r.value("kernel_sha256", "") != sha) {
            std::fprintf(stderr, "z3fh: %s ran another mm/z3fold.c than %s\n", d.c_str(), dirs[0].c_str());
            return std::nullopt;
        }
        sha = r.value("kernel_sha256", "");
        const std::string san = r.value("sanitizer", "asan");
        c.sanitizer = c.sanitizer.empty() || c.sanitizer == san ? san : "asan";
        c.target.target = "kernel";
        c.target.kernel_source = r.value("kernel_source", "");
        c.series = r.value("kernel_series", "6.1");
        c.target.kernel_version = c.series;
        c.version = r.value("kernel_version", "");
        // "6.1.192-3 (Debian ...)" -> "6.1.192-3"; "kernel tree DIR" stays whole.
        if (c.version.rfind("kernel tree", 0) != 0) c.version = c.version.substr(0, c.version.find(' '));
        c.fuzz_s += r.value("elapsed_s", 0.0);
        c.runs.push_back(fmt::format("{}: {:.0f} s, {} job(s), sanitizer {}, user {}, {} finding(s)",
                                     dir.filename().string(), r.value("elapsed_s", 0.0), r.value("jobs", 1),
                                     r.value("sanitizer", "?"), r.value("user", "any"), r["findings"].size()));
        for (const json& f : r["findings"]) {
            const std::string sig = f.value("signature", "");
            if (sig.empty() || sig == "not-reproduced" || by_sig.count(sig)) continue;
            if (sig == finding_name(FindingId::harness_error)) {
                // The scheduler's own slip: no kernel patch answers it.
                std::fprintf(stderr, "z3fh: %s: a harness-error finding (the harness's bug, not the kernel's) is left "
                                     "out of the series; please report it\n", d.c_str());
                continue;
            }
            Finding x;
            x.f = f;
            x.campaign = dir.string();
            x.user_env = r.value("user", "any");
            x.sanitizer = r.value("sanitizer", "asan");
            x.input = (dir / (f.value("minimized", "").empty() ? f.value("input", "") : f.value("minimized", ""))).string();
            by_sig[sig] = c.findings.size();
            c.findings.push_back(x);
        }
    }
    if (!c.target.kernel_source.empty()) {
        int code = 0;
        const std::string tree = fs::absolute(c.target.kernel_source).string();
        run_capture({"git", "-C", tree, "rev-parse", "--is-inside-work-tree"}, {}, &code);
        if (code == 0) c.git_tree = tree;
    }
    return c;
}

// "Name <email>" from --signoff or the user's git configuration.
std::optional<std::pair<std::string, std::string>> identity(const std::string& signoff) {
    static const std::regex form(R"(^\s*([^<>]*[^<>\s])\s*<([^<>\s]+@[^<>\s]+)>\s*$)");
    std::smatch m;
    if (!signoff.empty()) {
        if (std::regex_match(signoff, m, form)) return std::make_pair(m[1].str(), m[2].str());
        std::fprintf(stderr, "z3fh: --signoff '%s': not \"Name <email>\"\n", signoff.c_str());
        return std::nullopt;
    }
    int a = 0, b = 0;
    std::string name = run_capture({"git", "config", "user.name"}, {}, &a);
    std::string email = run_capture({"git", "config", "user.email"}, {}, &b);
    while (!name.empty() && name.back() == '\n') name.pop_back();
    while (!email.empty() && email.back() == '\n') email.pop_back();
    if (a == 0 && b == 0 && !name.empty() && !email.empty()) return std::make_pair(name, email);
    std::fprintf(stderr, "z3fh: no identity to sign the patches with: set git's user.name and user.email, or give "
                         "--signoff \"Name <email>\" (the tool never invents one)\n");
    return std::nullopt;
}

// z3fh-run-kernel for the pristine file with `edits` applied; "" on failure.
std::string driver_for(const KernelFile& pristine, const std::vector<KernelEdit>& edits, const std::string& tag,
                       const std::string& sanitizer) {
    std::string text = read_file(pristine.pristine), why;
    if (!apply_edits(&text, edits, &why)) {
        std::fprintf(stderr, "z3fh: %s: %s\n", tag.c_str(), why.c_str());
        return "";
    }
    KernelFile k = pristine;
    // One path per content (a build folder is keyed by the file's sha and
    // reconfigured when the path it compiles changes); the unmodified file
    // keeps the path campaigns use.
    if (edits.empty()) {
        k.file = pristine.file;
    } else {
        const std::string dir = Context::get().root() + "/build/kernel-src/report-" + content_key(text);
        fs::create_directories(dir + "/mm");
        k.file = dir + "/mm/z3fold.c";
        if (read_file(k.file) != text) write_file(k.file, text);
    }
    std::fprintf(stderr, "z3fh: building the kernel target (%s) with %s ...\n", sanitizer.c_str(), tag.c_str());
    std::string built = ensure_kernel_built(Context::fuzz_preset(sanitizer, false), k, {"z3fh-run-kernel"});
    return built.empty() ? "" : built + "/kernel/z3fh-run-kernel";
}

// z3fh-run-kernel for the file with every fix of the harness, the one
// `--kernel-fixes` campaigns build (same path, same build folder).
std::string all_fixes_driver(const TargetChoice& target, const std::string& sanitizer) {
    TargetChoice fixed = target;
    fixed.kernel_patch.clear();
    fixed.kernel_fixes = true;
    auto f = prepare_kernel_file(fixed);
    if (!f) return "";
    std::fprintf(stderr, "z3fh: building the kernel target (%s) with every fix of the harness ...\n", sanitizer.c_str());
    std::string built = ensure_kernel_built(Context::fuzz_preset(sanitizer, false), *f, {"z3fh-run-kernel"});
    return built.empty() ? "" : built + "/kernel/z3fh-run-kernel";
}

// Replays of the finding's input: how many of `runs` fail with its
// signature (the first one's diagram into *diagram, if given).
int replays_with_signature(const std::string& driver, const Finding& f, int runs, json* diagram = nullptr) {
    std::map<std::string, std::string> env = Context::get().sanitizer_env(f.sanitizer);
    if (f.user_env != "any") env["Z3FH_USER"] = f.user_env;
    int same = 0;
    for (int i = 0; i < runs; i++) {
        DriverRun r = run_driver(driver, {"replay", f.input}, env);
        if (r.signature() != f.f.value("signature", "")) continue;
        if (same++ == 0 && diagram) *diagram = r.result.value("diagram", json::array());
    }
    return same;
}

// A fix with the fixes it builds on, in the order they apply.
std::vector<const KernelFix*> with_prerequisites(const KernelFix* fix, const std::string& series) {
    std::vector<const KernelFix*> out;
    for (const char* id : fix->requires_fixes)
        if (const KernelFix* pre = kernel_fix(id, series)) out.push_back(pre);
    out.push_back(fix);
    return out;
}

std::vector<KernelEdit> edits_of(const std::vector<const KernelFix*>& fixes) {
    std::vector<KernelEdit> edits;
    for (const KernelFix* f : fixes) edits.insert(edits.end(), f->edits.begin(), f->edits.end());
    return edits;
}

// Fixes to try for a finding: those that name its kind of signature first.
std::vector<const KernelFix*> candidates(const Finding& f, const std::string& series) {
    std::vector<const KernelFix*> first, rest;
    const std::string sig = f.f.value("signature", "");
    for (const KernelFix& fix : kernel_fixes(series)) {
        bool named = std::any_of(fix.signatures.begin(), fix.signatures.end(),
                                 [&](const char* s) { return sig.rfind(s, 0) == 0; });
        (named ? first : rest).push_back(&fix);
    }
    first.insert(first.end(), rest.begin(), rest.end());
    return first;
}

// Which fix removes each finding: its input fails K/N on the unfixed file
// and 0/N with that fix alone.
void attribute(std::vector<Finding>& findings, const KernelFile& pristine, int runs) {
    // Built per sanitizer: each finding replays under its campaign's.
    std::map<std::pair<const KernelFix*, std::string>, std::string> drivers;
    auto driver = [&](const KernelFix* fix, const std::string& sanitizer) -> const std::string& {
        const auto key = std::make_pair(fix, sanitizer);
        if (!drivers.count(key))
            drivers[key] = fix ? driver_for(pristine, edits_of(with_prerequisites(fix, pristine.series)),
                                            std::string("fix ") + fix->id, sanitizer)
                               : driver_for(pristine, {}, "the unmodified file", sanitizer);
        return drivers[key];
    };
    for (Finding& f : findings) {
        const std::string& base = driver(nullptr, f.sanitizer);
        const int before = base.empty() ? 0 : replays_with_signature(base, f, runs, &f.diagram);
        f.before = fmt::format("{}/{}", before, runs);
        if (before == 0) continue;  // does not replay here: nothing to attribute
        for (const KernelFix* fix : candidates(f, pristine.series)) {
            if (driver(fix, f.sanitizer).empty()) continue;
            const int after = replays_with_signature(driver(fix, f.sanitizer), f, runs);
            if (after == 0) {
                f.fix = fix;
                f.after = fmt::format("0/{}", runs);
                break;
            }
        }
        std::fprintf(stderr, "z3fh: %s: %s\n", f.f.value("signature", "").c_str(),
                     f.fix ? fmt::format("fix {} ({} before, {} with it)", f.fix->id, f.before, f.after).c_str()
                           : fmt::format("no single fix removes it ({} before)", f.before).c_str());
    }
}

std::string wrap(const std::string& text, size_t width = 72) {
    std::string out, line;
    std::istringstream words(text);
    for (std::string w; words >> w;) {
        if (!line.empty() && line.size() + 1 + w.size() > width) {
            out += line + "\n";
            line.clear();
        }
        line += (line.empty() ? "" : " ") + w;
    }
    return out + line;
}

struct SeriesPatch {
    const KernelFix* fix = nullptr;
    std::vector<const Finding*> findings;
    std::string file;        // the .patch
    std::vector<std::string> carried_by;  // other files that still carry the code it changes
    std::string checkpatch, compile;      // verdict lines
    std::string needed_by;                // a prerequisite's dependents ("K12")
    bool checkpatch_ok = false, compile_ok = false;
};

// "Found by ...": how the harness found it and how to see it again.
std::string found_by(const SeriesPatch& p, const std::string& series) {
    if (p.findings.empty())
        return wrap(fmt::format("The campaigns found no failure of this alone; {} builds on it.", p.needed_by)) + "\n\n";
    const Finding& f = *p.findings[0];
    std::string m;
    if (!f.diagram.empty()) {
        for (const json& line : f.diagram) m += line.get<std::string>() + "\n";
        m += "\n";
    }
    std::string sigs;
    for (const Finding* x : p.findings) sigs += (sigs.empty() ? "" : ", ") + x->f.value("signature", "");
    const std::string user = f.f.value("user", "zpool");
    const json zswap = f.f.value("zswap", json::object());
    m += wrap(fmt::format(
             "Found by z3fold-harden, which runs this file unmodified against a kernel-API shim under a "
             "deterministic scheduler with {} as the pool's user: {} after {:.1f} s. The finding's minimised input "
             "fails {} on the unfixed file and {} with this change{}.{}",
             user == "zswap" ? fmt::format("a model of {}'s zswap", series) : "a broad zpool user", sigs, f.f.value("time_to_detect_s", 0.0),
             f.before, f.after, p.fix->requires_fixes.empty() ? " alone" : " and the one it builds on",
             user == "zswap" || zswap.value("verdict", "") != "reproduced" ? ""
                                                                          : " Its input also fails with zswap as the user.")) +
         "\n\n";
    m += fmt::format("Reproduce (z3fold-harden):\n  ./z3fh replay {}\n\n",
                     fs::path(f.campaign).filename().string() + "/" + fs::relative(f.input, f.campaign).string());
    return m;
}

// The longest run of plain text in a regex pattern (escapes undone).
std::string longest_literal(const std::string& pattern) {
    std::string best, piece;
    auto cut = [&] {
        if (piece.size() > best.size()) best = piece;
        piece.clear();
    };
    for (size_t i = 0; i < pattern.size(); i++) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char n = pattern[++i];
            if (std::string("sSdDwWbB").find(n) != std::string::npos) cut();
            else piece += n;
        } else if (std::string("()|*+?[]{}^$.").find(c) != std::string::npos) {
            cut();
        } else {
            piece += c;
        }
    }
    cut();
    return best;
}


// "Fixes: <12 hex> (\"subject\")": the oldest commit of the user's git tree
// that added the code the fix's first edit changes (git log -S on its
// longest literal piece); "" when the source is no git tree or none is found.
std::string fixes_tag(const std::string& git_tree, const KernelFix& fix) {
    if (git_tree.empty() || fix.edits.empty()) return "";
    const std::string literal = longest_literal(fix.edits[0].pattern);
    if (literal.size() < 8) return "";
    int code = 0;
    std::string out = run_capture({"git", "-C", git_tree, "log", "--reverse",
                                   "--abbrev=12", "--format=%h%x09%s", "-S" + literal, "--", "mm/z3fold.c"},
                                  {}, &code);
    const size_t tab = out.find('\t'), nl = out.find('\n');
    if (code != 0 || tab == std::string::npos || nl == std::string::npos || tab > nl) return "";
    return fmt::format("Fixes: {} (\"{}\")\n", out.substr(0, tab), out.substr(tab + 1, nl - tab - 1));
}

std::string commit_message(const SeriesPatch& p, const Campaigns& c, const std::string& name, const std::string& email,
                           const std::vector<std::string>& also_checked) {
    std::string m = fmt::format("mm/z3fold: {}\n\n{}\n\n", p.fix->subject, p.fix->body) + found_by(p, c.series);
    std::string carried = fmt::format("{} (this file)", c.version);
    for (size_t i = 0; i < also_checked.size(); i++)
        carried += fmt::format("; {}: {}", also_checked[i],
                               std::find(p.carried_by.begin(), p.carried_by.end(), also_checked[i]) != p.carried_by.end()
                                   ? "still has this code"
                                   : "differs here");
    m += wrap("z3fold is gone from mainline, so this fix is for the stable trees only. Checked: " + carried + ".") +
         "\n\n";
    m += fixes_tag(c.git_tree, *p.fix);
    m += fmt::format("Cc: stable@vger.kernel.org # {}.x\nSigned-off-by: {} <{}>\n", c.series, name, email);
    return m;
}

// One patch per attributed fix, with the fixes they build on, in the
// table's order (a prerequisite comes first there).
std::vector<SeriesPatch> plan_series(const std::vector<Finding>& findings, const std::string& series_name) {
    std::map<const KernelFix*, std::string> needed_by;
    for (const Finding& f : findings)
        if (f.fix)
            for (const KernelFix* pre : with_prerequisites(f.fix, series_name))
                if (pre != f.fix) needed_by[pre] += (needed_by[pre].empty() ? "" : ", ") + std::string(f.fix->id);
    std::vector<SeriesPatch> series;
    for (const KernelFix& fix : kernel_fixes(series_name)) {
        SeriesPatch p;
        p.fix = &fix;
        for (const Finding& f : findings)
            if (f.fix == &fix) p.findings.push_back(&f);
        if (needed_by.count(&fix)) p.needed_by = "the fix for " + needed_by[&fix];
        if (!p.findings.empty() || !p.needed_by.empty()) series.push_back(p);
    }
    return series;
}

struct VerifyResult {
    bool clean = false;  // no finding only with the series
    std::string line;    // one line for the cover letter
    std::vector<std::string> findings;
};

// A campaign on the file with the whole series, seeded with every
// finding's input: whatever it finds is said; one that the unfixed file
// does not have (the series made it) fails the report.
VerifyResult verify_series(const TargetChoice& target, const std::string& diff, const std::vector<Finding>& findings,
                           double budget_s, const std::string& out, const std::string& sanitizer,
                           const std::string& all_fixes_driver) {
    VerifyResult v;
    const fs::path seeds = fs::absolute(out) / ".work" / "seeds";
    std::error_code ec;
    fs::create_directories(seeds, ec);
    for (size_t i = 0; i < findings.size(); i++)
        fs::copy_file(findings[i].input, seeds / fmt::format("finding-{}.z3fp", i + 1), fs::copy_options::overwrite_existing, ec);
    CampaignOptions co;
    co.target = target;
    co.target.kernel_patch = diff;
    co.target.no_kernel_fixes = true;  // the series is the fixes: the unmodified file is its base
    co.budget_s = budget_s;
    co.sanitizer = sanitizer;
    co.jobs = 2;
    co.corpus = seeds.string();
    co.coverage = false;
    co.triage_runs = 3;
    co.minimize = false;  // each finding is judged by replay; shrinking it would only take time
    co.out = (fs::absolute(out) / "verify-campaign").string();
    fs::remove_all(co.out, ec);
    std::fprintf(stderr, "z3fh: a %.0f s campaign (%s) on the file with the whole series, seeded with the findings ...\n",
                 budget_s, sanitizer.c_str());
    const int rc = run_campaign(co);
    json r = json::parse(read_file(co.out + "/report.json"), nullptr, false);
    if (rc == 2 || !r.is_object()) {
        v.line = "the campaign on the patched file could not run";
        return v;
    }
    // The unfixed file's own findings are expected (the series fixes what
    // the campaigns found, not everything). One it does not show is
    // replayed on the file with every fix of the harness: gone there, one
    // of the other fixes removes it (the series changed the interleaving
    // that hid it); still there, the series may have made it: a failure.
    int only_series = 0;
    for (const json& f : r["findings"]) {
        std::string why = "the unfixed file has it too";
        if (!f.value("reproduces_without_patch", true)) {
            const std::string input = co.out + "/" + (f.value("minimized", "").empty() ? f.value("input", "") : f.value("minimized", ""));
            const std::string with_all = all_fixes_driver.empty() ? "?" :
                run_driver(all_fixes_driver, {"replay", input}, Context::get().sanitizer_env(sanitizer)).signature();
            if (signature_without_line(with_all) == signature_without_line(f.value("signature", "")) || with_all == "?") {
                only_series++;
                why = "NOT on the unfixed file, and still there with every fix of the harness";
            } else {
                why = "not on the unfixed file with this input; the harness's other fixes remove it";
            }
        }
        v.findings.push_back(fmt::format("{} ({})", f.value("signature", ""), why));
    }
    v.clean = only_series == 0;
    v.line = fmt::format("{} execs in {:.0f} s ({}) on the file with the series, seeded with the {} finding(s): {}",
                         r.value("execs", uint64_t{0}), r.value("elapsed_s", 0.0), sanitizer, findings.size(),
                         r["findings"].empty() ? "nothing found"
                                               : fmt::format("{} finding(s), {} that may be the series'",
                                                             r["findings"].size(), only_series));
    return v;
}

std::pair<std::string, std::string> cover_letter(const Campaigns& c, const std::vector<SeriesPatch>& series,
                                                 const VerifyResult& verify, const KernelReportOptions& o) {
    std::string b = wrap(fmt::format(
                        "These patches fix {} defect(s) in mm/z3fold.c of {} that z3fold-harden found. It compiles "
                        "the file unmodified against a kernel-API shim and runs it under a deterministic scheduler, "
                        "with a model of {}'s zswap (and a broader zpool user) calling it and an mm core that "
                        "isolates and migrates pages as mm/compaction.c and mm/migrate.c do.",
                        series.size(), c.version, c.series)) +
                    "\n\nWhat ran:\n";
    for (const std::string& run : c.runs) b += "  " + run + "\n";
    b += "\nPer patch: its finding's input before / with the fix alone (replays\n"
         "under input-driven scheduling), checkpatch.pl, and make W=1\n"
         "mm/z3fold.o in the real tree:\n";
    for (size_t i = 0; i < series.size(); i++) {
        const SeriesPatch& p = series[i];
        b += fmt::format("  {}/{} {}: {}\n      {}; {}\n", i + 1, series.size(), p.fix->id,
                         p.findings.empty() ? "no finding of its own; " + p.needed_by + " builds on it"
                                            : fmt::format("{} fails {} unfixed, {} with it", p.findings[0]->f.value("signature", ""),
                                                          p.findings[0]->before, p.findings[0]->after),
                         p.checkpatch, o.compile ? p.compile : "not compiled (--no-compile)");
    }
    b += "\n" + wrap("The whole series: " + verify.line) + "\n";
    for (const std::string& f : verify.findings) b += "  " + f + "\n";
    std::string left;
    for (const Finding& f : c.findings)
        if (!f.fix) left += fmt::format("  {} (replays {} on the unfixed file)\n", f.f.value("signature", ""), f.before);
    if (!left.empty()) b += "\nFindings no single fix of the harness removes (no patch here):\n" + left;
    b += "\n" +
         wrap(!c.git_tree.empty()
                  ? "Fixes: tags name the oldest commit of the source's git history that added the code each fix "
                    "changes (git log -S); a patch without one found none."
                  : "No Fixes: tags: the source is Debian's linux-source package, not a git tree, so the commits "
                    "that introduced these bugs cannot be looked up here.") +
         "\n\n" + wrap("z3fold was removed from mainline after 6.12, so these fixes are for the stable trees only.") +
         "\n";
    return {fmt::format("mm/z3fold: fix {} race(s) and leak(s) found by z3fold-harden", series.size()), b};
}

}  // namespace

int cmd_kernel_report(const KernelReportOptions& o) {
    auto who = identity(o.signoff);
    if (!who) return 2;
    auto campaigns = read_campaigns(o.from);
    if (!campaigns) return 2;
    if (campaigns->findings.empty()) {
        std::fprintf(stderr, "z3fh: the campaigns found nothing in the kernel's file: no series to write\n");
        return 2;
    }
    auto pristine = prepare_kernel_file(campaigns->target);
    if (!pristine) return 2;
    attribute(campaigns->findings, *pristine, o.runs);
    std::vector<SeriesPatch> series = plan_series(campaigns->findings, campaigns->series);
    if (series.empty()) {
        std::fprintf(stderr, "z3fh: no fix of the harness removes any of the findings: no series to write\n");
        return 2;
    }
    for (SeriesPatch& p : series)
        for (const std::string& other : o.also_check) {
            std::string text = read_file(other), why;
            if (!text.empty() && apply_edits(&text, p.fix->edits, &why)) p.carried_by.push_back(other);
        }
    SeriesWriter writer(*pristine, o.out, who->first, who->second, campaigns->version);
    std::vector<std::string> messages;
    for (const SeriesPatch& p : series) messages.push_back(commit_message(p, *campaigns, who->first, who->second, o.also_check));
    std::vector<const KernelFix*> fixes;
    for (const SeriesPatch& p : series) fixes.push_back(p.fix);
    std::vector<std::string> files = writer.write(fixes, messages);
    if (files.size() != series.size() + 1) return 2;
    for (size_t i = 0; i < series.size(); i++) series[i].file = files[i + 1];
    // The three checks, then the cover letter.
    bool all_ok = true;
    // checkpatch.pl and the real tree come from Debian's package (a user's
    // tree is never built in), keyed by the package's version.
    TargetChoice debian;
    debian.target = "kernel";
    debian.kernel_version = campaigns->series;
    auto debian_file = prepare_kernel_file(debian);
    const std::string debian_version =
        debian_file ? debian_file->version.substr(0, debian_file->version.find(' ')) : campaigns->version;
    const std::string checkpatch = checkpatch_script(campaigns->target, campaigns->series, debian_version);
    for (SeriesPatch& p : series) {
        p.checkpatch_ok = run_checkpatch(checkpatch, p.file, &p.checkpatch, campaigns->git_tree);
        all_ok = all_ok && p.checkpatch_ok;
    }
    if (o.compile) {
        RealTree tree(campaigns->series, debian_version);
        for (size_t i = 0; i < series.size(); i++) {
            series[i].compile_ok = tree.ready() && tree.compile(writer.file_after(i), &series[i].compile);
            if (!tree.ready()) series[i].compile = "not compiled: " + tree.why();
            all_ok = all_ok && series[i].compile_ok;
        }
    }
    const std::string all_fixes = all_fixes_driver(campaigns->target, campaigns->sanitizer);
    VerifyResult verify = verify_series(campaigns->target, writer.series_diff(), campaigns->findings, o.verify_budget_s,
                                        o.out, campaigns->sanitizer, all_fixes);
    all_ok = all_ok && verify.clean;
    auto [subject, blurb] = cover_letter(*campaigns, series, verify, o);
    if (!writer.write_cover_letter(files[0], subject, blurb)) {
        std::fprintf(stderr, "z3fh: %s is not git's cover-letter template\n", files[0].c_str());
        return 2;
    }
    std::printf("kernel-report: %zu patch(es) for %zu finding(s) in %s\n", series.size(), campaigns->findings.size(),
                fs::absolute(o.out).c_str());
    for (const SeriesPatch& p : series)
        std::printf("  %s  %s; %s\n", fs::path(p.file).filename().c_str(), p.checkpatch.c_str(),
                    o.compile ? p.compile.c_str() : "not compiled (--no-compile)");
    std::printf("  whole series: %s\n", verify.line.c_str());
    return all_ok ? 0 : 1;
}

}  // namespace z3fh::tool
