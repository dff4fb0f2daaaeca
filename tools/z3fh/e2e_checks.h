// z3fold-harden: end-to-end checks run by `z3fh test` (each returns "" when
// it passed, else what went wrong).
#pragma once
#include <string>

namespace z3fh::tool {

// A short campaign (build/e2e/LABEL) on `mutant` with `engine` finds it;
// its input runs clean with no mutant selected; the engine(s) ran.
std::string check_mutant_campaign(const std::string& label, const std::string& mutant, const std::string& engine,
                                  int jobs, double budget);
// A campaign on `mutant` is SIGKILLed once its first crash input is on disk;
// `campaign --out SAME` must then report that finding.
std::string check_kill_and_resume(const std::string& mutant);
// Ctrl-C mid-campaign: the tool stops its engines, triages, and still
// writes report.json (interrupted: true), report.md and report.html.
std::string check_interrupt_writes_report(const std::string& mutant);
// Headless chromium renders the campaign's report.html: plot and findings
// table present in the DOM, and a non-blank screenshot (report.png).
std::string check_report_in_browser(const std::string& campaign_dir);

}  // namespace z3fh::tool
