// z3fold-harden: what kernel-report needs from the kernel's own tooling:
// the patch series written by git, checkpatch.pl from the same source, and
// a W=1 compile of mm/z3fold.o in the real tree (Debian's full source,
// prepared once under build/kernel-src/).
#pragma once
#include <string>
#include <vector>

#include "kernel_edits.h"
#include "kernel_source.h"

namespace z3fh::tool {

// The series, committed in a scratch git repository (OUT/.work) and written
// by `git format-patch`.
class SeriesWriter {
public:
    SeriesWriter(const KernelFile& pristine, std::string out, std::string name, std::string email, std::string version);
    // One commit per fix (each on top of the ones before), then the
    // numbered series with a cover letter: [cover, 0001, ...]; empty (said
    // on stderr) on failure.
    std::vector<std::string> write(const std::vector<const KernelFix*>& fixes, const std::vector<std::string>& messages);
    // mm/z3fold.c with patches 1..i+1 applied.
    std::string file_after(size_t i) const { return states_.at(i); }
    // The whole series as one unified diff of the pristine file (a file).
    std::string series_diff() const { return out_ + "/.work/series.diff"; }
    // Fill git's cover-letter template: its subject and blurb.
    bool write_cover_letter(const std::string& cover, const std::string& subject, const std::string& blurb) const;

private:
    bool git(const std::vector<std::string>& args, std::string* output = nullptr) const;

    const KernelFile& pristine_;
    std::string out_, name_, email_, version_;
    std::vector<std::string> states_;
};

// The stable tree a series' fixes go to ("6.12" -> "6.12.y").
std::string stable_tree(const std::string& series);

// checkpatch.pl of the user's source (extracted once from Debian's tarball
// with its data files); "" (said) if it cannot be had.
// (series "6.1", "6.12"; version: the Debian package's, which keys the cache).
std::string checkpatch_script(const TargetChoice& target, const std::string& series, const std::string& version);
// Run it on one patch: true on 0 errors and 0 warnings; *verdict is its
// one-line total ("checkpatch: 0 errors, 0 warnings").
// In `git_tree` (if given), where checkpatch looks a Fixes: tag's commit up.
bool run_checkpatch(const std::string& script, const std::string& patch, std::string* verdict,
                    const std::string& git_tree = "");

// Debian's full linux-source tree, configured with zswap and z3fold and
// prepared once (make defconfig, the options, make prepare).
class RealTree {
public:
    RealTree(const std::string& series, const std::string& version);
    bool ready() const { return why_.empty(); }
    const std::string& why() const { return why_; }
    // make W=1 mm/z3fold.o with `file` as mm/z3fold.c: true when it builds
    // with no warning the unmodified file does not have.
    bool compile(const std::string& file, std::string* verdict);

private:
    bool build(const std::string& file, std::string* log, int* warnings);

    std::string dir_, why_;
    int baseline_warnings_ = -1;
};

}  // namespace z3fh::tool
