// z3fold-harden: git, checkpatch.pl and the real tree for kernel-report.
#include "kernel_tree.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <regex>

#include "context.h"
#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

namespace {
// The tarball's top folder, and the tarball (fetched into the cache by
// prepare_kernel_file before any of this runs).
std::string debian_tree(const std::string& series) { return "linux-source-" + series; }
std::string debian_tarball(const std::string& series) {
    return Context::get().root() + "/build/kernel-src/debian/" + debian_tree(series) + ".tar.xz";
}
}  // namespace


// ---- the series ----

SeriesWriter::SeriesWriter(const KernelFile& pristine, std::string out, std::string name, std::string email,
                           std::string version)
    : pristine_(pristine), out_(fs::absolute(out).string()), name_(std::move(name)), email_(std::move(email)),
      version_(std::move(version)) {}

std::string stable_tree(const std::string& series) { return series + ".y"; }

bool SeriesWriter::git(const std::vector<std::string>& args, std::string* output) const {
    std::vector<std::string> argv = {"git", "-C", out_ + "/.work"};
    argv.insert(argv.end(), args.begin(), args.end());
    // The user's identity for author and committer alike; nothing else of
    // theirs changes what is written (format options are given below).
    const std::map<std::string, std::string> env = {{"GIT_AUTHOR_NAME", name_}, {"GIT_AUTHOR_EMAIL", email_},
                                                    {"GIT_COMMITTER_NAME", name_}, {"GIT_COMMITTER_EMAIL", email_}};
    int code = 0;
    std::string log = run_capture(argv, env, &code);
    if (output) *output = log;
    if (code != 0) std::fprintf(stderr, "%sz3fh: git %s failed (exit %d)\n", log.c_str(), args[0].c_str(), code);
    return code == 0;
}

std::vector<std::string> SeriesWriter::write(const std::vector<const KernelFix*>& fixes,
                                             const std::vector<std::string>& messages) {
    std::error_code ec;
    fs::remove_all(out_ + "/.work", ec);
    for (const auto& e : fs::directory_iterator(out_, ec))
        if (e.path().extension() == ".patch") fs::remove(e.path(), ec);
    fs::create_directories(out_ + "/.work/mm", ec);
    fs::create_directories(out_ + "/.work/states", ec);
    const std::string file = out_ + "/.work/mm/z3fold.c";
    std::string text = read_file(pristine_.pristine), why;
    write_file(file, text);
    if (!git({"init", "-q"}) || !git({"add", "mm/z3fold.c"}) ||
        !git({"commit", "-q", "-m", fmt::format("mm/z3fold.c of {}", version_)}))
        return {};
    std::vector<KernelEdit> applied;
    for (size_t i = 0; i < fixes.size(); i++) {
        applied.insert(applied.end(), fixes[i]->edits.begin(), fixes[i]->edits.end());
        std::string next = read_file(pristine_.pristine);
        if (!apply_edits(&next, applied, &why)) {
            std::fprintf(stderr, "z3fh: fix %s: %s\n", fixes[i]->id, why.c_str());
            return {};
        }
        write_file(file, next);
        const std::string state = fmt::format("{}/.work/states/{}.c", out_, i + 1);
        write_file(state, next);
        states_.push_back(state);
        const std::string msg = fmt::format("{}/.work/message-{}", out_, i + 1);
        write_file(msg, messages[i]);
        if (!git({"commit", "-q", "-a", "-F", msg})) return {};
    }
    std::string diff;
    if (!git({"diff", "HEAD~" + std::to_string(fixes.size()), "HEAD"}, &diff)) return {};
    write_file(series_diff(), diff);
    std::string listing;
    if (!git({"format-patch", "-q", "--cover-letter", "--numbered", fmt::format("--subject-prefix=PATCH {}", stable_tree(pristine_.series)), "-o", out_,
              "HEAD~" + std::to_string(fixes.size())},
             &listing))
        return {};
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(out_, ec))
        if (e.path().extension() == ".patch") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    return files;
}

bool SeriesWriter::write_cover_letter(const std::string& cover, const std::string& subject,
                                      const std::string& blurb) const {
    std::string text = read_file(cover);
    const size_t s = text.find("*** SUBJECT HERE ***"), b = text.find("*** BLURB HERE ***");
    if (s == std::string::npos || b == std::string::npos) return false;
    text.replace(b, std::string("*** BLURB HERE ***").size(), blurb);
    text.replace(s, std::string("*** SUBJECT HERE ***").size(), subject);
    return write_file(cover, text);
}

// ---- checkpatch.pl ----

std::string checkpatch_script(const TargetChoice& target, const std::string& series, const std::string& version) {
    if (!target.kernel_source.empty()) {
        const std::string own = fs::absolute(target.kernel_source).string() + "/scripts/checkpatch.pl";
        if (fs::exists(own)) return own;
        std::fprintf(stderr, "z3fh: %s has no scripts/checkpatch.pl; using Debian's %s's\n",
                     target.kernel_source.c_str(), debian_tree(series).c_str());
    }
    const std::string dir = Context::get().root() + "/build/kernel-src/checkpatch-" + version;
    const std::string script = dir + "/scripts/checkpatch.pl";
    if (fs::exists(script)) return script;
    const std::string top = debian_tree(series);
    if (!extract_from_tarball(debian_tarball(series),
                              {top + "/scripts/checkpatch.pl", top + "/scripts/spelling.txt",
                               top + "/scripts/const_structs.checkpatch"},
                              dir, 1))
        return "";
    return script;
}

bool run_checkpatch(const std::string& script, const std::string& patch, std::string* verdict, const std::string& git_tree) {
    if (script.empty()) {
        *verdict = "checkpatch: not run (no checkpatch.pl)";
        return false;
    }
    int code = 0;
    // In the user's git tree, so that a Fixes: tag's commit is looked up there.
    std::string out = run_capture({"perl", script, "--no-tree", "--showfile", patch}, {}, &code, git_tree);
    std::smatch m;
    static const std::regex total(R"(total: (\d+) errors?, (\d+) warnings?)");
    std::string figures = std::regex_search(out, m, total) ? fmt::format("{} errors, {} warnings", m[1].str(), m[2].str())
                                                           : "no total line";
    write_file(patch + ".checkpatch.txt", out);
    *verdict = "checkpatch: " + figures;
    return code == 0;
}

// ---- the real tree ----

RealTree::RealTree(const std::string& series, const std::string& version) {
    for (const char* tool : {"make", "gcc", "flex", "bison", "bc", "perl"})
        if (!on_path(tool)) why_ += (why_.empty() ? "missing " : " ") + std::string(tool);
    if (!why_.empty()) {
        why_ += " (apt-get install build-essential flex bison bc libelf-dev libssl-dev)";
        return;
    }
    const std::string root = Context::get().root() + "/build/kernel-src/tree-" + version;
    dir_ = root + "/" + debian_tree(series);
    if (fs::exists(root + "/prepared")) return;
    std::fprintf(stderr, "z3fh: preparing the real tree once (extract, defconfig with zswap and z3fold, make prepare) "
                         "in %s ...\n", root.c_str());
    std::error_code ec;
    fs::remove_all(root, ec);
    const std::string jobs = fmt::format("-j{}", std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    auto step = [&](const std::vector<std::string>& argv, const std::string& cwd) {
        int code = 0;
        std::string log = run_capture(argv, {}, &code, cwd);
        if (code != 0) why_ = fmt::format("{} failed: {}", argv[0], log.substr(log.size() > 2000 ? log.size() - 2000 : 0));
        return code == 0;
    };
    if (!extract_from_tarball(debian_tarball(series), {}, root, 0)) {
        why_ = "could not extract " + debian_tarball(series);
        return;
    }
    if (!step({"make", "-s", "defconfig"}, dir_) ||
        !step({"./scripts/config", "--enable", "ZSWAP", "--enable", "Z3FOLD_DEPRECATED", "--enable", "Z3FOLD"}, dir_) ||
        !step({"make", "-s", "olddefconfig"}, dir_))
        return;
    if (read_file(dir_ + "/.config").find("\nCONFIG_Z3FOLD=y") == std::string::npos) {
        why_ = "the configuration does not enable CONFIG_Z3FOLD";
        return;
    }
    if (!step({"make", "-s", jobs, "prepare"}, dir_)) return;
    write_file(root + "/prepared", "");
}

bool RealTree::build(const std::string& file, std::string* log, int* warnings) {
    fs::copy_file(file, dir_ + "/mm/z3fold.c", fs::copy_options::overwrite_existing);
    std::error_code ec;
    fs::remove(dir_ + "/mm/z3fold.o", ec);
    int code = 0;
    *log = run_capture({"make", "W=1", "mm/z3fold.o"}, {}, &code, dir_);
    *warnings = 0;
    for (size_t at = log->find("z3fold.c:"); at != std::string::npos; at = log->find("z3fold.c:", at + 1))
        if (log->compare(log->find_first_of(" ", at) + 1, 8, "warning:") == 0) (*warnings)++;
    return code == 0;
}

bool RealTree::compile(const std::string& file, std::string* verdict) {
    std::string log;
    int warnings = 0;
    if (baseline_warnings_ < 0) {
        // The unmodified file's own W=1 warnings are not the patch's.
        const std::string pristine = dir_ + "/mm/z3fold.c.orig";
        if (!fs::exists(pristine)) fs::copy_file(dir_ + "/mm/z3fold.c", pristine);
        if (!build(pristine, &log, &baseline_warnings_)) baseline_warnings_ = 0;
    }
    const bool ok = build(file, &log, &warnings);
    write_file(file + ".make.txt", log);
    const int added = warnings - baseline_warnings_;
    *verdict = !ok ? "make W=1 mm/z3fold.o failed (" + file + ".make.txt)"
               : added > 0 ? fmt::format("make W=1 mm/z3fold.o: {} new warning(s)", added)
                           : "make W=1 mm/z3fold.o: builds, no new warnings";
    return ok && added <= 0;
}

}  // namespace z3fh::tool
