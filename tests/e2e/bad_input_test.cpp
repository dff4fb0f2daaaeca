// The tools end to end: every kind of bad input gets exit 2 and a message on
// stderr, never a signal; a real finding replays 20/20.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <algorithm>
#include <string>
#include <vector>

#include "program/program.h"

namespace {

namespace fs = std::filesystem;

struct Result {
    int status;  // exit code, or 128 + signal
    std::string err;
};

// A shell command's exit status and its stdout.
Result run_shell(const std::string& cmd);

// The tool's exit status and what it wrote to stderr.
Result run_tool(const std::string& bin, const std::string& args) { return run_shell(bin + " " + args + " 2>&1 1>/dev/null"); }

Result run_shell(const std::string& cmd) {
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

// The last line of a tool's output, parsed (null if it is not JSON).
nlohmann::json last_line_json(const std::string& out) {
    std::string s = out;
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return nlohmann::json::parse(s.substr(s.rfind('\n') + 1), nullptr, false);
}

Result run(const std::string& args) { return run_tool(Z3FH_RUN_BIN, args); }

fs::path dir() {
    fs::path d = fs::temp_directory_path() / "z3fh-bad-input";
    fs::create_directories(d);
    return d;
}

std::string put(const std::string& name, const std::vector<uint8_t>& bytes) {
    fs::path p = dir() / name;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
    return p.string();
}

void expect_rejected(const std::string& args, const std::string& bin = Z3FH_RUN_BIN) {
    Result r = run_tool(bin, args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << args;
}

// Root reads a file whatever its mode: the unreadable case runs the tool
// as nobody (setpriv, util-linux) when the test runs as root.
std::string as_reader(const std::string& bin) {
    if (getuid() != 0) return bin;
    if (std::system("setpriv --version >/dev/null 2>&1") != 0) return "";
    return "setpriv --reuid=65534 --regid=65534 --clear-groups " + bin;
}

std::vector<uint8_t> valid_program() {
    z3fh::fuzz::Program p;
    p.threads = 2;
    p.ops = {{z3fh::fuzz::OpKind::alloc, 0, 0x20}, {z3fh::fuzz::OpKind::free, 1, 0x00}};
    p.schedule = {1, 1};
    return z3fh::fuzz::encode(p);
}

TEST(BadInput, EachKindIsExit2WithAMessage) {
    std::vector<uint8_t> good = valid_program();
    std::vector<uint8_t> cut_header(good.begin(), good.begin() + 6);
    std::vector<uint8_t> truncated(good.begin(), good.end() - 3);
    std::vector<uint8_t> oversized = good;
    oversized.push_back(0);
    std::vector<uint8_t> bad_version = good;
    bad_version[4] = 9;
    expect_rejected("replay " + put("empty", {}));
    expect_rejected("replay " + put("garbage", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}));
    expect_rejected("replay " + put("cut-header", cut_header));
    expect_rejected("replay " + put("truncated", truncated));
    expect_rejected("replay " + put("oversized", oversized));
    expect_rejected("replay " + put("bad-version", bad_version));
    expect_rejected("replay " + (dir() / "missing").string());
    expect_rejected("replay " + dir().string());
    expect_rejected("minimize " + put("garbage2", {1, 2, 3}) + " -o " + (dir() / "out").string());
    expect_rejected("export-test " + put("empty2", {}) + " -o " + (dir() / "out.cpp").string());
    expect_rejected("replay " + put("good", good) + " --no-such-flag");
    expect_rejected("replay " + put("good2", good) + " --mutant no-such-mutant");
    expect_rejected("replay " + put("good3", good) + " --runs 0");
    expect_rejected("no-such-command");
    expect_rejected("");
    EXPECT_EQ(run("--help").status, 0);
    fs::path unreadable = put("unreadable", good);
    fs::permissions(unreadable, fs::perms::none);
    fs::permissions(dir(), fs::perms::all);  // nobody may look inside, not read the file
    std::string reader = as_reader(Z3FH_RUN_BIN);
    if (reader.empty()) GTEST_SKIP() << "running as root without setpriv: cannot make a file unreadable";
    expect_rejected("replay " + unreadable.string(), reader);
}

#ifdef Z3FH_TOOL_BIN
// The front end, ./z3fh's binary: the same promise, for what it checks
// before it builds anything (flags, files, sidecars, names).
TEST(BadInput, FrontEndIsExit2WithAMessage) {
    setenv("Z3FH_ROOT", Z3FH_SOURCE_ROOT, 1);
    const std::string z3fh = Z3FH_TOOL_BIN;
    std::string garbage = put("fe-garbage", {'h', 'e', 'l', 'l', 'o'});
    expect_rejected("replay " + garbage, z3fh);  // no sidecar, no flags
    expect_rejected("minimize " + garbage, z3fh);
    expect_rejected("export-test " + garbage, z3fh);
    expect_rejected("replay " + (dir() / "fe-missing").string(), z3fh);
    expect_rejected("replay " + dir().string(), z3fh);
    std::string bad_sidecar = put("fe-bad-sidecar", valid_program());
    { std::ofstream(bad_sidecar + ".json") << "{{"; }
    expect_rejected("replay " + bad_sidecar, z3fh);
    std::string wrong_type = put("fe-wrong-type", valid_program());
    { std::ofstream(wrong_type + ".json") << R"({"mutant": 5})"; }
    expect_rejected("replay " + wrong_type, z3fh);
    std::string unknown = put("fe-unknown-mutant", valid_program());
    { std::ofstream(unknown + ".json") << R"({"mutant": "no-such-mutant", "sanitizer": "asan"})"; }
    expect_rejected("replay " + unknown, z3fh);
    expect_rejected("replay " + garbage + " --sanitizer msan --mutant none", z3fh);
    expect_rejected("campaign --budget 5x", z3fh);
    expect_rejected("campaign --jobs 0", z3fh);
    expect_rejected("campaign --engine foo", z3fh);
    expect_rejected("campaign --mutant no-such-mutant", z3fh);
    expect_rejected("campaign --engine afl --sanitizer tsan", z3fh);
    expect_rejected("score --mutant no-such-mutant", z3fh);
    expect_rejected("kernel-defect no-such-defect", z3fh);
    expect_rejected("no-such-command", z3fh);
    expect_rejected("", z3fh);
    EXPECT_EQ(run_tool(z3fh, "--help").status, 0);
    EXPECT_EQ(run_tool(z3fh, "campaign --help").status, 0);
}

// A knob set outside its table entry is exit 2 with the knob named; `z3fh
// knobs` lists the whole table.
TEST(BadInput, UnknownKnobValueIsExit2) {
    setenv("Z3FH_ROOT", Z3FH_SOURCE_ROOT, 1);
    const std::string z3fh = Z3FH_TOOL_BIN;
    for (const char* bad : {"Z3FH_STRATEGY=sometimes", "Z3FH_USER=nobody", "Z3FH_TRACE_TAIL=lots", "Z3FH_NO_SCHED_FEEDBACK=yes"}) {
        Result r = run_shell(std::string("env ") + bad + " " + z3fh + " mutants 2>&1 1>/dev/null");
        EXPECT_EQ(r.status, 2) << bad;
        std::string name(bad, std::string(bad).find('='));
        EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    }
    Result table = run_shell(z3fh + " knobs");
    EXPECT_EQ(table.status, 0);
    std::ifstream def(std::string(Z3FH_SOURCE_ROOT) + "/fuzz/program/env_knobs.def");
    size_t knobs = 0;
    for (std::string line; std::getline(def, line);)
        if (line.rfind("Z3FH_ENV_KNOB(", 0) == 0) {
            knobs++;
            std::string name = line.substr(line.find('"') + 1);
            name = name.substr(0, name.find('"'));
            EXPECT_NE(table.err.find(name), std::string::npos) << name;
        }
    EXPECT_EQ(knobs, 10u);
}

// `z3fh mutants` lists every line of the catalogue, description included
// (a description may quote a commit title).
TEST(Tool, MutantsListsTheWholeCatalogue) {
    setenv("Z3FH_ROOT", Z3FH_SOURCE_ROOT, 1);
    std::ifstream def(std::string(Z3FH_SOURCE_ROOT) + "/allocator/mutants.def");
    size_t entries = 0;
    for (std::string line; std::getline(def, line);)
        entries += line.rfind("Z3FH_MUTANT_DEF(", 0) == 0;
    Result r = run_shell(std::string(Z3FH_TOOL_BIN) + " mutants");
    ASSERT_EQ(r.status, 0);
    size_t lines = 0, with_three_fields = 0;
    for (size_t at = 0, nl; (nl = r.err.find('\n', at)) != std::string::npos; at = nl + 1) {
        std::string line = r.err.substr(at, nl - at);
        lines++;
        size_t tab1 = line.find('\t'), tab2 = tab1 == std::string::npos ? tab1 : line.find('\t', tab1 + 1);
        with_three_fields += tab2 != std::string::npos && tab2 + 1 < line.size();
    }
    EXPECT_GE(entries, 35u);
    EXPECT_EQ(lines, entries);
    EXPECT_EQ(with_three_fields, entries);
    EXPECT_NE(r.err.find("\"mm/z3fold: fix possible null pointer dereferencing\""), std::string::npos)
        << "a quoted title is printed unescaped";
}
#endif

TEST(BadInput, ValidProgramRunsCleanAndSaysSo) {
    Result r = run("replay " + put("good4", valid_program()) + " --runs 3");
    EXPECT_EQ(r.status, 0) << r.err;
}

// Replay of recorded decisions: the same build replays them exactly; a
// schedule that no longer fits says where (and is not a reproduction).
TEST(Replay, RecordedScheduleReplaysAndAStaleOneSaysWhere) {
    std::string good = put("sched-good", valid_program());
    std::string sched = (dir() / "sched-good.sched").string();
    auto both = [](const std::string& args) { return run_shell(std::string(Z3FH_RUN_BIN) + " " + args + " 2>&1"); };
    ASSERT_EQ(run("replay " + good + " --record-schedule " + sched).status, 0);
    Result same = both("replay " + good + " --schedule " + sched);
    EXPECT_EQ(same.status, 0);
    EXPECT_EQ(same.err.find("schedule stale"), std::string::npos) << same.err;
    EXPECT_EQ(last_line_json(same.err).value("stale_schedule", true), false) << same.err;
    // Change one recorded step's event: the replay must stop there and say so.
    std::ifstream in(sched, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 16u);
    bytes[bytes.size() - 6] ^= 0x01;
    std::string stale = put("sched-stale.sched", bytes);
    Result r = both("replay " + good + " --schedule " + stale);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("schedule stale at decision"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("reproduced 0/1"), std::string::npos) << r.err;
    // The tools read only the closing JSON object.
    nlohmann::json result = last_line_json(r.err);
    EXPECT_EQ(result.value("z3fh_run", ""), "replay") << r.err;
    EXPECT_EQ(result.value("stale_schedule", false), true) << r.err;
    EXPECT_EQ(result.value("reproduced", -1), 0) << r.err;
    EXPECT_EQ(result.value("runs", -1), 1) << r.err;
    EXPECT_EQ(last_line_json(same.err).value("signature", "?"), "") << same.err;
    expect_rejected("replay " + good + " --schedule " + put("sched-garbage", {1, 2, 3}));
}

// The inputs saved beside the exported tests (tests/regress/*.z3fp) replay
// as their tests say: in the mutant tree, with the test's mutant, failing
// with the test's signature (a check's line may have moved since); in every
// other tree, and with the mutant "none", clean.
TEST(Replay, SavedRegressionInputsReplayAsTheirTestsSay) {
    static const std::regex macro(R"RE(Z3FH_REGRESSION\w*\(\w+, "([^"]*)"(?:, "[^"]*")?, "([^"]*)"\))RE");
    auto without_line = [](std::string sig) {
        const size_t colon = sig.rfind(':');
        if (sig.find('@') != std::string::npos && colon != std::string::npos &&
            sig.find_first_not_of("0123456789", colon + 1) == std::string::npos)
            sig.resize(colon);
        return sig;
    };
    size_t inputs = 0;
    for (const auto& e : fs::directory_iterator(Z3FH_REGRESS_DIR)) {
        if (e.path().extension() != ".z3fp") continue;
        inputs++;
        std::string stem = e.path().stem().string();
        std::replace(stem.begin(), stem.end(), '-', '_');
        std::ifstream src(fs::path(Z3FH_REGRESS_DIR) / (stem + "_test.cpp"));
        std::string text((std::istreambuf_iterator<char>(src)), std::istreambuf_iterator<char>());
        std::smatch m;
        ASSERT_TRUE(std::regex_search(text, m, macro)) << stem << ": no exported test beside it";
        const std::string mutant = m[1].str(), signature = m[2].str();
        const bool fails = Z3FH_MUTANT_TREE && mutant != "none";
        Result r = run_shell("env Z3FH_MUTANT=" + (fails ? mutant : std::string("none")) + " " + Z3FH_RUN_BIN + " replay " +
                             e.path().string() + " 2>/dev/null");
        EXPECT_EQ(r.status, fails ? 1 : 0) << e.path();
        const nlohmann::json result = last_line_json(r.err);
        EXPECT_EQ(without_line(result.value("signature", "?")), fails ? without_line(signature) : "") << e.path();
    }
    EXPECT_EQ(inputs, 7u);
}

// The decoders under the tools: random and truncated bytes never crash them.
TEST(BadInput, StrictDecoderSurvivesTenThousandRandomInputs) {
    std::mt19937 rng(7);
    std::vector<uint8_t> good = valid_program();
    int accepted = 0;
    for (int i = 0; i < 10000; i++) {
        std::vector<uint8_t> b;
        if (i % 2) {
            b.assign(good.begin(), good.begin() + static_cast<long>(rng() % (good.size() + 1)));
        } else {
            b.resize(rng() % 64);
            for (auto& x : b) x = static_cast<uint8_t>(rng());
            if (b.size() >= 5 && i % 4 == 0) std::copy(std::begin(z3fh::fuzz::kMagic), std::end(z3fh::fuzz::kMagic), b.begin());
        }
        z3fh::fuzz::Program p;
        std::string why;
        if (z3fh::fuzz::decode_strict(b.data(), b.size(), &p, &why) == z3fh::fuzz::DecodeError::ok) accepted++;
        else EXPECT_FALSE(why.empty());
    }
    EXPECT_GT(accepted, 0);  // the untruncated copies
}

}  // namespace
