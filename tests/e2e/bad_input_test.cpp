// The tools end to end: every kind of bad input gets exit 2 and a message on
// stderr, never a signal; a real finding replays 20/20.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "program/program.h"

namespace {

namespace fs = std::filesystem;

struct Result {
    int status;  // exit code, or 128 + signal
    std::string err;
};

Result run(const std::string& args) {
    std::string cmd = std::string(Z3FH_RUN_BIN) + " " + args + " 2>&1 1>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), out};
}

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

void expect_rejected(const std::string& args) {
    Result r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << args;
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
    fs::path unreadable = put("unreadable", good);
    fs::permissions(unreadable, fs::perms::none);
    if (getuid() != 0) expect_rejected("replay " + unreadable.string());  // root reads anyway
    expect_rejected("minimize " + put("garbage2", {1, 2, 3}) + " -o " + (dir() / "out").string());
    expect_rejected("export-test " + put("empty2", {}) + " -o " + (dir() / "out.cpp").string());
    expect_rejected("replay " + put("good", good) + " --no-such-flag");
    expect_rejected("replay " + put("good2", good) + " --mutant no-such-mutant");
    expect_rejected("replay " + put("good3", good) + " --runs 0");
    expect_rejected("no-such-command");
    expect_rejected("");
    EXPECT_EQ(run("--help").status, 0);
}

TEST(BadInput, ValidProgramRunsCleanAndSaysSo) {
    Result r = run("replay " + put("good4", valid_program()) + " --runs 3");
    EXPECT_EQ(r.status, 0) << r.err;
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
