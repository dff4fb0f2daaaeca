// z3fold-harden: the kernel target's source. mm/z3fold.c (and nothing
// else) comes from Debian's linux-source-6.1 or -6.12 on this machine
// (fetched with apt when missing) or from --kernel-source DIR; its sha256 is
// checked against kernel/known-sources.txt (a warning when unknown);
// --kernel-patch FILE applies a unified diff to a copy. No kernel code is
// kept in the repository: the file lives under build/kernel-src/.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace z3fh::tool {

// Which allocator a command runs: the C++ port, or the kernel's own file.
struct TargetChoice {
    std::string target = "port";  // port | kernel
    std::string kernel_source;    // a kernel tree (DIR/mm/z3fold.c); empty: Debian's package
    std::string kernel_patch;     // a unified diff to apply first; empty: none
    bool kernel_fixes = false;    // apply the harness's fixes for 6.1's findings before the patch
    std::string kernel_version;   // a series of kKernelSeries ("6.1", "6.12"); empty: 6.1, or the tree's own
    std::string allocator;        // the kernel file: z3fold (empty: z3fold)
    bool no_kernel_fixes = false; // never put them under a patch (campaign: else automatic where they fit)
};

// A kernel series the harness models: Debian's source package for it, and
// the number the shim and adapter are compiled with (Z3FH_KERNEL_SERIES),
// where every difference between the series is decided
// (kernel/shim/kshim_series.h).
struct KernelSeries {
    const char* name;     // "6.1"
    const char* package;  // "linux-source-6.1"
    int code;             // 601
};
// nullptr (after a message naming the known ones) for an unknown name.
const KernelSeries* find_kernel_series(const std::string& name);
// The allocators the kernel target compiles, and the series each exists in.
bool kernel_allocator_supported(const std::string& allocator, const KernelSeries& series, std::string* why);

struct KernelFile {
    std::string file;     // the (patched) mm/z3fold.c the build compiles
    std::string pristine; // the unpatched file it came from
    std::string base;     // the file the user's patch applies to (pristine, or with the fixes)
    std::string version;  // e.g. "6.1.192-3 (Debian linux-source-6.1)"
    std::string series;   // "6.1" | "6.12"
    int series_code = 0;  // 601 | 612 (Z3FH_KERNEL_SERIES)
    std::string allocator = "z3fold";  // the file is mm/<allocator>.c
    std::string sha256;   // of the pristine file
    bool known = false;   // sha256 in kernel/known-sources.txt for its series
    std::string patch;    // absolute path of the applied patch, or empty
};

// Extract, check and patch; messages on stderr; nullopt (after a clear
// message) when the source cannot be had or the patch does not apply.
std::optional<KernelFile> prepare_kernel_file(const TargetChoice& t);

// Whether the harness's fixes for the series' own findings can go under
// `t`'s patch: a campaign of a patch on the unmodified file, the fixes
// apply to it, and the patch applies on top of them. "" if so; else why
// not (for the report).
std::string fixes_fit_under_patch(const TargetChoice& t);

// The signatures kernel/known-findings.txt lists for the file with this
// sha256 (the ones found once every thread ended), with the finding each
// is ("K1"), in the file's order; none for an unknown file.
std::vector<std::pair<std::string, std::string>> known_findings_of(const std::string& sha256);

// Build `targets` of `preset` for this kernel file, in a build folder of its
// own (build/kernel/<preset>-<sha of the file>, so builds of different
// patches never replace each other's binaries); the folder, or empty.
std::string ensure_kernel_built(const std::string& preset, const KernelFile& k, const std::vector<std::string>& targets,
                                double* seconds = nullptr, const std::vector<std::string>& extra_cache_args = {});

// The same choice without the user's patch: what a finding is compared with.
TargetChoice without_patch(const TargetChoice& t);

// `z3fh test`'s kernel stage: the shim and adapter tests, then each review
// defect found by a 60-second kernel campaign, its input clean without it.
// Appends "name passed|FAILED (why)" lines; returns the failures.
int check_kernel_target(std::vector<std::string>* summary, int* passed);

// Extract `members` of an xz tarball into dest, stripping `strip` leading
// path components; false (tar's message shown) on failure.
bool extract_from_tarball(const std::string& tarball, const std::vector<std::string>& members, const std::string& dest,
                          int strip);

// A key for a text's contents (folder names of patched copies and builds).
std::string content_key(const std::string& text);

// sha256 of a file (hex), empty if unreadable.
std::string sha256_file(const std::string& path);

// `z3fh kernel-defect NAME [-o FILE]`: write one of the review defects as a
// unified diff against the pristine 6.1 file, made by our own edits (no
// kernel code is stored: the edits match identifiers in the user's file).
// A defect as a patch of the fixed file (for --kernel-fixes --kernel-patch),
// or with `unmodified`, of the file as it is; "fixes": the fixes themselves.
int cmd_kernel_defect(const std::string& name, const std::string& out, const TargetChoice& t, bool unmodified = false);
// Every defect, or only the four review defects (the ones `./z3fh test` runs).
std::vector<std::string> kernel_defect_names(bool review_only = false);
// The defects that edit mm/<allocator>.c.
std::vector<std::string> kernel_defect_names_of(const std::string& allocator);
// The kernel target for an allocator file of a series (unpatched, no fixes).
TargetChoice kernel_choice(const std::string& allocator = "z3fold", const std::string& series = "6.1");
// The target a defect's patch applies to (its allocator and series).
TargetChoice kernel_defect_base(const std::string& name);

}  // namespace z3fh::tool
