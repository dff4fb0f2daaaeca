// z3fold-harden: the campaign's report phase: report.json (the schema in
// docs/report-schema.md), report.md and report.html from it, and the
// summary on stdout.
#include <fmt/format.h>
#include <signal.h>

#include <cstdio>

#include "campaign_phases.h"
#include "context.h"
#include "report_html.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace z3fh::tool {

namespace {

json report_json(const CampaignPlan& p, const FuzzResult& fz, const TriageResult& tr, const json& coverage,
                 double coverage_s, const json& throughput) {
    const CampaignOptions& o = p.opts;
    json ts = json::array();
    for (const Sample& s : fz.series)
        ts.push_back({{"t", s.t}, {"execs", s.execs}, {"coverage", s.cov}, {"corpus", s.corpus},
                      {"execs_per_s", s.t > 0 ? static_cast<double>(s.execs) / s.t : 0.0}});
    json report = {{"target", o.target.target},
                   {"engine", o.engine},
                   {"sanitizer", o.sanitizer},
                   {"strategy", o.strategy},
                   {"user", o.user},
                   {"mutant", p.mutant_name},
                   {"mutant_build", p.mutant_build},
                   {"budget_s", o.budget_s},
                   {"elapsed_s", fz.fuzz_s},
                   {"build_s", p.build_s},
                   {"triage_s", tr.triage_s},
                   {"jobs", o.jobs},
                   {"seed", o.seed},
                   {"sched_feedback", o.sched_feedback},
                   {"execs", fz.execs},
                   {"execs_per_s", fz.fuzz_s > 0 ? static_cast<double>(fz.execs) / fz.fuzz_s : 0.0},
                   {"coverage_s", coverage_s},
                   {"throughput", throughput},
                   {"mean_steps", throughput.value("mean_steps", 0.0)},
                   {"steps_per_s", throughput.value("steps_per_s", 0.0)},
                   {"depth", throughput.value("depth", json::object())},
                   {"coverage", coverage},
                   {"corpus_size", fz.corpus_size},
                   {"corpus_found", fz.corpus_found},
                   {"timeseries", ts},
                   {"interrupted", fz.interrupted || g_campaign_interrupts > 0},
                   {"findings", tr.findings},
                   {"untriaged", tr.untriaged}};
    report.update(p.target_info);
    // Each engine's own figures (their coverage counts are not comparable:
    // libFuzzer's features vs AFL++'s map edges).
    if (p.lf_jobs > 0)
        report["engines"]["libfuzzer"] = {{"jobs", p.lf_jobs}, {"execs", fz.lf_execs},
                                          {"coverage", fz.lf_cov}, {"corpus", fz.lf_corpus}};
    if (p.afl_jobs > 0)
        report["engines"]["afl"] = {{"jobs", p.afl_jobs}, {"execs", fz.afl.execs}, {"coverage", fz.afl.edges},
                                    {"corpus", fz.afl.corpus}, {"hangs", fz.afl.hangs}, {"sync_dir", "afl"}};
    return report;
}

// With a kernel patch: whose finding it is.
std::string whose(const json& f) {
    if (!f.contains("reproduces_without_patch")) return "";
    return f["reproduces_without_patch"].get<bool>() ? " (also without the patch)" : " (only with the patch)";
}

std::string coverage_rows(const json& coverage) {
    if (!coverage.contains("lines_percent")) return "";
    std::string logic;
    if (coverage.contains("logic_lines_percent"))
        logic = fmt::format("| the allocator's logic (without reports, introspection, mutant switches) | "
                            "lines {:.1f}%, branches {:.1f}% |\n",
                            coverage["logic_lines_percent"].get<double>(), coverage["logic_branches_percent"].get<double>());
    return fmt::format("| {0} lines | {1:.1f}% ({2} of {3}) |\n| {0} branches | {4:.1f}% ({5} of {6}) |\n{7}"
                       "| coverage page | [{8}]({8}) |\n",
                       coverage.value("scope", "allocator/"), coverage["lines_percent"].get<double>(),
                       coverage["lines_covered"].get<int>(), coverage["lines_total"].get<int>(),
                       coverage["branches_percent"].get<double>(), coverage["branches_covered"].get<int>(),
                       coverage["branches_total"].get<int>(), logic, coverage.value("html", ""));
}

std::string report_markdown(const CampaignPlan& p, const json& report) {
    const double fuzz_s = report["elapsed_s"];
    const uint64_t execs = report["execs"];
    std::string md = fmt::format(
        "# z3fold-harden campaign\n\n| | |\n|---|---|\n| target | {} |\n| engine | {} |\n| sanitizer | {} |\n"
        "| mutant | {} |\n| budget | {:.0f} s |\n| fuzzing time | {:.1f} s |\n| build / triage | {:.1f} s / {:.1f} s |\n"
        "| executions | {} ({:.0f}/s) |\n| coverage (edges) | {} |\n| corpus | {} inputs kept of {} found (the fewest with every feature) |\n",
        p.kernel ? fmt::format("kernel mm/{}.c, Linux {} ({}){}; users: {}", p.kfile->allocator, p.kfile->series,
                               p.kfile->version, p.kfile->patch.empty() ? "" : ", patched with " + p.kfile->patch,
                               p.target_info.value("user_model", ""))
                 : std::string("port"),
        p.opts.engine, p.opts.sanitizer, p.mutant_name, p.opts.budget_s, fuzz_s, p.build_s,
        report["triage_s"].get<double>(), execs, report["execs_per_s"].get<double>(),
        report["coverage"].value("edges", uint64_t{0}), report["corpus_size"].get<uint64_t>(),
        report["corpus_found"].get<size_t>());
    if (p.target_info.contains("base_findings"))
        md += fmt::format("| the file's own findings | {} |\n", p.target_info["base_findings"].get<std::string>());
    const json& t = report["throughput"];
    if (t.contains("mean_steps"))
        md += fmt::format("| checked steps per second | {:.0f} (mean {:.0f} steps a program, {} sampled) |\n"
                          "| execs per CPU-second: campaign / in-process | {:.0f} / {:.0f} ({:.0f} %) |\n",
                          t["steps_per_s"].get<double>(), t["mean_steps"].get<double>(), t["sampled_programs"].get<size_t>(),
                          t["campaign_execs_per_cpu_s"].get<double>(), t["in_process_execs_per_cpu_s"].get<double>(),
                          100 * t["campaign_share_of_in_process"].get<double>());
    if (t.contains("depth") && !t["depth"].empty()) {
        std::string depth;
        for (const auto& [name, n] : t["depth"].items())
            depth += fmt::format("{}{} {}", depth.empty() ? "" : ", ", name, n.get<uint64_t>());
        md += fmt::format("| depth, over the {} sampled corpus programs | {} |\n", t["sampled_programs"].get<size_t>(), depth);
    }
    if (!p.known_findings.empty() && t.contains("known_findings"))
        md += fmt::format("| sampled corpus programs ending in a known finding of the file | {} of {} |\n",
                          t["known_findings"].get<uint64_t>(), t.value("sampled_programs", size_t{0}));
    md += coverage_rows(report["coverage"]) + "\n## Findings\n\n";
    const json& findings = report["findings"];
    if (findings.empty()) md += "None.\n";
    else
        md += fmt::format("| signature | user |{} detected after | replays | reproducer | minimised | test |\n"
                          "|---|---|{}---|---|---|---|---|\n",
                          p.kernel ? " zswap |" : "", p.kernel ? "---|" : "");
    for (const json& f : findings)
        md += fmt::format("| `{}`{} | {} |{} {:.2f} s | {} | [{}]({}) | {} | {} |\n", f["signature"].get<std::string>(),
                          whose(f), f.value("user", "-"), p.kernel ? " " + zswap_verdict_text(f) + " |" : "",
                          f["time_to_detect_s"].get<double>(),
                          f["replays"].get<std::string>(), f["reproducer"].get<std::string>(),
                          f["reproducer"].get<std::string>(), f["minimized"].get<std::string>(),
                          f["exported_test"].get<std::string>());
    // Each finding's interleaving, as it pastes into a commit message.
    for (const json& f : findings) {
        if (f.value("diagram", json::array()).empty()) continue;
        md += fmt::format("\n### `{}` ({})\n\n```\n", f["signature"].get<std::string>(), f["reproducer"].get<std::string>());
        for (const json& line : f["diagram"]) md += line.get<std::string>() + "\n";
        md += "```\n";
    }
    return md;
}

}  // namespace

void report_phase(const CampaignPlan& p, const FuzzResult& fz, const TriageResult& tr, const json& coverage,
                  double coverage_s, const json& throughput) {
    const json report = report_json(p, fz, tr, coverage, coverage_s, throughput);
    write_file((p.out / "report.json").string(), report.dump(2) + "\n");
    write_file((p.out / "report.md").string(), report_markdown(p, report));
    write_file((p.out / "report.html").string(), render_report_html(report));
    const json& findings = report["findings"];
    std::printf("campaign: %llu execs in %.1fs (%.0f/s), %zu finding(s); report: %s\n",
                static_cast<unsigned long long>(fz.execs), fz.fuzz_s, report["execs_per_s"].get<double>(),
                findings.size(), (p.out / "report.json").c_str());
    for (const json& f : findings)
        std::printf("  %s%s after %.2fs, reproduced %s, reproducer %s\n", f["signature"].get<std::string>().c_str(),
                    whose(f).c_str(), f["time_to_detect_s"].get<double>(), f["replays"].get<std::string>().c_str(),
                    (p.out / f["reproducer"].get<std::string>()).c_str());
    signal(SIGINT, SIG_DFL);
    if (!tr.untriaged.empty())
        std::printf("  %zu crash input(s) left untriaged (report.json \"untriaged\"; replay each)\n", tr.untriaged.size());
    if (g_campaign_interrupts > 0) std::printf("interrupted: the report covers what ran until then\n");
}

}  // namespace z3fh::tool
