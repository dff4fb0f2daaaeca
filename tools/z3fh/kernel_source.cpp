// z3fold-harden: the kernel target's source: extraction from Debian's
// linux-source-6.1 (or a kernel tree), the sha256 check, patches, the
// build, and the review defects re-created as edits of the user's file.
#include "kernel_source.h"
#include "kernel_edits.h"
#include "kernel_report.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "campaign.h"
#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

using json = nlohmann::json;

namespace {

constexpr const char* kPackage = "linux-source-6.1";
constexpr const char* kTarball = "/usr/src/linux-source-6.1.tar.xz";

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
std::string installed_version() {
    std::string out;
    if (run_collect({"dpkg-query", "-W", "-f=${Status} ${Version}", kPackage}, &out) != 0) return "";
    out = trim(out);
    const std::string ok = "install ok installed ";
    if (out.rfind(ok, 0) != 0) return "";
    return out.substr(ok.size());
}

// Get the kernel tarball: the installed package, else apt-get (install as
// root, download otherwise). Sets *tarball and *version.
bool fetch_tarball(const std::string& cache, std::string* tarball, std::string* version) {
    std::string v = installed_version();
    if (!v.empty() && fs::exists(kTarball)) {
        *tarball = kTarball;
        *version = v;
        return true;
    }
    fs::create_directories(cache);
    // A .deb downloaded earlier into the cache.
    auto cached_deb = [&]() -> std::string {
        for (const auto& e : fs::directory_iterator(cache))
            if (e.path().extension() == ".deb" && e.path().filename().string().rfind(kPackage, 0) == 0)
                return e.path().string();
        return "";
    };
    std::string deb = cached_deb();
    std::string log;
    if (deb.empty()) {
        std::fprintf(stderr, "z3fh: fetching Debian's %s (about 140 MB) with apt ...\n", kPackage);
        if (run_collect({"apt-get", "download", kPackage}, &log, cache) != 0) {
            if (geteuid() == 0) (void)run_collect({"apt-get", "update", "-qq"}, nullptr);
            if (run_collect({"apt-get", "download", kPackage}, &log, cache) != 0) {
                std::fprintf(stderr, "%s", log.c_str());
                std::fprintf(stderr,
                             "z3fh: could not fetch %s with apt-get (a Debian 12 machine with its package lists is "
                             "needed), or give --kernel-source DIR\n",
                             kPackage);
                return false;
            }
        }
        deb = cached_deb();
        if (deb.empty()) {
            std::fprintf(stderr, "z3fh: apt-get download left no %s .deb in %s\n", kPackage, cache.c_str());
            return false;
        }
    }
    std::string out;
    if (run_collect({"dpkg-deb", "-f", deb, "Version"}, &out) != 0) {
        std::fprintf(stderr, "z3fh: %s is not a readable .deb\n", deb.c_str());
        return false;
    }
    *version = trim(out);
    std::string tb = cache + "/linux-source-6.1.tar.xz";
    if (!fs::exists(tb)) {
        const std::string unpacked = cache + "/deb.part";
        std::error_code ec;
        fs::remove_all(unpacked, ec);
        if (run_collect({"dpkg-deb", "-x", deb, unpacked}, &log) != 0 ||
            (fs::rename(unpacked + "/usr/src/linux-source-6.1.tar.xz", tb, ec), ec)) {
            std::fprintf(stderr, "%sz3fh: could not unpack %s\n", log.c_str(), deb.c_str());
            fs::remove_all(unpacked, ec);
            return false;
        }
        fs::remove_all(unpacked, ec);
    }
    *tarball = tb;
    return true;
}

// Known versions of mm/z3fold.c: "sha256 version" lines.
bool known_sha(const std::string& sha, std::string* name) {
    std::istringstream in(read_file(Context::get().root() + "/kernel/known-z3fold.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream ls(line);
        std::string s, v;
        ls >> s >> v;
        if (s == sha) {
            *name = v;
            return true;
        }
    }
    return false;
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

namespace {


}  // namespace

std::string sha256_file(const std::string& path) {
    std::string out;
    if (run_collect({"sha256sum", path}, &out) != 0) return "";
    return out.substr(0, out.find(' '));
}

namespace {

// Where the pristine file is: the user's tree, or Debian's package
// (fetched and extracted once); false after saying why.
bool locate_pristine(const TargetChoice& t, KernelFile* k) {
    const std::string base = Context::get().root() + "/build/kernel-src";
    if (!t.kernel_source.empty()) {
        fs::path dir = fs::absolute(t.kernel_source);
        fs::path file = dir / "mm" / "z3fold.c";
        if (fs::is_regular_file(dir) && dir.filename() == "z3fold.c") file = dir;
        if (!fs::is_regular_file(file)) {
            std::fprintf(stderr, "z3fh: --kernel-source %s: no mm/z3fold.c there\n", t.kernel_source.c_str());
            return false;
        }
        k->pristine = file.string();
        k->version = "kernel tree " + dir.string();
        return true;
    }
    std::string tarball, version;
    if (!fetch_tarball(base + "/debian", &tarball, &version)) return false;
    const std::string pristine_dir = base + "/debian-" + version;
    k->pristine = pristine_dir + "/mm/z3fold.c";
    k->version = version + " (Debian " + kPackage + ")";
    if (fs::exists(k->pristine)) return true;
    std::fprintf(stderr, "z3fh: extracting mm/z3fold.c from %s ...\n", tarball.c_str());
    fs::create_directories(pristine_dir + "/mm");
    if (!extract_from_tarball(tarball, {"linux-source-6.1/mm/z3fold.c"}, pristine_dir, 1)) {
        std::fprintf(stderr, "z3fh: %s holds no linux-source-6.1/mm/z3fold.c\n", tarball.c_str());
        return false;
    }
    return true;
}

}  // namespace

std::optional<KernelFile> prepare_kernel_file(const TargetChoice& t) {
    Context& ctx = Context::get();
    const std::string base = ctx.root() + "/build/kernel-src";
    KernelFile k;
    if (!locate_pristine(t, &k)) return std::nullopt;
    k.sha256 = sha256_file(k.pristine);
    std::string known_as;
    k.known = known_sha(k.sha256, &known_as);
    if (!k.known)
        std::fprintf(stderr,
                     "z3fh: warning: mm/z3fold.c (sha256 %s) is not a version this harness was checked against "
                     "(kernel/known-z3fold.txt); going on\n",
                     k.sha256.c_str());
    k.file = k.pristine;
    k.base = k.pristine;
    if (!t.kernel_source.empty() || t.kernel_fixes) {
        // Compile a copy (a later edit of the user's tree is picked up by its
        // sha), with the harness's fixes when asked.
        std::string text = read_file(k.pristine), why;
        if (t.kernel_fixes && !apply_edits(&text, all_fix_edits(), &why)) {
            std::fprintf(stderr, "z3fh: --kernel-fixes: %s\n", why.c_str());
            return std::nullopt;
        }
        std::string dir = base + (t.kernel_fixes ? "/fixed-" : "/tree-") + k.sha256.substr(0, 12);
        fs::create_directories(dir + "/mm");
        k.base = dir + "/mm/z3fold.c";
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
    fs::create_directories(dir + "/mm");
    std::string target = dir + "/mm/z3fold.c";
    fs::copy_file(k.base, target, fs::copy_options::overwrite_existing);
    // -p1 against a tree holding mm/z3fold.c (git's a/ b/ names); else the
    // file named directly, whatever the diff's header says.
    std::string log;
    bool ok = run_collect({"patch", "--batch", "--forward", "-s", "-p1", "-d", dir, "-i", patch.string()}, &log) == 0;
    if (!ok) {
        fs::copy_file(k.base, target, fs::copy_options::overwrite_existing);
        ok = run_collect({"patch", "--batch", "--forward", "-s", target, "-i", patch.string()}, &log) == 0;
    }
    fs::remove(target + ".orig");
    fs::remove(target + ".rej");
    if (!ok) {
        std::fprintf(stderr, "%s", log.c_str());
        std::fprintf(stderr, "z3fh: --kernel-patch %s does not apply to mm/z3fold.c (%s)\n", t.kernel_patch.c_str(),
                     k.version.c_str());
        return std::nullopt;
    }
    k.file = target;
    k.patch = patch.string();
    return k;
}

std::string ensure_kernel_built(const std::string& preset, const KernelFile& k, const std::vector<std::string>& targets,
                                double* seconds, const std::vector<std::string>& extra_cache_args) {
    Context& ctx = Context::get();
    std::string version = k.version.substr(0, k.version.find(' '));
    std::string dir = ctx.root() + "/build/kernel/" + preset + "-" + sha256_file(k.file).substr(0, 12);
    std::vector<std::string> args = {"-DZ3FH_KERNEL_SOURCE=" + k.file, "-DZ3FH_KERNEL_VERSION=" + version};
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
// zswap verdict; else why not.
std::string kernel_defect_found(const std::string& name, const std::string& patch, bool fixes, double budget_s,
                                const std::string& signature) {
    std::fprintf(stderr, "\n=== kernel: campaign --target kernel%s --kernel-patch %s ===\n", fixes ? " --kernel-fixes" : "",
                 fs::path(patch).filename().c_str());
    CampaignOptions o;
    o.budget_s = budget_s;
    o.jobs = 1;
    o.corpus = "none";
    o.triage_runs = 3;
    o.coverage = false;
    o.target.target = "kernel";
    o.target.kernel_fixes = fixes;
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
            !f["reproduces_without_patch"].get<bool>())
            return "";
    return signature.empty() ? "the finding's input fails the same way without the defect"
                             : "no " + signature + " that fails only with the patch";
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
    TargetChoice pristine_choice;
    pristine_choice.target = "kernel";
    auto pristine = prepare_kernel_file(pristine_choice);
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
    }

    record("kernel-report", check_kernel_report_end_to_end());

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
        // under-reclaim-bit needs free and reclaim to meet on one headless
        // page in a narrow window: 20-55 s in recent runs, sometimes more.
        record(d, kernel_defect_found(d, patch, true, d == "under-reclaim-bit" ? 240 : 60, ""));
    }
    return failed;
}

// ---- the review defects, re-created in the user's 6.1 file ----

namespace {

struct Defect {
    const char* name;
    const char* what;
    std::vector<KernelEdit> edits;
    // For a bug z3fold had upstream: the fix whose revert re-creates it (a
    // commit title in quotes, or what the fix did). Empty for the review
    // defects, which `./z3fh test` runs.
    const char* upstream_fix = "";
    // A planted violation of one of the kernel's context rules (the shim's
    // checks, docs/zswap-model.md), not a bug z3fold had; not a review
    // defect either, so `./z3fh test` leaves it out.
    bool context_rule = false;
};

// Reclaim's and putback's failure path: re-list, then unclaim.
constexpr const char* kRelistThenUnclaim =
    R"(if \(list_empty\(&zhdr->buddy\)\)\s*add_to_unbuddied\(pool, zhdr\);\s*(clear_bit\(PAGE_CLAIMED, &page->private\);))";

const std::vector<Defect>& defects() {
    static const std::vector<Defect> d = {
        {"release-unlinks",
         "the kref release function unlinks the page from its lists without the pool lock (review #1)",
         {{"release_z3fold_page_locked_list",
           R"(spin_lock\(&pool->lock\);\s*list_del_init\(&zhdr->buddy\);\s*spin_unlock\(&pool->lock\);)",
           "list_del_init(&zhdr->buddy); /* z3fh defect release-unlinks */"},
          {"__release_z3fold_page",
           R"(spin_lock\(&pool->lock\);\s*if \(!list_empty\(&page->lru\)\)\s*list_del_init\(&page->lru\);\s*spin_unlock\(&pool->lock\);)",
           "if (!list_empty(&page->lru)) list_del_init(&page->lru); /* z3fh defect release-unlinks */"}}},
        {"get-unless-zero",
         "the unbuddied lookup takes its reference with kref_get_unless_zero under the pool lock, not under the "
         "page lock (review #2)",
         {{"__z3fold_alloc", R"(!z3fold_page_trylock\(zhdr\)\) \{)",
           "!kref_get_unless_zero(&zhdr->refcount)) { /* z3fh defect get-unless-zero */"},
          {"__z3fold_alloc", R"(zhdr->cpu = -1;\s*spin_unlock\(&pool->lock\);\s*page = virt_to_page\(zhdr\);)",
           "zhdr->cpu = -1;\n\t\tspin_unlock(&pool->lock);\n\t\tz3fold_page_lock(zhdr); /* z3fh defect */\n\n\t\tpage = "
           "virt_to_page(zhdr);"},
          {"__z3fold_alloc", R"(z3fold_page_unlock\(zhdr\);\s*zhdr = NULL;\s*migrate_enable\(\);)",
           "if (!kref_put(&zhdr->refcount, release_z3fold_page_locked)) /* z3fh defect */\n\t\t\t\t"
           "z3fold_page_unlock(zhdr);\n\t\t\tzhdr = NULL;\n\t\t\tmigrate_enable();"},
          {"__z3fold_alloc", R"(kref_get\(&zhdr->refcount\);\s*break;\s*\}\s*migrate_enable\(\);)",
           "break; /* z3fh defect: the reference was taken above */\n\t}\n\tmigrate_enable();"}}},
        {"under-reclaim-bit",
         "free tests PAGE_CLAIMED and sets it later, so free and reclaim both believe they own the page (review #3)",
         {{"z3fold_free", R"(page_claimed = test_and_set_bit\(PAGE_CLAIMED, &page->private\);)",
           "page_claimed = test_bit(PAGE_CLAIMED, &page->private); /* z3fh defect under-reclaim-bit */\n\tif "
           "(!page_claimed)\n\t\tset_bit(PAGE_CLAIMED, &page->private);"}}},
        {"reclaim-put-then-lru",
         "reclaim drops its reference, then puts the page back on the LRU (review #4)",
         {{"z3fold_reclaim_page",
           R"(if \(kref_put\(&zhdr->refcount,\s*release_z3fold_page_locked\)\) \{\s*(?:if \(slots\)\s*)?kmem_cache_free\(pool->c_handle, slots\);)",
           "if (kref_put(&zhdr->refcount, release_z3fold_page_locked)) {\n\t\t\t\tspin_lock(&pool->lock); /* z3fh "
           "defect reclaim-put-then-lru */\n\t\t\t\tlist_add(&page->lru, &pool->lru);\n\t\t\t\t"
           "spin_unlock(&pool->lock);\n\t\t\t\tif (slots)\n\t\t\t\t\tkmem_cache_free(pool->c_handle, slots);"}}},
        // Bugs z3fold had upstream, re-created in 6.1 by reverting their fix
        // (the same bugs as the port's mutants of the same names).
        {"failed-reclaim-not-unbuddied",
         "a page reclaim or migration could not free goes back on the LRU but not on its unbuddied list",
         {{"z3fold_reclaim_page",
           kRelistThenUnclaim,
           "/* z3fh defect failed-reclaim-not-unbuddied */\n\t\t\t$1"},
          {"z3fold_page_putback",
           kRelistThenUnclaim,
           "/* z3fh defect failed-reclaim-not-unbuddied */\n\t$1"}},
         "\"mm/z3fold: put z3fold page back into unbuddied list when reclaim or migration fails\""},
        {"reclaim-unclaims-after-unlock",
         "reclaim that could not free a page clears PAGE_CLAIMED after dropping the page lock",
         {{"z3fold_reclaim_page", R"(clear_bit\(PAGE_CLAIMED, &page->private\);\s*z3fold_page_unlock\(zhdr\);)",
           "z3fold_page_unlock(zhdr);\n\t\t\tclear_bit(PAGE_CLAIMED, &page->private); /* z3fh defect "
           "reclaim-unclaims-after-unlock */"}},
         "\"mm/z3fold: always clear PAGE_CLAIMED under z3fold page lock\""},
        {"migrated-header-used",
         "the handle lookup returns a page migration has copied and is about to free",
         {{"get_z3fold_header", R"(if \(!test_bit\(PAGE_MIGRATED, &page->private\)\)\s*break;\s*z3fold_page_unlock\(zhdr\);)",
           "(void)page; /* z3fh defect migrated-header-used */\n\t\t\t\tbreak;"}},
         "\"mm/z3fold: fix z3fold_page_migrate races with z3fold_map\""},
        {"lazy-slots-unchecked",
         "alloc gives a page that lost its slots object a new one without checking the allocation",
         {{"__z3fold_alloc",
           R"(if \(zhdr && !zhdr->slots\) \{\s*zhdr->slots = alloc_slots\(pool, GFP_ATOMIC\);\s*if \(!zhdr->slots\)\s*goto out_fail;\s*\}\s*return zhdr;\s*out_fail:\s*if \(!kref_put\(&zhdr->refcount, release_z3fold_page_locked\)\) \{\s*add_to_unbuddied\(pool, zhdr\);\s*z3fold_page_unlock\(zhdr\);\s*\}\s*return NULL;)",
           "if (zhdr && !zhdr->slots) /* z3fh defect lazy-slots-unchecked */\n\t\tzhdr->slots = alloc_slots(pool, "
           "GFP_ATOMIC);\n\treturn zhdr;"}},
         "\"mm/z3fold: fix possible null pointer dereferencing\""},
        {"lazy-slots-may-sleep",
         "alloc allocates a page's new slots object with a blocking gfp while holding the page lock",
         {{"__z3fold_alloc", R"(zhdr->slots = alloc_slots\(pool, GFP_ATOMIC\);)",
           "zhdr->slots = alloc_slots(pool, can_sleep ? GFP_NOIO : GFP_ATOMIC); /* z3fh defect lazy-slots-may-sleep */"}},
         "the fix that made the slots allocation in __z3fold_alloc GFP_ATOMIC (it was can_sleep ? GFP_NOIO : "
         "GFP_ATOMIC)"},
        {"headless-slots-leak",
         "init_z3fold_page allocates a slots object for a headless page too, which nothing frees",
         {{"init_z3fold_page",
           R"(if \(headless\)\s*return zhdr;\s*slots = alloc_slots\(pool, gfp\);\s*if \(!slots\)\s*return NULL;)",
           "slots = alloc_slots(pool, gfp); /* z3fh defect headless-slots-leak */\n\tif (!slots)\n\t\treturn "
           "NULL;\n\tif (headless)\n\t\treturn zhdr;"}},
         "\"z3fold: fix memory leak in kmem cache\""},
        {"map-last-from-header",
         "map finds LAST from the header's last_chunks, which a free zeroes while reclaim still evicts the object",
         {{"z3fold_map", R"(addr \+= PAGE_SIZE - \(handle_to_chunks\(handle\) << CHUNK_SHIFT\);)",
           "addr += PAGE_SIZE - (zhdr->last_chunks << CHUNK_SHIFT); /* z3fh defect map-last-from-header */"}},
         "\"z3fold: fix possible reclaim races\""},
        {"cpu-id-after-unlock",
         "migration queues its compaction on smp_processor_id() read after the page unlock, in preemptible code "
         "(K10's first candidate fix): cpu-id-preemptible",
         {{"z3fold_page_migrate", R"(queue_work_on\(cpu, pool->compact_wq, &new_zhdr->work\);)",
           "queue_work_on(smp_processor_id(), pool->compact_wq, &new_zhdr->work); /* z3fh defect cpu-id-after-unlock */"}},
         "",
         true},
        {"alloc-ignores-gfp",
         "z3fold_alloc allocates its new page with GFP_KERNEL whatever its caller's gfp: a blocking allocation for "
         "zswap, whose gfp forbids it: gfp-contract",
         {{"z3fold_alloc", R"(page = alloc_page\(gfp\);)", "page = alloc_page(GFP_KERNEL); /* z3fh defect alloc-ignores-gfp */"}},
         "",
         true},
    };
    return d;
}

}  // namespace

std::vector<std::string> kernel_defect_names(bool review_only) {
    std::vector<std::string> out;
    for (const Defect& d : defects())
        if (!review_only || (!*d.upstream_fix && !d.context_rule)) out.push_back(d.name);
    return out;
}

int cmd_kernel_defect(const std::string& name, const std::string& out, const TargetChoice& t, bool unmodified) {
    const Defect* d = nullptr;
    for (const Defect& x : defects())
        if (name == x.name) d = &x;
    if (!d && name != "fixes") {
        std::string names;
        for (const std::string& n : kernel_defect_names()) names += " " + n;
        std::fprintf(stderr, "z3fh: unknown kernel defect '%s' (one of:%s, or fixes)\n", name.c_str(), names.c_str());
        return 2;
    }
    if (unmodified && !d) {
        std::fprintf(stderr, "z3fh: --unmodified names a defect, not the fixes\n");
        return 2;
    }
    TargetChoice pristine = t;
    pristine.kernel_patch.clear();
    pristine.kernel_fixes = false;
    auto k = prepare_kernel_file(pristine);
    if (!k) return 2;
    // "fixes": the fixes against the pristine file. A defect: its edits
    // against the fixed file (use it with --kernel-fixes --kernel-patch).
    std::string before = read_file(k->pristine), why;
    std::string text = before;
    if (!unmodified && !apply_edits(&text, all_fix_edits(), &why)) {
        std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(), why.c_str());
        return 2;
    }
    if (d) {
        before = text;
        if (!apply_edits(&text, d->edits, &why)) {
            std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(), why.c_str());
            return 2;
        }
    }
    std::string dir = Context::get().root() + "/build/kernel-src/defects";
    fs::create_directories(dir);
    std::string original = dir + "/" + name + ".orig.z3fold.c", edited = dir + "/" + name + ".z3fold.c";
    write_file(original, before);
    write_file(edited, text);
    std::string diff;
    int rc = run_collect({"diff", "-u", "--label", "a/mm/z3fold.c", "--label", "b/mm/z3fold.c", original, edited},
                         &diff);
    if (rc != 1) {
        std::fprintf(stderr, "z3fh: diff failed (%d)\n", rc);
        return 2;
    }
    std::string path = out.empty() ? dir + "/" + name + (unmodified ? ".unmodified.diff" : ".diff") : out;
    if (!write_file(path, diff)) {
        std::fprintf(stderr, "z3fh: cannot write %s\n", path.c_str());
        return 2;
    }
    std::fprintf(stderr, "z3fh: %s: %s\n", name.c_str(),
                 d ? (std::string(d->what) +
                      (*d->upstream_fix ? fmt::format(" (reverts {})", d->upstream_fix) : std::string()) +
                      (unmodified ? "; a patch of the unmodified file: use it with --kernel-patch alone"
                                  : "; a patch of the fixed file: use it with --kernel-fixes"))
                         .c_str()
                   : "the harness's candidate fixes for what it found in 6.1 itself");
    std::printf("%s\n", path.c_str());
    return 0;
}

}  // namespace z3fh::tool
