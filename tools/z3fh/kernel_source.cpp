// z3fold-harden: the kernel target's source: extraction from Debian's
// linux-source-6.1 or -6.12 (or a kernel tree), the sha256 check, patches, the
// build, and the review defects re-created as edits of the user's file.
#include "kernel_source.h"
#include "kernel_edits.h"
#include "kernel_report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "campaign.h"
#include "commands.h"
#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

using json = nlohmann::json;

namespace {

constexpr KernelSeries kKernelSeries[] = {
    {"6.1", "linux-source-6.1", 601},
    {"6.12", "linux-source-6.12", 612},
};

// A command's exit code, its output in *out.
int run_collect(const std::vector<std::string>& argv, std::string* out, const std::string& cwd = "") {
    int rc = 0;
    std::string o = run_capture(argv, {}, &rc, cwd);
    if (out) *out = o;
    return rc;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

// The installed package's version, or empty.
std::string installed_version(const std::string& package) {
    std::string out;
    if (run_collect({"dpkg-query", "-W", "-f=${Status} ${Version}", package}, &out) != 0) return "";
    out = trim(out);
    const std::string ok = "install ok installed ";
    if (out.rfind(ok, 0) != 0) return "";
    return out.substr(ok.size());
}

// Get the series' kernel tarball: the installed package, else apt-get
// download into the cache. Sets *tarball and *version.
bool fetch_tarball(const KernelSeries& series, const std::string& cache, std::string* tarball, std::string* version) {
    const std::string package = series.package;
    const std::string installed = "/usr/src/" + package + ".tar.xz";
    std::string v = installed_version(package);
    if (!v.empty() && fs::exists(installed)) {
        *tarball = installed;
        *version = v;
        return true;
    }
    fs::create_directories(cache);
    // A .deb downloaded earlier into the cache (linux-source-6.1_... is not
    // a linux-source-6.12 one: the name ends at the underscore).
    auto cached_deb = [&]() -> std::string {
        for (const auto& e : fs::directory_iterator(cache))
            if (e.path().extension() == ".deb" && e.path().filename().string().rfind(package + "_", 0) == 0)
                return e.path().string();
        return "";
    };
    std::string deb = cached_deb();
    std::string log;
    if (deb.empty()) {
        std::fprintf(stderr, "z3fh: fetching Debian's %s (about 150 MB) with apt ...\n", package.c_str());
        if (run_collect({"apt-get", "download", package}, &log, cache) != 0) {
            if (geteuid() == 0) (void)run_collect({"apt-get", "update", "-qq"}, nullptr);
            if (run_collect({"apt-get", "download", package}, &log, cache) != 0) {
                std::fprintf(stderr, "%s", log.c_str());
                std::fprintf(stderr,
                             "z3fh: could not fetch %s with apt-get (a Debian 12 machine with its package lists is "
                             "needed), or give --kernel-source DIR\n",
                             package.c_str());
                return false;
            }
        }
        deb = cached_deb();
        if (deb.empty()) {
            std::fprintf(stderr, "z3fh: apt-get download left no %s .deb in %s\n", package.c_str(), cache.c_str());
            return false;
        }
    }
    std::string out;
    if (run_collect({"dpkg-deb", "-f", deb, "Version"}, &out) != 0) {
        std::fprintf(stderr, "z3fh: %s is not a readable .deb\n", deb.c_str());
        return false;
    }
    *version = trim(out);
    std::string tb = cache + "/" + package + ".tar.xz";
    if (!fs::exists(tb)) {
        const std::string unpacked = cache + "/deb.part";
        std::error_code ec;
        fs::remove_all(unpacked, ec);
        if (run_collect({"dpkg-deb", "-x", deb, unpacked}, &log) != 0 ||
            (fs::rename(unpacked + "/usr/src/" + package + ".tar.xz", tb, ec), ec)) {
            std::fprintf(stderr, "%sz3fh: could not unpack %s\n", log.c_str(), deb.c_str());
            fs::remove_all(unpacked, ec);
            return false;
        }
        fs::remove_all(unpacked, ec);
    }
    *tarball = tb;
    return true;
}

// Known kernel files: "sha256 series file version" lines.
bool known_sha(const std::string& sha, const std::string& series, std::string* name) {
    std::istringstream in(read_file(Context::get().root() + "/kernel/known-sources.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string s, ser, file, v;
        ls >> s >> ser >> file >> v;
        if (s == sha && ser == series) {
            *name = file + " " + v;
            return true;
        }
    }
    return false;
}

// A kernel tree's series from its top Makefile (VERSION, PATCHLEVEL), or
// empty when DIR has none.
std::string tree_series(const fs::path& dir) {
    std::istringstream in(read_file((dir / "Makefile").string()));
    std::string line, version, patchlevel;
    static const std::regex kv(R"(^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$)");
    std::smatch m;
    while (std::getline(in, line))
        if (std::regex_match(line, m, kv)) (m[1] == "VERSION" ? version : patchlevel) = m[2];
    return version.empty() || patchlevel.empty() ? "" : version + "." + patchlevel;
}

}  // namespace

std::string content_key(const std::string& text) {
    return fmt::format("{:016x}", static_cast<uint64_t>(std::hash<std::string>{}(text)));
}

bool extract_from_tarball(const std::string& tarball, const std::vector<std::string>& members, const std::string& dest,
                          int strip) {
    std::error_code ec;
    fs::create_directories(dest, ec);
    std::vector<std::string> argv = {"tar", "-xJf", tarball, "-C", dest, fmt::format("--strip-components={}", strip)};
    argv.insert(argv.end(), members.begin(), members.end());
    std::string log;
    if (run_collect(argv, &log) == 0) return true;
    std::fprintf(stderr, "%s", log.c_str());
    return false;
}

std::string sha256_file(const std::string& path) {
    std::string out;
    if (run_collect({"sha256sum", path}, &out) != 0) return "";
    return out.substr(0, out.find(' '));
}

TargetChoice kernel_choice(const std::string& allocator, const std::string& series) {
    TargetChoice t;
    t.target = "kernel";
    t.allocator = allocator;
    t.kernel_version = series;
    return t;
}

const KernelSeries* find_kernel_series(const std::string& name) {
    for (const KernelSeries& s : kKernelSeries)
        if (name == s.name) return &s;
    std::string known;
    for (const KernelSeries& s : kKernelSeries) known += std::string(known.empty() ? "" : ", ") + s.name;
    std::fprintf(stderr, "z3fh: kernel version '%s' is not one the harness models (%s)\n", name.c_str(), known.c_str());
    return nullptr;
}

bool kernel_allocator_supported(const std::string& allocator, const KernelSeries& series, std::string* why) {
    if (allocator == "z3fold") return true;
    if ((allocator == "zbud" || allocator == "zsmalloc") && series.code >= 612) return true;
    if (allocator == "zbud" || allocator == "zsmalloc")
        *why = fmt::format("--allocator {0}: the kernel target runs Linux 6.12's {0} (--kernel-version 6.12); {1}'s "
                           "has zpool's evict, which it does not model",
                           allocator, series.name);
    else
        *why = fmt::format("--allocator {}: not an allocator (z3fold, zsmalloc or zbud)", allocator);
    return false;
}

namespace {

// Which series and allocator a choice names, checked; false after saying why.
bool resolve_series(const TargetChoice& t, KernelFile* k, const KernelSeries** series) {
    std::string name = t.kernel_version;
    if (!t.kernel_source.empty()) {
        const std::string own = tree_series(fs::absolute(t.kernel_source));
        if (!own.empty() && !name.empty() && own != name) {
            std::fprintf(stderr, "z3fh: --kernel-source %s is Linux %s, not --kernel-version %s\n",
                         t.kernel_source.c_str(), own.c_str(), name.c_str());
            return false;
        }
        if (name.empty()) name = own;
        if (name.empty())
            std::fprintf(stderr, "z3fh: --kernel-source %s has no Makefile to say its version: taken as Linux 6.1 "
                                 "(--kernel-version 6.12 for a 6.12 file)\n",
                         t.kernel_source.c_str());
    }
    if (name.empty()) name = "6.1";
    *series = find_kernel_series(name);
    if (!*series) return false;
    k->series = (*series)->name;
    k->series_code = (*series)->code;
    k->allocator = t.allocator.empty() ? "z3fold" : t.allocator;
    std::string why;
    if (!kernel_allocator_supported(k->allocator, **series, &why)) {
        std::fprintf(stderr, "z3fh: %s\n", why.c_str());
        return false;
    }
    return true;
}

// Where the pristine file is: the user's tree, or Debian's package for the
// series (fetched and extracted once); false after saying why.
bool locate_pristine(const TargetChoice& t, const KernelSeries& series, KernelFile* k) {
    const std::string base = Context::get().root() + "/build/kernel-src";
    const std::string member = "mm/" + k->allocator + ".c";
    if (!t.kernel_source.empty()) {
        fs::path dir = fs::absolute(t.kernel_source);
        fs::path file = dir / member;
        if (fs::is_regular_file(dir) && dir.filename() == k->allocator + ".c") file = dir;
        if (!fs::is_regular_file(file)) {
            std::fprintf(stderr, "z3fh: --kernel-source %s: no %s there\n", t.kernel_source.c_str(), member.c_str());
            return false;
        }
        k->pristine = file.string();
        k->version = "kernel tree " + dir.string() + " (Linux " + series.name + ")";
        return true;
    }
    std::string tarball, version;
    if (!fetch_tarball(series, base + "/debian", &tarball, &version)) return false;
    const std::string pristine_dir = base + "/debian-" + version;
    k->pristine = pristine_dir + "/" + member;
    k->version = version + " (Debian " + series.package + ")";
    if (fs::exists(k->pristine)) return true;
    std::fprintf(stderr, "z3fh: extracting %s from %s ...\n", member.c_str(), tarball.c_str());
    fs::create_directories(pristine_dir + "/mm");
    const std::string in_tarball = std::string(series.package) + "/" + member;
    if (!extract_from_tarball(tarball, {in_tarball}, pristine_dir, 1)) {
        std::fprintf(stderr, "z3fh: %s holds no %s\n", tarball.c_str(), in_tarball.c_str());
        return false;
    }
    return true;
}

// Copy `base_file` to DIR/mm/<allocator>.c and apply `patch` there: -p1
// against DIR (git's a/ b/ names), else to the file directly, whatever the
// diff's header says. The copy in *target, patch's messages in *log.
bool apply_patch_copy(const std::string& base_file, const fs::path& patch, const std::string& allocator,
                      const std::string& dir, std::string* target, std::string* log) {
    fs::create_directories(dir + "/mm");
    *target = dir + "/mm/" + allocator + ".c";
    fs::copy_file(base_file, *target, fs::copy_options::overwrite_existing);
    bool ok = run_collect({"patch", "--batch", "--forward", "-s", "-p1", "-d", dir, "-i", patch.string()}, log) == 0;
    if (!ok) {
        fs::copy_file(base_file, *target, fs::copy_options::overwrite_existing);
        ok = run_collect({"patch", "--batch", "--forward", "-s", *target, "-i", patch.string()}, log) == 0;
    }
    fs::remove(*target + ".orig");
    fs::remove(*target + ".rej");
    return ok;
}

}  // namespace

std::optional<KernelFile> prepare_kernel_file(const TargetChoice& t) {
    Context& ctx = Context::get();
    const std::string base = ctx.root() + "/build/kernel-src";
    KernelFile k;
    const KernelSeries* series = nullptr;
    if (!resolve_series(t, &k, &series) || !locate_pristine(t, *series, &k)) return std::nullopt;
    k.sha256 = sha256_file(k.pristine);
    std::string known_as;
    k.known = known_sha(k.sha256, k.series, &known_as);
    if (!k.known)
        std::fprintf(stderr,
                     "z3fh: warning: mm/%s.c (sha256 %s) is not a Linux %s file this harness was checked against "
                     "(kernel/known-sources.txt); going on\n",
                     k.allocator.c_str(), k.sha256.c_str(), k.series.c_str());
    if (t.kernel_fixes && (k.allocator != "z3fold" || !kernel_fixes_exist(k.series))) {
        std::fprintf(stderr, "z3fh: --kernel-fixes: the harness's fixes are edits of mm/z3fold.c (6.1, 6.12); "
                             "Linux %s's mm/%s.c has none\n", k.series.c_str(), k.allocator.c_str());
        return std::nullopt;
    }
    k.file = k.pristine;
    k.base = k.pristine;
    if (!t.kernel_source.empty() || t.kernel_fixes) {
        // Compile a copy (a later edit of the user's tree is picked up by its
        // sha), with the harness's fixes when asked.
        std::string text = read_file(k.pristine), why;
        if (t.kernel_fixes && !apply_edits(&text, all_fix_edits(k.series), &why)) {
            std::fprintf(stderr, "z3fh: --kernel-fixes: %s\n", why.c_str());
            return std::nullopt;
        }
        std::string dir = base + (t.kernel_fixes ? "/fixed-" : "/tree-") + k.sha256.substr(0, 12);
        fs::create_directories(dir + "/mm");
        k.base = dir + "/mm/" + k.allocator + ".c";
        if (read_file(k.base) != text) write_file(k.base, text);
        k.file = k.base;
    }
    if (t.kernel_patch.empty() || t.kernel_patch == "none") return k;
    // A patched copy, keyed by the file and the patch contents.
    fs::path patch = fs::absolute(t.kernel_patch);
    if (!fs::is_regular_file(patch)) {
        std::fprintf(stderr, "z3fh: --kernel-patch %s: no such file\n", t.kernel_patch.c_str());
        return std::nullopt;
    }
    std::string body = read_file(patch.string());
    if (body.find("@@") == std::string::npos) {
        std::fprintf(stderr, "z3fh: --kernel-patch %s is not a unified diff (no @@ hunk)\n", t.kernel_patch.c_str());
        return std::nullopt;
    }
    std::string dir = base + "/patched-" + content_key(read_file(k.base)) + "-" + content_key(body);
    std::string target, log;
    if (!apply_patch_copy(k.base, patch, k.allocator, dir, &target, &log)) {
        std::fprintf(stderr, "%s", log.c_str());
        std::fprintf(stderr, "z3fh: --kernel-patch %s does not apply to mm/%s.c (%s)\n", t.kernel_patch.c_str(), k.allocator.c_str(),
                     k.version.c_str());
        return std::nullopt;
    }
    k.file = target;
    k.patch = patch.string();
    return k;
}

std::vector<std::pair<std::string, std::string>> known_findings_of(const std::string& sha256) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(read_file(Context::get().root() + "/kernel/known-findings.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string sha, sig, which;
        ls >> sha >> sig >> which;
        if (sha == sha256 && !sig.empty()) out.emplace_back(sig, which);
    }
    return out;
}

std::string fixes_fit_under_patch(const TargetChoice& t) {
    if (t.target != "kernel" || t.kernel_patch.empty() || t.kernel_patch == "none" || t.kernel_fixes ||
        t.no_kernel_fixes)
        return "not a patch of the unmodified file";
    KernelFile k;
    const KernelSeries* series = nullptr;
    if (!resolve_series(t, &k, &series) || !locate_pristine(t, *series, &k)) return "the source cannot be had";
    if (k.allocator != "z3fold" || !kernel_fixes_exist(k.series))
        return fmt::format("the harness has no fixes for Linux {}'s mm/{}.c", k.series, k.allocator);
    std::string text = read_file(k.pristine), why;
    if (!apply_edits(&text, all_fix_edits(k.series), &why)) return "the harness's fixes do not apply to this file: " + why;
    const fs::path patch = fs::absolute(t.kernel_patch);
    if (!fs::is_regular_file(patch)) return "no such patch";
    const std::string dir = Context::get().root() + "/build/kernel-src/fit-" + content_key(text) + "-" +
                            content_key(read_file(patch.string()));
    fs::create_directories(dir);
    const std::string fixed = dir + "/fixed.c";
    write_file(fixed, text);
    std::string target, log;
    const bool ok = apply_patch_copy(fixed, patch, k.allocator, dir, &target, &log);
    std::error_code ec;
    fs::remove_all(dir, ec);
    return ok ? "" : "the patch does not apply on top of the harness's fixes";
}

std::string ensure_kernel_built(const std::string& preset, const KernelFile& k, const std::vector<std::string>& targets,
                                double* seconds, const std::vector<std::string>& extra_cache_args) {
    Context& ctx = Context::get();
    std::string version = k.version.substr(0, k.version.find(' '));
    std::string dir = ctx.root() + "/build/kernel/" + preset + "-" + sha256_file(k.file).substr(0, 12);
    std::vector<std::string> args = {"-DZ3FH_KERNEL_SOURCE=" + k.file, "-DZ3FH_KERNEL_VERSION=" + version,
                                     fmt::format("-DZ3FH_KERNEL_SERIES={}", k.series_code),
                                     "-DZ3FH_KERNEL_ALLOCATOR=" + k.allocator};
    args.insert(args.end(), extra_cache_args.begin(), extra_cache_args.end());
    return ctx.ensure_built_in(preset, dir, targets, seconds, args) ? dir : std::string();
}

TargetChoice without_patch(const TargetChoice& t) {
    TargetChoice b = t;
    b.kernel_patch.clear();
    return b;
}

namespace {

// One kernel campaign on a defect patch; "" if a finding with `signature`
// (any, if empty) fails only with the patch, and every finding carries its
// zswap verdict; else why not. `whole`: the finding must also replay 5/5,
// minimise and export.
std::string kernel_defect_found(const std::string& name, const std::string& patch, bool fixes, double budget_s,
                                const std::string& signature, bool whole = false,
                                const TargetChoice& base = kernel_choice()) {
    std::fprintf(stderr, "\n=== kernel: campaign --target kernel%s --kernel-patch %s ===\n", fixes ? " --kernel-fixes" : "",
                 fs::path(patch).filename().c_str());
    CampaignOptions o;
    o.budget_s = budget_s;
    o.jobs = 1;
    o.corpus = "none";
    o.triage_runs = whole ? 5 : 3;
    o.coverage = false;
    o.target = base;
    o.target.kernel_fixes = fixes;
    o.target.no_kernel_fixes = !fixes;  // each defect is judged against exactly the base it names
    o.target.kernel_patch = patch;
    o.out = Context::get().root() + "/build/e2e/kernel-" + name;
    std::error_code ec;
    fs::remove_all(o.out, ec);
    int crc = run_campaign(o);
    if (crc != 1) return fmt::format("campaign exit {}", crc);
    json report = json::parse(read_file(o.out + "/report.json"), nullptr, false);
    if (report.is_discarded()) return "report.json unreadable";
    for (const json& f : report.value("findings", json::array()))
        if (f.value("signature", "") != "not-reproduced" && (!f.contains("zswap") || !f["zswap"].contains("verdict")))
            return "a finding without its zswap verdict: " + f.value("signature", "");
    for (const json& f : report.value("findings", json::array()))
        if ((signature.empty() || f.value("signature", "") == signature) && f.contains("reproduces_without_patch") &&
            !f["reproduces_without_patch"].get<bool>()) {
            if (!whole) return "";
            if (f.value("replays", "") != "5/5") return signature + " replays " + f.value("replays", "");
            if (f.value("minimized", "").empty() || f.value("exported_test", "").empty())
                return signature + " was not minimised and exported";
            return "";
        }
    return signature.empty() ? "the finding's input fails the same way without the defect"
                             : "no " + signature + " that fails only with the patch";
}

}  // namespace

namespace {

// Linux 6.12's mm/z3fold.c under 6.12's zswap and mm core: the kernel tests
// built for it (kernel_612_test.cpp pins K14), then a short zswap campaign
// on the unmodified file, whose first finding must be one of 6.12's known
// ones (docs/findings.md), replay 5/5, minimise and export, in a report that
// names the series.
std::string check_kernel_612() {
    Context& ctx = Context::get();
    std::fprintf(stderr, "\n=== kernel target: Linux 6.12's mm/z3fold.c ===\n");
    const TargetChoice t = kernel_choice("z3fold", "6.12");
    auto k = prepare_kernel_file(t);
    if (!k) return "could not get 6.12's mm/z3fold.c";
    std::string dir = ensure_kernel_built("libfuzzer", *k, {"kernel_tests"}, nullptr, {"-DZ3FH_TESTS=ON"});
    if (dir.empty()) return "the 6.12 kernel target did not build";
    int rc = run_process({dir + "/kernel/kernel_tests"}, ctx.sanitizer_env("asan")).exit_code;
    if (rc != 0) return fmt::format("6.12 kernel tests exit {}", rc);
    // The harness's fixes as edits of 6.12's file: every one applies.
    if (cmd_kernel_defect("fixes", ctx.root() + "/build/kernel-src/defects/fixes-6.12.diff", t) != 0)
        return "the harness's fixes do not apply to 6.12's file";
    CampaignOptions o;
    o.budget_s = 20;
    o.jobs = 1;
    o.corpus = "none";
    o.triage_runs = 5;
    o.coverage = false;
    o.user = "zswap";
    o.target = t;
    o.out = ctx.root() + "/build/e2e/kernel-612";
    std::error_code ec;
    fs::remove_all(o.out, ec);
    if (int crc = run_campaign(o); crc != 1) return fmt::format("6.12 campaign exit {}", crc);
    json report = json::parse(read_file(o.out + "/report.json"), nullptr, false);
    if (report.is_discarded()) return "report.json unreadable";
    if (report.value("kernel_series", "") != "6.12") return "the report does not name Linux 6.12";
    static const std::vector<std::string> kKnown612 = {
        "invariant:page-state-at-rest",  "invariant:slots-accounting",      "sanitizer:heap-use-after-free",
        "leak@alloc_slots<-init_z3fold_page", "leak@alloc_slots<-__z3fold_alloc", "percpu-out-of-bounds@z3fold.c:550",
        "invariant:claimed-page-listed", "lock-not-held@z3fold.c:1355",     "check-failed@z3fold.c:1293",
        "invariant:handle-unresolvable", "invariant:object-contents",   "invariant:listed-page-freed",
        "hang"};
    const json findings = report.value("findings", json::array());
    if (findings.empty()) return "no finding on 6.12's file in 20 s";
    const json& f = findings[0];
    const std::string sig = f.value("signature", "");
    if (std::find(kKnown612.begin(), kKnown612.end(), sig) == kKnown612.end()) return "an unknown 6.12 finding: " + sig;
    if (f.value("replays", "") != "5/5") return sig + " replays " + f.value("replays", "");
    if (f.value("minimized", "").empty() || f.value("exported_test", "").empty())
        return sig + " was not minimised and exported";
    return "";
}

// A 6.12 allocator with no finding of its own: its kernel tests, then a
// clean 20-second campaign on the unmodified file, whose report it leaves
// in *report. "" or what failed.
std::string allocator_clean(const std::string& allocator, json* report) {
    Context& ctx = Context::get();
    std::fprintf(stderr, "\n=== kernel target: Linux 6.12's mm/%s.c ===\n", allocator.c_str());
    const TargetChoice t = kernel_choice(allocator, "6.12");
    auto k = prepare_kernel_file(t);
    if (!k) return "could not get 6.12's mm/" + allocator + ".c";
    std::string dir = ensure_kernel_built("libfuzzer", *k, {"kernel_tests"}, nullptr, {"-DZ3FH_TESTS=ON"});
    if (dir.empty()) return "the " + allocator + " kernel target did not build";
    if (int rc = run_process({dir + "/kernel/kernel_tests"}, ctx.sanitizer_env("asan")).exit_code; rc != 0)
        return fmt::format("{} kernel tests exit {}", allocator, rc);
    CampaignOptions o;
    o.budget_s = 20;
    o.jobs = 1;
    o.corpus = "none";
    o.coverage = false;
    o.target = t;
    o.out = ctx.root() + "/build/e2e/kernel-" + allocator;
    std::error_code ec;
    fs::remove_all(o.out, ec);
    if (int crc = run_campaign(o); crc != 0)
        return fmt::format("the unmodified {} campaign exit {} (a finding?)", allocator, crc);
    *report = json::parse(read_file(o.out + "/report.json"), nullptr, false);
    if (report->is_discarded()) return "report.json unreadable";
    if (report->value("allocator", "") != allocator) return "the report does not name " + allocator;
    return "";
}

// Linux 6.12's mm/zbud.c: clean (allocator_clean), and each seeded zbud
// defect found by a 30-second campaign, only with its patch.
std::string check_kernel_zbud() {
    json report;
    if (std::string err = allocator_clean("zbud", &report); !err.empty()) return err;
    const TargetChoice t = kernel_choice("zbud", "6.12");
    for (const std::string& d : kernel_defect_names_of("zbud")) {
        const std::string patch = Context::get().root() + "/build/kernel-src/defects/" + d + ".diff";
        if (cmd_kernel_defect(d, patch, t) != 0) return d + ": kernel-defect failed";
        if (std::string err = kernel_defect_found(d, patch, false, 30, "", false, t); !err.empty()) return d + ": " + err;
    }
    return "";
}

// Linux 6.12's mm/zsmalloc.c: clean (allocator_clean), with a corpus that
// allocates huge objects and has pages migrated. (Spanning maps are rarer
// than these: 17 in 200 sampled programs of a 30-minute run, and a 20 s
// campaign met none in one fresh-clone run; Zsmalloc.AnObjectThatSpans-
// PagesIsReadFromBoth pins that path instead.)
std::string check_kernel_zsmalloc() {
    json report;
    if (std::string err = allocator_clean("zsmalloc", &report); !err.empty()) return err;
    const json depth = report.value("depth", json::object());
    for (const char* counter : {"huge_objects", "migrations"})
        if (depth.value(counter, uint64_t{0}) == 0) return std::string("depth counter ") + counter + " is 0";
    return "";
}

}  // namespace

int check_kernel_target(std::vector<std::string>* summary, int* passed) {
    Context& ctx = Context::get();
    int failed = 0;
    auto record = [&](const std::string& what, const std::string& err) {
        summary->push_back(fmt::format("kernel {:<22} {}{}", what, err.empty() ? "passed" : "FAILED",
                                       err.empty() ? "" : " (" + err + ")"));
        (err.empty() ? *passed : failed)++;
    };
    const std::string preset = "libfuzzer";
    std::fprintf(stderr, "\n=== kernel target: Debian's mm/z3fold.c, shim and adapter tests ===\n");
    auto pristine = prepare_kernel_file(kernel_choice());
    if (!pristine) {
        record("source", "could not get mm/z3fold.c");
        return failed;
    }
    std::string dir = ensure_kernel_built(preset, *pristine, {"kernel_tests"}, nullptr, {"-DZ3FH_TESTS=ON"});
    if (dir.empty()) {
        record("build", "the kernel target did not build");
        return failed;
    }
    int rc = run_process({dir + "/kernel/kernel_tests"}, ctx.sanitizer_env("asan")).exit_code;
    record("shim-and-adapter-tests", rc == 0 ? "" : fmt::format("exit {}", rc));

    // A patch that is not a diff, or does not apply: exit 2 and one line.
    std::string bad = ctx.root() + "/build/kernel-src/not-a-patch.diff";
    write_file(bad, "this is not a unified diff\n");
    int brc = 0;
    std::string msg =
        run_capture({"/proc/self/exe", "campaign", "--target", "kernel", "--kernel-patch", bad, "--budget", "1"}, {}, &brc);
    record("bad-patch", brc == 2 && msg.find("not a unified diff") != std::string::npos ? "" : fmt::format("exit {}", brc));

    // An upstream bug as a patch of the unmodified file, alone: 6.1's own
    // findings come first, so the campaign fuzzes past them, and triage must
    // name the bug's own finding as failing only with the patch.
    {
        const std::string d = "failed-reclaim-not-unbuddied";
        std::string patch = ctx.root() + "/build/kernel-src/defects/" + d + ".unmodified.diff";
        TargetChoice none;
        record("patch-of-unmodified", cmd_kernel_defect(d, patch, none, true) != 0
                                          ? "kernel-defect --unmodified failed"
                                          : kernel_defect_found("unmodified-" + d, patch, false, 30, "invariant:unbuddied-index"));
        // A campaign would put the harness's fixes under this patch (it
        // applies on top of them), but not under the fix series itself.
        TargetChoice review = kernel_choice();
        review.kernel_patch = patch;
        std::string fit = fixes_fit_under_patch(review);
        const std::string series = ctx.root() + "/build/kernel-src/defects/fixes.diff";
        if (fit.empty() && cmd_kernel_defect("fixes", series, none) == 0) {
            review.kernel_patch = series;
            fit = fixes_fit_under_patch(review).empty() ? "the fixes would go under their own series" : "";
        } else if (fit.empty()) {
            fit = "kernel-defect fixes failed";
        }
        record("fixes-under-patch", fit);
    }

    record("kernel-report", check_kernel_report_end_to_end());

    // K15's kept input (the livelock the fixed 6.1 file had before K15;
    // KernelZswap.K15... pins it on the unmodified file): with every fix of
    // the harness it replays clean.
    {
        int krc = 0;
        const std::string out = run_capture(
            {"/proc/self/exe", "replay", ctx.root() + "/tests/kernel/inputs/k15-migrate-window.z3fp", "--runs", "3"}, {},
            &krc);
        const size_t nl = out.find_last_of('\n', out.size() >= 2 ? out.size() - 2 : 0);
        const json r = json::parse(out.substr(nl == std::string::npos ? 0 : nl + 1), nullptr, false);
        record("k15-fixed", krc != 0 || !r.is_object()          ? fmt::format("replay exit {}", krc)
                            : r.value("reproduced", -1) != 0 || !r.value("kind", "").empty()
                                ? "the fixed file still fails it: " + r.value("kind", std::string("?"))
                                : "");
    }

    // A planted teardown leak (the per-CPU lists never freed): found as a
    // leak signed by the function that allocated them and its caller, and
    // like any finding it replays, minimises and exports.
    {
        const std::string d = "destroy-leaks-unbuddied";
        std::string patch = ctx.root() + "/build/kernel-src/defects/" + d + ".diff";
        TargetChoice none;
        record("teardown-leak", cmd_kernel_defect(d, patch, none) != 0
                                    ? "kernel-defect failed"
                                    : kernel_defect_found(d, patch, true, 30, "leak@z3fold_create_pool<-z3fold_zpool_create",
                                                          true));
    }

    record("6.12", check_kernel_612());
    record("zbud", check_kernel_zbud());
    record("zsmalloc", check_kernel_zsmalloc());

    // Each review defect, a patch of the fixed 6.1 file: a 60 s campaign
    // finds it, and triage shows its input does not fail the same way on the
    // kernel without the patch.
    for (const std::string& d : kernel_defect_names(true)) {
        std::string patch = ctx.root() + "/build/kernel-src/defects/" + d + ".diff";
        TargetChoice none;
        if (cmd_kernel_defect(d, patch, none) != 0) {
            record(d, "kernel-defect failed");
            continue;
        }
        record(d, kernel_defect_found(d, patch, true, 60, ""));
    }
    return failed;
}

int cmd_kernel_score(const ScoreOptions& so) {
    Context& ctx = Context::get();
    const TargetChoice base = kernel_choice(so.kernel_allocator, "6.12");
    struct Row {
        std::string name, signature;
        double ttd = 0;
        bool found = false;
    };
    std::vector<Row> rows;
    for (const std::string& d : kernel_defect_names_of(so.kernel_allocator)) {
        if (!so.only.empty() && std::find(so.only.begin(), so.only.end(), d) == so.only.end()) continue;
        const std::string patch = ctx.root() + "/build/kernel-src/defects/" + d + ".diff";
        if (cmd_kernel_defect(d, patch, base) != 0) return 2;
        CampaignOptions o;
        o.budget_s = so.budget_per_mutant;
        o.jobs = 1;
        o.corpus = so.corpus;
        o.triage_runs = 3;
        o.coverage = false;
        o.target = base;
        o.target.kernel_patch = patch;
        o.target.no_kernel_fixes = true;
        o.out = ctx.root() + "/build/score/kernel-" + d;
        std::error_code ec;
        fs::remove_all(o.out, ec);
        std::fprintf(stderr, "\n=== score: %s (%s) ===\n", d.c_str(), so.kernel_allocator.c_str());
        if (run_campaign(o) == 2) return 2;
        Row row{d, "", 0, false};
        const json report = json::parse(read_file(o.out + "/report.json"), nullptr, false);
        for (const json& f : report.is_discarded() ? json::array() : report.value("findings", json::array()))
            if (f.contains("reproduces_without_patch") && !f["reproduces_without_patch"].get<bool>()) {
                row = {d, f.value("signature", ""), f.value("time_to_detect_s", 0.0), true};
                break;
            }
        rows.push_back(row);
    }
    int found = 0;
    json out = json::array();
    std::printf("%-36s %-8s %10s  %s\n", "defect", "found", "detect (s)", "signature");
    for (const Row& r : rows) {
        found += r.found ? 1 : 0;
        std::printf("%-36s %-8s %10.2f  %s\n", r.name.c_str(), r.found ? "yes" : "no", r.ttd, r.signature.c_str());
        out.push_back({{"defect", r.name}, {"found", r.found}, {"time_to_detect_s", r.ttd}, {"signature", r.signature}});
    }
    std::printf("score: %d/%zu seeded %s defects found (%.0f s a campaign)\n", found, rows.size(),
                so.kernel_allocator.c_str(), so.budget_per_mutant);
    if (!so.json_path.empty()) write_file(so.json_path, out.dump(2) + "\n");
    return 0;
}

}  // namespace z3fh::tool
