// z3fold-harden: `z3fh score`: a campaign per mutant (and per seed), a table
// of found / time to detect / kind, and the mutation score.
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "campaign.h"
#include "commands.h"
#include "context.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

int cmd_score(const ScoreOptions& so) {
    Context& ctx = Context::get();
    std::vector<MutantEntry> mutants = ctx.mutants();
    if (!so.only.empty()) {
        mutants.erase(std::remove_if(mutants.begin(), mutants.end(),
                                     [&](const MutantEntry& m) { return m.name != so.only; }),
                      mutants.end());
        if (mutants.empty()) {
            std::fprintf(stderr, "z3fh: unknown mutant '%s'\n", so.only.c_str());
            return 2;
        }
    }
    json rows = json::array();
    int found_count = 0;
    std::string base = ctx.root() + "/build/score/" + now_stamp();
    for (const MutantEntry& m : mutants) {
        std::vector<double> ttd;
        std::string kind;
        for (int s = 0; s < so.seeds; s++) {
            CampaignOptions o;
            o.budget_s = so.budget_per_mutant;
            o.jobs = 1;
            o.mutant = m.name;
            o.corpus = "none";
            o.seed = static_cast<uint64_t>(s + 1);
            o.sched_feedback = so.sched_feedback;
            o.sanitizer = so.sanitizer;
            o.triage_runs = 1;
            o.out = fmt::format("{}/{}-seed{}", base, m.name, s + 1);
            int rc = run_campaign(o);
            if (rc == 2) return 2;
            json r = json::parse(read_file(o.out + "/report.json"));
            if (!r["findings"].empty()) {
                ttd.push_back(r["findings"][0]["time_to_detect_s"].get<double>());
                if (kind.empty()) kind = r["findings"][0]["signature"].get<std::string>();
            }
        }
        std::sort(ttd.begin(), ttd.end());
        bool found = !ttd.empty();
        found_count += found;
        json row = {{"name", m.name},
                    {"class", m.cls},
                    {"found", found},
                    {"found_runs", ttd.size()},
                    {"runs", so.seeds},
                    {"time_to_detect_s", found ? json(ttd[ttd.size() / 2]) : json(nullptr)},
                    {"time_to_detect_max_s", found ? json(ttd.back()) : json(nullptr)},
                    {"kind", kind}};
        rows.push_back(row);
    }
    std::printf("\n%-24s %-26s %-7s %-10s %-10s %s\n", "mutant", "class", "found", "median s", "max s", "finding");
    for (const json& r : rows)
        std::printf("%-24s %-26s %-7s %-10s %-10s %s\n", r["name"].get<std::string>().c_str(),
                    r["class"].get<std::string>().c_str(),
                    fmt::format("{}/{}", r["found_runs"].get<int>(), r["runs"].get<int>()).c_str(),
                    r["found"].get<bool>() ? fmt::format("{:.2f}", r["time_to_detect_s"].get<double>()).c_str() : "-",
                    r["found"].get<bool>() ? fmt::format("{:.2f}", r["time_to_detect_max_s"].get<double>()).c_str() : "-",
                    r["kind"].get<std::string>().c_str());
    std::printf("mutation score: %d/%zu (interleaving feedback %s)\n", found_count, rows.size(),
                so.sched_feedback ? "on" : "off");
    json out = {{"mutants", rows}, {"found", found_count}, {"total", rows.size()}, {"sched_feedback", so.sched_feedback},
                {"budget_per_mutant_s", so.budget_per_mutant}, {"seeds", so.seeds}};
    if (!so.json_path.empty() && !write_file(so.json_path, out.dump(2) + "\n")) {
        std::fprintf(stderr, "z3fh: cannot write %s\n", so.json_path.c_str());
        return 2;
    }
    return 0;
}

}  // namespace z3fh::tool
