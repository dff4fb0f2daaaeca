// z3fold-harden: the tool's context.
#include "context.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "proc.h"

namespace fs = std::filesystem;

namespace z3fh::tool {

Context& Context::get() {
    static Context c;
    return c;
}

Context::Context() {
    if (const char* r = std::getenv("Z3FH_ROOT")) root_ = r;
    else root_ = fs::current_path().string();
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool write_file(const std::string& path, const std::string& data) {
    std::ofstream f(path, std::ios::binary);
    if (!f) return false;
    f << data;
    return static_cast<bool>(f);
}

std::string now_stamp() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&t));
    return buf;
}

std::vector<MutantEntry> Context::mutants() const {
    std::vector<MutantEntry> out;
    std::string def = read_file(root_ + "/allocator/mutants.def");
    // Z3FH_MUTANT_DEF(id, "name", "class",\n "description"); a description
    // may quote a commit title (\").
    static const std::regex re(
        R"re(Z3FH_MUTANT_DEF\(\s*\w+\s*,\s*"([^"]+)"\s*,\s*"([^"]+)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\))re");
    static const std::regex escape(R"(\\(.))");
    for (std::sregex_iterator it(def.begin(), def.end(), re), end; it != end; ++it)
        out.push_back({(*it)[1].str(), (*it)[2].str(), std::regex_replace((*it)[3].str(), escape, "$1")});
    return out;
}

bool Context::is_mutant(const std::string& name) const {
    for (const MutantEntry& m : mutants())
        if (m.name == name) return true;
    return false;
}

std::string Context::fuzz_preset(const std::string& sanitizer, bool mutants) {
    std::string p = "libfuzzer";
    if (sanitizer == "ubsan") p += "-ubsan";
    if (sanitizer == "tsan") p += "-tsan";
    if (mutants) p += "-mutants";
    return p;
}

bool Context::ensure_built(const std::string& preset, const std::vector<std::string>& targets,
                           double* seconds) const {
    return ensure_built_in(preset, build_dir(preset), targets, seconds, {});
}

bool Context::ensure_built_in(const std::string& preset, const std::string& dir,
                              const std::vector<std::string>& targets, double* seconds,
                              const std::vector<std::string>& cache_args) const {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> log;
    auto sink = [&](const std::string& l) { log.push_back(l); };
    auto show = [&] {
        for (const std::string& l : log) std::fprintf(stderr, "%s\n", l.c_str());
    };
    // ccache hits across build folders: paths relative to the repository.
    std::map<std::string, std::string> env = {{"CCACHE_BASEDIR", root_}, {"CCACHE_NOHASHDIR", "true"}};
    // Configure a new folder; and an existing one again when it is asked for
    // cache settings it was not configured with (a kernel folder a campaign
    // made, later asked for its tests).
    std::string wanted;
    for (const std::string& a : cache_args) wanted += a + "\n";
    const std::string stamp = dir + "/z3fh-cache-args.txt";
    const bool configured = fs::exists(dir + "/build.ninja");
    if (!configured || (!cache_args.empty() && read_file(stamp) != wanted)) {
        std::fprintf(stderr, "z3fh: configuring %s in %s ...\n", preset.c_str(), dir.c_str());
        std::vector<std::string> cmd = {"cmake", "--preset", preset, "-B", dir};
        cmd.insert(cmd.end(), cache_args.begin(), cache_args.end());
        if (run_process(cmd, env, sink, root_).exit_code != 0) {
            show();
            std::fprintf(stderr, "z3fh: configuring preset %s in %s failed\n", preset.c_str(), dir.c_str());
            return false;
        }
        if (!cache_args.empty()) write_file(stamp, wanted);
    }
    std::vector<std::string> cmd = {"cmake", "--build", dir};
    if (!targets.empty()) {
        cmd.push_back("--target");
        for (const std::string& t : targets) cmd.push_back(t);
    }
    log.clear();
    if (run_process(cmd, env, sink, root_).exit_code != 0) {
        show();
        std::fprintf(stderr, "z3fh: building %s failed\n", dir.c_str());
        return false;
    }
    if (seconds) *seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return true;
}

std::map<std::string, std::string> Context::sanitizer_env(const std::string& sanitizer) const {
    std::map<std::string, std::string> env;
    auto load = [&](const std::string& name, const std::string& var) {
        std::ifstream f(root_ + "/sanitizer-configs/" + name + ".options");
        std::string line, joined;
        while (std::getline(f, line)) {
            auto hash = line.find('#');
            if (hash != std::string::npos) line = line.substr(0, hash);
            line.erase(0, line.find_first_not_of(" \t"));
            line.erase(line.find_last_not_of(" \t") + 1);
            if (line.empty()) continue;
            if (line.rfind("suppressions=", 0) == 0) line = "suppressions=" + root_ + "/sanitizer-configs/" + line.substr(13);
            joined += (joined.empty() ? "" : ":") + line;
        }
        if (!joined.empty()) env[var] = joined;
    };
    load("ubsan", "UBSAN_OPTIONS");
    if (sanitizer == "asan") load("asan", "ASAN_OPTIONS");
    if (sanitizer == "tsan") load("tsan", "TSAN_OPTIONS");
    return env;
}

std::optional<double> parse_duration(const std::string& s) {
    std::smatch m;
    static const std::regex re(R"(^\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*$)");
    if (!std::regex_match(s, m, re)) return std::nullopt;
    double v = std::stod(m[1].str());
    if (m[2] == "m") v *= 60;
    if (m[2] == "h") v *= 3600;
    return v;
}

}  // namespace z3fh::tool
