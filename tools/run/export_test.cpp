// z3fold-harden: z3fh-run's export-test: a finding as a readable GoogleTest case.
#include <fmt/format.h>

#include <regex>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run/driver.h"
#include "program/program.h"

namespace z3fh::run {

using fuzz::Op;
using fuzz::OpKind;
using fuzz::Program;
using fuzz::ScheduleKind;

namespace {

// `Program NAME() { ... }`: a program spelled as C++, each op with its text
// and the schedule as named preemption steps (never a byte array).
std::string program_function(const Program& p, const std::string& name) {
    std::string ops;
    for (int t = 0; t < p.threads; t++) {
        for (const Op& op : p.thread_ops(t))
            ops += fmt::format("        {{OpKind::{}, {}, {:#04x}}},  // T{}: {}\n", fuzz::op_name(op.kind), op.thread,
                               op.arg, t, fuzz::op_text(op));
    }
    // A pair schedule's odd last byte is never read (a preemption needs
    // both), so it is left out.
    std::string sched;
    if (p.schedule_kind == ScheduleKind::pairs) {
        sched = "z3fh::fuzz::preemptions({\n";
        for (size_t i = 0; i + 1 < p.schedule.size(); i += 2)
            sched += fmt::format("        {{.after = {}, .to = {}}},  // keep the running thread {} more decision{}, then "
                                 "runnable #{}\n",
                                 p.schedule[i], p.schedule[i + 1], p.schedule[i], p.schedule[i] == 1 ? "" : "s",
                                 p.schedule[i + 1]);
        sched += "    })";
    } else {
        fuzz::PctParams pp = p.pct_params();
        uint8_t depth_byte = p.schedule.empty() ? 0 : p.schedule[0];
        sched = fmt::format("z3fh::fuzz::seeded_schedule(/* depth {} */ {}, /* seed */ {:#010x})", pp.depth, depth_byte,
                            static_cast<uint32_t>(pp.seed));
    }
    return fmt::format(R"(z3fh::fuzz::Program {fn}() {{
    z3fh::fuzz::Program p;
    p.threads = {threads};
    p.vcpus = {vcpus};
    p.evict_policy = {evict:#04x};{user}
    p.ops = {{
{ops}    }};
    p.schedule = {sched};{kind}
    return p;
}}
)",
                       fmt::arg("fn", name), fmt::arg("threads", p.threads), fmt::arg("vcpus", p.vcpus),
                       fmt::arg("evict", p.evict_policy), fmt::arg("ops", ops), fmt::arg("sched", sched),
                       fmt::arg("user", p.user == fuzz::UserKind::zswap
                                            ? "\n    p.user = z3fh::fuzz::UserKind::zswap;  // zswap as the user (the model of the kernel series the test is built for)"
                                            : ""),
                       fmt::arg("kind", p.schedule_kind == ScheduleKind::pct
                                            ? "\n    p.schedule_kind = z3fh::fuzz::ScheduleKind::pct;  // a PCT interleaving"
                                        : p.schedule_kind == ScheduleKind::random
                                            ? "\n    p.schedule_kind = z3fh::fuzz::ScheduleKind::random;  // a seeded random walk"
                                            : ""));
}

}  // namespace

namespace {
// Which sanitizer reports a finding with this signature ("" = the harness's
// own checks, which every tree has).
std::string sanitizer_needed(const std::string& signature) {
    if (signature.starts_with("ubsan@")) return "ubsan";
    if (signature.starts_with("tsan:")) return "tsan";
    if (signature.starts_with("sanitizer:") || signature == "crash") return "asan";
    // A leak's site is symbolized by the sanitizer runtime (checks/alloc_site.h):
    // a tree with one (asan or ubsan) prints the same signature.
    // (Without one the site is the allocating call's file:line.)
    static const std::regex file_line(R"(leak@[A-Za-z0-9_.-]+:[0-9]+)");
    if (signature.starts_with("leak@") && !std::regex_match(signature, file_line)) return "ubsan";
    return "";
}
}  // namespace

std::string export_test_source(const Program& p, const std::string& test_name, const std::string& mutant,
                               const std::string& signature, const std::vector<Program>& witnesses) {
    // A potential deadlock is a pair (or more) of runs: the witnesses run
    // first in the same process, their lock orders kept, then the program.
    std::string witness_fns, witness_list;
    for (size_t k = 0; k < witnesses.size(); k++) {
        witness_fns += "\n// Potential-deadlock witness " + std::to_string(k) + ": runs first, its lock order kept.\n" +
                       program_function(witnesses[k], "witness_" + std::to_string(k));
        witness_list += (k ? ", " : "") + std::string("witness_") + std::to_string(k) + "()";
    }
    if (!witnesses.empty())
        witness_fns += "\nstd::vector<z3fh::fuzz::Program> witnesses() { return {" + witness_list + "}; }\n";
    // A witnessed finding is a potential deadlock, which the harness reports itself.
    const std::string needs = witnesses.empty() ? sanitizer_needed(signature) : std::string();
    return fmt::format(R"(// Regression test exported by `z3fh export-test`.
// Found: {sig}{mut_note}
// Each thread runs its operations in order; the schedule says where the
// scheduler preempts the running thread (see z3fh::fuzz::Preempt).
#include "regress/regress.h"

namespace {{

using z3fh::fuzz::OpKind;

{program}{witnesses}
}}  // namespace

{macro}({name}, "{mutant}"{needs}, "{sig_arg}")
)",
                       fmt::arg("sig", signature), fmt::arg("program", program_function(p, "program")),
                       fmt::arg("sig_arg", signature == "nothing in this build" ? std::string() : signature),
                       fmt::arg("witnesses", witness_fns),
                       fmt::arg("macro", !witnesses.empty() ? "Z3FH_REGRESSION_WITH_WITNESSES"
                                         : needs.empty()     ? "Z3FH_REGRESSION"
                                                             : "Z3FH_REGRESSION_UNDER"),
                       fmt::arg("needs", needs.empty() ? std::string() : ", \"" + needs + "\""),
                       fmt::arg("name", test_name), fmt::arg("mutant", mutant.empty() ? "none" : mutant),
                       fmt::arg("mut_note", mutant.empty() ? std::string() : " with mutant " + mutant));
}

int cmd_export_test(const std::string& file, const std::string& out, const std::string& name,
                    const std::string& mutant) {
    Program prog;
    std::vector<uint8_t> bytes;
    if (!load_input(file, &prog, &bytes)) return 2;
    ChildResult r = run_child(prog);
    std::string test_name = name;
    if (test_name.empty()) {
        std::string base = file.substr(file.find_last_of('/') + 1);
        test_name = "Input_";
        for (char c : base.substr(0, 24)) test_name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    }
    std::ofstream f(out);
    if (!f) {
        std::fprintf(stderr, "z3fh: cannot write %s\n", out.c_str());
        return 2;
    }
    f << export_test_source(prog, test_name, mutant, r.found ? r.signature : "nothing in this build", loaded_witnesses());
    std::printf("wrote %s (TEST(Regress, %s))\n", out.c_str(), test_name.c_str());
    nlohmann::json result = signature_fields(r.found ? r.signature : "");
    result.update({{"z3fh_run", "export-test"}, {"input", file}, {"output", out}, {"test", test_name}});
    print_result(result);
    return 0;
}


}  // namespace z3fh::run
