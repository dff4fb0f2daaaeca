// z3fold-harden: report.html: one self-contained page (no scripts, no
// external files) with the campaign's figures, an inline SVG plot of
// coverage and execs/s over time, the findings table linking to each
// reproducer, and the coverage summary.
#include "report_html.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::tool {

namespace {

std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) {
        switch (c) {
        case '&': o += "&amp;"; break;
        case '<': o += "&lt;"; break;
        case '>': o += "&gt;"; break;
        case '"': o += "&quot;"; break;
        default: o += c;
        }
    }
    return o;
}

std::string str(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
}

// Two series on one time axis, each scaled to its own maximum (labelled).
std::string plot(const nlohmann::json& ts) {
    const double W = 720, H = 260, L = 60, R = 60, T = 20, B = 40;
    double tmax = 1, cmax = 1, rmax = 1;
    for (const auto& s : ts) {
        tmax = std::max(tmax, s.value("t", 0.0));
        cmax = std::max(cmax, s.value("coverage", 0.0));
        rmax = std::max(rmax, s.value("execs_per_s", 0.0));
    }
    auto x = [&](double t) { return L + (W - L - R) * t / tmax; };
    auto y = [&](double v, double vmax) { return T + (H - T - B) * (1.0 - v / vmax); };
    std::string cov_pts, rate_pts;
    for (const auto& s : ts) {
        cov_pts += fmt::format("{:.1f},{:.1f} ", x(s.value("t", 0.0)), y(s.value("coverage", 0.0), cmax));
        rate_pts += fmt::format("{:.1f},{:.1f} ", x(s.value("t", 0.0)), y(s.value("execs_per_s", 0.0), rmax));
    }
    std::string svg = fmt::format(
        "<svg id=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
        "role=\"img\" aria-label=\"coverage and execs per second over time\">\n"
        "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#fff\"/>\n"
        "<line x1=\"{2}\" y1=\"{3}\" x2=\"{4}\" y2=\"{3}\" stroke=\"#444\"/>\n"
        "<line x1=\"{2}\" y1=\"{5}\" x2=\"{2}\" y2=\"{3}\" stroke=\"#444\"/>\n"
        "<line x1=\"{4}\" y1=\"{5}\" x2=\"{4}\" y2=\"{3}\" stroke=\"#444\"/>\n",
        W, H, L, H - B, W - R, T);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">time (s), 0 to {:.0f}</text>\n",
                       (W) / 2, H - 8, tmax);
    svg += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"12\" fill=\"#1f6fb2\">{:.0f}</text>\n", T + 4, cmax);
    svg += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"12\" fill=\"#1f6fb2\">edges</text>\n", T + 18);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#c0392b\">{:.0f}</text>\n", W - R + 4, T + 4,
                       rmax);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#c0392b\">execs/s</text>\n", W - R + 4, T + 18);
    if (!ts.empty()) {
        svg += fmt::format("<polyline class=\"coverage\" fill=\"none\" stroke=\"#1f6fb2\" stroke-width=\"2\" "
                           "points=\"{}\"/>\n",
                           cov_pts);
        svg += fmt::format("<polyline class=\"execs\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" "
                           "points=\"{}\"/>\n",
                           rate_pts);
    } else {
        svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">no samples (the run was "
                           "shorter than one status period)</text>\n",
                           W / 2, H / 2);
    }
    svg += "</svg>\n";
    return svg;
}

}  // namespace

std::string zswap_verdict_text(const nlohmann::json& f) {
    if (!f.contains("zswap")) return "";
    const nlohmann::json& z = f["zswap"];
    const std::string v = z.value("verdict", "");
    if (v == "found") return "found with zswap as the user";
    if (v == "reproduced") return fmt::format("reproduced ({})", z.value("input", ""));
    if (v == "not-found") return fmt::format("not found in {:.1f} min", z.value("minutes", 0.0));
    return "not tried (--user zpool)";
}

namespace {

std::string summary_table(const nlohmann::json& r) {
    std::string h = "<table id=\"summary\">\n";
    auto row = [&](const std::string& k, const std::string& v) {
        h += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(v));
    };
    for (const char* key : {"target", "engine", "sanitizer", "strategy", "mutant"}) row(key, str(r, key));
    if (r.contains("kernel_series"))
        row("kernel file", fmt::format("mm/{}.c, Linux {} ({}); users: {}", str(r, "allocator"), str(r, "kernel_series"),
                                       str(r, "kernel_version"), str(r, "user_model")));
    if (!str(r, "kernel_patch").empty()) row("patch", str(r, "kernel_patch"));
    if (!str(r, "base_findings").empty()) row("the file's own findings", str(r, "base_findings"));
    row("budget", fmt::format("{:.0f} s", r.value("budget_s", 0.0)));
    row("fuzzing time", fmt::format("{:.1f} s", r.value("elapsed_s", 0.0)));
    row("build / triage", fmt::format("{:.1f} s / {:.1f} s", r.value("build_s", 0.0), r.value("triage_s", 0.0)));
    row("executions", fmt::format("{} ({:.0f}/s)", r.value("execs", uint64_t{0}), r.value("execs_per_s", 0.0)));
    if (r.value("steps_per_s", 0.0) > 0)
        row("checked steps per second", fmt::format("{:.0f} (mean {:.0f} steps a program)", r.value("steps_per_s", 0.0),
                                                    r.value("mean_steps", 0.0)));
    row("corpus", fmt::format("{} inputs kept of {} found", r.value("corpus_size", uint64_t{0}), r.value("corpus_found", uint64_t{0})));
    return h + "</table>\n";
}

// The findings table, then each finding's interleaving (fuzz/harness/diagram.h).
std::string findings_section(const nlohmann::json& fs) {
    std::string h = "<h2>Findings</h2>\n";
    if (fs.empty()) h += "<p class=\"none\" id=\"no-findings\">No findings.</p>\n";
    h += "<table id=\"findings\">\n<tr><th>signature</th><th>kind</th><th>user</th><th>zswap</th><th>with the patch</th>"
         "<th>detected after</th><th>execs</th><th>replays</th><th>reproducer</th><th>minimised input</th>"
         "<th>exported test</th></tr>\n";
    for (const auto& f : fs) {
        auto link = [&](const char* key) {
            std::string p = str(f, key);
            return p.empty() ? std::string("-") : fmt::format("<a href=\"{0}\">{0}</a>", esc(p));
        };
        // A --kernel-patch campaign's verdict: whose finding it is.
        std::string verdict = !f.contains("reproduces_without_patch")     ? "-"
                              : f["reproduces_without_patch"].get<bool>() ? "also without the patch"
                                                                          : "only with the patch";
        h += fmt::format("<tr><td><code>{}</code></td><td>{}</td><td class=\"user\">{}</td><td class=\"zswap\">{}</td>"
                         "<td class=\"patch\">{}</td><td>{:.2f} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                         "<td>{}</td></tr>\n",
                         esc(str(f, "signature")), esc(str(f, "kind")), esc(f.value("user", "-")),
                         f.contains("zswap") ? esc(zswap_verdict_text(f)) : std::string("-"), verdict,
                         f.value("time_to_detect_s", 0.0), str(f, "execs_at_detect"), esc(str(f, "replays")),
                         link("reproducer"), link("minimized"), link("exported_test"));
    }
    h += "</table>\n";
    for (const auto& f : fs) {
        if (f.value("diagram", nlohmann::json::array()).empty()) continue;
        h += fmt::format("<h3>Interleaving of <code>{}</code></h3>\n<pre class=\"diagram\">", esc(str(f, "signature")));
        for (const auto& line : f["diagram"]) h += esc(line.get<std::string>()) + "\n";
        h += "</pre>\n";
    }
    return h;
}

std::string coverage_section(const nlohmann::json& r) {
    const auto& cov = r.value("coverage", nlohmann::json::object());
    std::string h = fmt::format("<h2>Coverage of {}</h2>\n<table id=\"coverage\">\n",
                                esc(cov.value("scope", r.value("target", "") == "kernel" ? "mm/z3fold.c" : "allocator/")));
    h += fmt::format("<tr><th>edges (libFuzzer)</th><td>{}</td></tr>\n", str(cov, "edges"));
    if (cov.contains("lines_percent")) {
        h += fmt::format("<tr><th>lines</th><td>{:.1f}% ({} of {})</td></tr>\n", cov.value("lines_percent", 0.0),
                         str(cov, "lines_covered"), str(cov, "lines_total"));
        h += fmt::format("<tr><th>branches</th><td>{:.1f}% ({} of {})</td></tr>\n", cov.value("branches_percent", 0.0),
                         str(cov, "branches_covered"), str(cov, "branches_total"));
    }
    if (cov.contains("logic_lines_percent"))
        h += fmt::format("<tr><th>the allocator's logic</th><td>lines {:.1f}%, branches {:.1f}%</td></tr>\n",
                         cov.value("logic_lines_percent", 0.0), cov.value("logic_branches_percent", 0.0));
    for (const auto& f : cov.value("files", nlohmann::json::array()))
        h += fmt::format("<tr class=\"file\"><th>{}</th><td>lines {:.1f}% ({} of {}), branches {:.1f}%{}</td></tr>\n",
                         esc(f.value("file", "")), f.value("lines_percent", 0.0), str(f, "lines_covered"),
                         str(f, "lines_total"), f.value("branches_percent", 0.0),
                         f.value("support", false) ? " (support)" : "");
    if (!str(cov, "html").empty())
        h += fmt::format("<tr><th>per line</th><td><a href=\"{0}\">{0}</a></td></tr>\n", esc(str(cov, "html")));
    if (!str(cov, "note").empty()) h += fmt::format("<tr><th>note</th><td>{}</td></tr>\n", esc(str(cov, "note")));
    return h + "</table>\n";
}

}  // namespace

std::string render_report_html(const nlohmann::json& r) {
    std::string h =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>z3fold-harden campaign</title>\n"
        "<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:4px 8px;text-align:left}th{background:#eee}"
        "code{font-size:90%}.none{color:#2a7d2a}</style></head><body>\n<h1>z3fold-harden campaign</h1>\n";
    h += summary_table(r);
    h += "<h2>Coverage and speed over time</h2>\n" + plot(r.value("timeseries", nlohmann::json::array()));
    h += findings_section(r.value("findings", nlohmann::json::array()));
    h += coverage_section(r);
    return h + "</body></html>\n";
}

}  // namespace z3fh::tool
