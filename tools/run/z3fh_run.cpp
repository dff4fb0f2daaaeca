// z3fold-harden: z3fh-run, the per-build driver that the z3fh tool calls.
// Built in every preset with the controlled backend, so it replays,
// minimises and exports with exactly the sanitizer and mutant set of the
// build that found a crash.
//   z3fh-run replay FILE [--runs N] [--mutant NAME]
//   z3fh-run minimize FILE -o OUT [--mutant NAME]
//   z3fh-run export-test FILE -o PATH [--name NAME] [--mutant NAME]
//   z3fh-run seeds DIR [--count N | --empty]
//   z3fh-run canonical FILE -o OUT
//   z3fh-run list-mutants
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "mutants.h"
#include "program/env_knobs.h"
#include "run/driver.h"

int main(int argc, char** argv) {
    CLI::App app{"z3fh-run: replay, minimise and export one input in this build"};
    app.require_subcommand(1);
    std::string file, out, name, mutant;
    int runs = 1, count = 64;
    std::vector<std::string> witnesses;
    auto add_mutant = [&](CLI::App* c) {
        c->add_option("--mutant", mutant, "seeded defect to enable (mutant builds)");
        c->add_option("--witness", witnesses, "a potential-deadlock witness input to run first (repeatable; "
                                              "those saved beside FILE are found without it)");
    };

    auto* replay = app.add_subcommand("replay", "run FILE with its recorded interleaving and print the reproducer");
    replay->add_option("file", file, "input file")->required();
    replay->add_option("--runs", runs, "replay N times and report reproduced K/N")->check(CLI::Range(1, 100000));
    std::string schedule, record;
    replay->add_option("--schedule", schedule, "replay these recorded decisions (checked step by step; stale says where)");
    replay->add_option("--record-schedule", record, "write the decisions the replay took to this file");
    add_mutant(replay);
    auto* minimize = app.add_subcommand("minimize", "shrink FILE keeping its failure signature");
    minimize->add_option("file", file, "input file")->required();
    minimize->add_option("-o,--output", out, "where to write the minimised input")->required();
    add_mutant(minimize);
    auto* exp = app.add_subcommand("export-test", "write FILE as a readable GoogleTest case");
    exp->add_option("file", file, "input file")->required();
    exp->add_option("-o,--output", out, "test file to write")->required();
    exp->add_option("--name", name, "test name");
    add_mutant(exp);
    auto* seeds = app.add_subcommand("seeds", "write the generated seed corpus into DIR");
    seeds->add_option("dir", out, "directory")->required();
    seeds->add_option("--count", count, "how many seeds")->check(CLI::Range(1, 100000));
    bool empty = false;
    seeds->add_flag("--empty", empty, "write one program with no operations instead");
    int ops = -1;
    seeds->add_option("--ops", ops, "instead: random programs of exactly this many operations (benchmarks by size)")
        ->check(CLI::Range(0, 255));
    std::vector<std::string> time_files;
    int repeat = 20;
    auto* time = app.add_subcommand("time", "run programs as the fuzz target does and print execs per CPU second");
    time->add_option("files", time_files, "program files")->required();
    time->add_option("--repeat", repeat, "runs of each")->check(CLI::Range(1, 100000));
    auto* canon = app.add_subcommand("canonical", "write FILE as the program the fuzz target runs (strictly decodable)");
    canon->add_option("file", file, "input file")->required();
    canon->add_option("-o,--output", out, "where to write it")->required();
    auto* list = app.add_subcommand("list-mutants", "NAME<TAB>CLASS<TAB>description, one a line");
    (void)list;

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;  // every usage error is exit 2
    }
    using namespace z3fh::run;
    if (std::string why = z3fh::fuzz::check_env_knobs(); !why.empty()) {
        std::fprintf(stderr, "z3fh-run: %s\n", why.c_str());
        return 2;
    }
    if (!mutant.empty() && !select_mutant(mutant)) {
        std::fprintf(stderr, "z3fh-run: unknown mutant '%s' (or this build has no mutants)\n", mutant.c_str());
        return 2;
    }
    if (*replay || *minimize || *exp) {
        z3fh::fuzz::Program prog;
        std::vector<uint8_t> bytes;
        if (!load_input(file, &prog, &bytes)) return 2;
        if (!load_witnesses(file, prog, witnesses)) return 2;
    }
    if (!schedule.empty() && !use_schedule(schedule)) return 2;
    if (!record.empty()) record_schedule_to(record);
    if (*replay) return cmd_replay(file, runs);
    if (*minimize) return cmd_minimize(file, out);
    if (*exp) return cmd_export_test(file, out, name, mutant);
    if (*time) return cmd_time(time_files, repeat);
    if (*seeds) return ops >= 0 ? cmd_sized_programs(out, count, ops) : cmd_seeds(out, count, empty);
    if (*canon) return cmd_canonical(file, out);
    return cmd_list_mutants();
}
