// z3fold-harden: what every z3fh command needs: the repository root, the
// build presets (built on demand), the mutant catalogue (read from
// allocator/mutants.def, so no mutant name is compiled into this tool), and
// the sanitizer options in sanitizer-configs/.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace z3fh::tool {

struct MutantEntry {
    std::string name, cls, description;
};

class Context {
public:
    static Context& get();
    const std::string& root() const { return root_; }

    std::vector<MutantEntry> mutants() const;
    bool is_mutant(const std::string& name) const;

    // The libFuzzer preset for a sanitizer and mutant choice.
    static std::string fuzz_preset(const std::string& sanitizer, bool mutants);
    std::string build_dir(const std::string& preset) const { return root_ + "/build/" + preset; }
    // Configure and build `targets` of `preset`; false (with output shown)
    // on failure. Seconds spent are added to *seconds if given.
    bool ensure_built(const std::string& preset, const std::vector<std::string>& targets,
                      double* seconds = nullptr) const;

    // The same in a build folder of the caller's choosing, configured from
    // the preset with cache_args (the kernel target: one folder per file).
    bool ensure_built_in(const std::string& preset, const std::string& dir, const std::vector<std::string>& targets,
                         double* seconds, const std::vector<std::string>& cache_args) const;

    // ASAN_OPTIONS etc. from sanitizer-configs/<name>.options (comments and
    // blank lines dropped, lines joined with ':').
    std::map<std::string, std::string> sanitizer_env(const std::string& sanitizer) const;

private:
    Context();
    std::string root_;
};

// Parse "90", "90s", "5m", "1h" into seconds; nullopt if malformed.
std::optional<double> parse_duration(const std::string& s);
std::string read_file(const std::string& path);
bool write_file(const std::string& path, const std::string& data);
std::string now_stamp();

}  // namespace z3fh::tool
