// z3fold-harden: the campaign's triage phase. Each crash input is replayed
// once for its signature; a new signature is replayed N times, minimised,
// written as a reproducer and exported as a test; a duplicate is listed
// under the first. Every fact comes from z3fh-run's closing JSON object.
#include <fmt/format.h>

#include <cctype>
#include <chrono>
#include <cstdio>

#include "campaign_phases.h"
#include "context.h"
#include "driver_result.h"
#include "program/program.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

class Triage {
public:
    explicit Triage(const CampaignPlan& plan) : p_(plan) {}
    TriageResult run(const FuzzResult& fuzz);

private:
    std::string rel(const std::string& path) const { return fs::relative(path, p_.out).string(); }
    json new_finding(const Crash& c, const json& first_replay);
    json user_of(const std::string& input) const;
    json zswap_verdict(const json& f, double fuzz_s) const;

    const CampaignPlan& p_;
    TriageResult r_;
    std::map<std::string, size_t> by_sig_;
    int n_ = 0;
};

// Which user's world reached it (docs/zswap-model.md): the input's own
// byte, unless the campaign pinned the user.
json Triage::user_of(const std::string& input) const {
    if (p_.opts.user != "any") return p_.opts.user;
    fuzz::Program prog;
    std::string data = read_file(input);
    if (fuzz::decode_lenient(reinterpret_cast<const uint8_t*>(data.data()), data.size(), &prog))
        return fuzz::user_kind_name(prog.user);
    return nullptr;
}

// Does 6.1's zswap, as its user, reach a kernel finding the broad zpool
// user found (docs/zswap-model.md)? Reproduced: a duplicate input had
// zswap as its user, or the same input (minimised or not) fails the same
// way replayed with zswap as its user (z3fh-run honours Z3FH_USER).
// Otherwise: not found in the minutes this campaign fuzzed with zswap as
// the user of about half its inputs (none if --user pinned zpool).
json Triage::zswap_verdict(const json& f, double fuzz_s) const {
    if (f.value("user", "") == "zswap") return {{"verdict", "found"}, {"input", f["input"]}};
    for (const json& d : f["duplicates"])
        if (user_of((p_.out / d.get<std::string>()).string()) == "zswap")
            return {{"verdict", "reproduced"}, {"input", d}, {"how", "a duplicate input with zswap as its user"}};
    std::map<std::string, std::string> env = p_.env;
    env["Z3FH_USER"] = "zswap";
    for (const char* key : {"minimized", "input"}) {
        const std::string input = f.value(key, "");
        if (input.empty()) continue;
        if (run_driver(p_.driver, {"replay", (p_.out / input).string()}, env).signature() == f["signature"])
            return {{"verdict", "reproduced"}, {"input", input},
                    {"how", "the same input replayed with zswap as its user (Z3FH_USER=zswap)"}};
    }
    if (p_.opts.user == "zpool") return {{"verdict", "not-tried"}};
    return {{"verdict", "not-found"}, {"minutes", fuzz_s / 60}};
}

json Triage::new_finding(const Crash& c, const json& first_replay) {
    const std::string sig = first_replay.value("signature", "");
    std::string replays = fmt::format("{}/1", first_replay.value("reproduced", 0));
    if (p_.opts.triage_runs > 1) {
        json again = run_driver(p_.driver, {"replay", c.path, fmt::format("--runs={}", p_.opts.triage_runs)}, p_.env).result;
        if (again.is_object())
            replays = fmt::format("{}/{}", again.value("reproduced", 0), again.value("runs", p_.opts.triage_runs));
    }
    const std::string base = fmt::format("finding-{}", ++n_);
    const fs::path dir = p_.out / "findings";
    std::error_code ec;
    std::string min_path = (dir / (base + ".min.z3fp")).string();
    DriverRun min;
    if (p_.opts.minimize) min = run_driver(p_.driver, {"minimize", c.path, "-o", min_path}, p_.env);
    if (min.exit_code != 0) min_path.clear();
    else fs::copy_file(c.path + ".json", min_path + ".json", fs::copy_options::overwrite_existing, ec);
    const std::string shown = min_path.empty() ? c.path : min_path;
    DriverRun repro = run_driver(p_.driver, {"replay", shown}, p_.env);
    const std::string repro_path = (dir / (base + ".txt")).string();
    write_file(repro_path, repro.output);
    std::string test_path = (dir / (base + "_test.cpp")).string();
    std::vector<std::string> exp = {"export-test", shown, "-o", test_path, "--name", fmt::format("Finding{}", n_)};
    if (!p_.opts.mutant.empty()) exp.insert(exp.end(), {"--mutant", p_.opts.mutant});
    if (!p_.opts.minimize || run_driver(p_.driver, exp, p_.env).exit_code != 0) test_path.clear();
    json f = {{"signature", sig},
              {"kind", first_replay.value("kind", "")},
              {"invariant", first_replay.value("invariant", "")},
              {"where", first_replay.value("where", "")},
              {"time_to_detect_s", c.t},
              {"from_earlier_run", c.earlier},
              {"execs_at_detect", c.execs},
              {"replays", replays},
              {"input", rel(c.path)},
              {"minimized", min_path.empty() ? "" : rel(min_path)},
              {"minimize_log", min.output},
              {"minimize_result", min.result},
              {"reproducer", rel(repro_path)},
              {"diagram", repro.result.is_object() ? repro.result.value("diagram", json::array()) : json::array()},
              {"exported_test", test_path.empty() ? "" : rel(test_path)},
              {"duplicates", json::array()}};
    // With a kernel patch: replayed on the kernel without it, is it still
    // there? A line in the signature is compared loosely (the patch moves
    // the file's lines). What the input does there instead is kept: clean
    // ("") means the patch made the finding; another signature means the
    // unpatched file fails it some other way first.
    if (!p_.base_driver.empty()) {
        const std::string base_sig = run_driver(p_.base_driver, {"replay", c.path}, p_.env).signature();
        f["reproduces_without_patch"] = signature_without_line(base_sig) == signature_without_line(sig);
        f["without_patch_signature"] = base_sig;
    }
    json user = user_of(c.path);
    if (!user.is_null()) f["user"] = user;
    return f;
}

TriageResult Triage::run(const FuzzResult& fuzz) {
    auto t0 = std::chrono::steady_clock::now();
    for (const Crash& c : fuzz.crashes) {
        // Interrupted twice: the rest are listed untriaged; their inputs and
        // sidecars are on disk for replay.
        if (g_campaign_interrupts > 1) {
            r_.untriaged.push_back(rel(c.path));
            continue;
        }
        // One replay names the signature and records the decisions it took
        // beside the input (replay checks them step by step later); only a
        // new signature is replayed N times (a --keep-going campaign can
        // leave thousands of duplicates).
        DriverRun first = run_driver(p_.driver, {"replay", c.path, "--record-schedule", c.path + ".sched"}, p_.env);
        if (g_campaign_interrupts > 1) {
            r_.untriaged.push_back(rel(c.path));
            continue;
        }
        json result = first.result.is_object() ? first.result : json::object();
        if (result.value("signature", "").empty()) result.update({{"signature", "not-reproduced"}, {"kind", "not-reproduced"}});
        const std::string sig = result["signature"];
        if (by_sig_.count(sig)) {
            r_.findings[by_sig_[sig]]["duplicates"].push_back(rel(c.path));
            continue;
        }
        by_sig_[sig] = r_.findings.size();
        r_.findings.push_back(new_finding(c, result));
    }
    if (p_.kernel)
        for (json& f : r_.findings)
            if (f["signature"] != "not-reproduced" && g_campaign_interrupts < 2) f["zswap"] = zswap_verdict(f, fuzz.fuzz_s);
    r_.triage_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r_;
}

}  // namespace

TriageResult triage_phase(const CampaignPlan& plan, const FuzzResult& fuzz) { return Triage(plan).run(fuzz); }

}  // namespace z3fh::tool
