// z3fold-harden: the commands of z3fh-run (replay, minimize, export-test,
// seeds, list-mutants) and the pieces they share: loading an input with
// typed errors, running it in a child process, and failure signatures.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "program/program.h"

namespace z3fh::run {

bool select_mutant(const std::string& name);

// Load and strictly decode an input; on error print one line and return false.
bool load_input(const std::string& path, fuzz::Program* prog, std::vector<uint8_t>* bytes);

struct ChildResult {
    bool found = false;        // the child reported a finding (crashed)
    bool stale = false;        // the recorded schedule no longer fits the code (use_schedule)
    std::string signature;     // stable failure signature ("" if none)
    std::string output;        // everything the child wrote to stderr
};
// Replay with recorded decisions instead of the input's schedule bytes: each
// step's thread, event and object are checked, so a schedule recorded on
// other code says where it went stale instead of running something else.
// false (printed) if the file is not a schedule.
bool use_schedule(const std::string& path);
// Write the decisions the next run_child takes to `path` (triage records
// them beside a finding's input).
void record_schedule_to(const std::string& path);
// Run one program in a forked child with the full trace on failure; the
// potential-deadlock witnesses (set_witnesses) run first in the same child.
ChildResult run_child(const fuzz::Program& prog);
// A potential-deadlock finding replays as a pair: its witnesses' lock-order
// edges first. `explicit_files` (--witness) and the witness files saved
// beside `input` for it (witness_file_name); false after printing an error.
bool load_witnesses(const std::string& input, const fuzz::Program& prog, const std::vector<std::string>& explicit_files);
// The witnesses load_witnesses loaded (export-test writes them too).
const std::vector<fuzz::Program>& loaded_witnesses();
// Encode and write a program; false (said) if it cannot be written.
bool write_program(const std::string& path, const fuzz::Program& p);
// Copy the loaded witnesses beside `out`, named for `prog` (a minimised input keeps its pair).
void save_witnesses_for(const fuzz::Program& prog, const std::string& out);
// "invariant:unbuddied-index", "asan:heap-use-after-free@Pool::reclaim_page", ...
std::string signature_of(const std::string& output);
// A signature's parts, the one place they are split: kind ("invariant",
// "sanitizer", "tsan", "ubsan", or a check's kind), invariant id, where.
nlohmann::json signature_fields(const std::string& signature);
// The last line of every replay, minimize and export-test: one JSON object
// (docs/report-schema.md, "z3fh-run's result"); the tool reads only this.
void print_result(const nlohmann::json& result);
// The interleaving diagram the child printed (fuzz/harness/diagram.h), one
// string a line; empty if it drew none.
nlohmann::json diagram_lines(const std::string& child_output);

fuzz::Program minimize(const fuzz::Program& prog, const std::string& signature, int* runs);

int cmd_replay(const std::string& file, int runs);
int cmd_minimize(const std::string& file, const std::string& out);
int cmd_export_test(const std::string& file, const std::string& out, const std::string& name,
                    const std::string& mutant);
int cmd_seeds(const std::string& dir, int count, bool empty);
// Write FILE as the program the fuzz target runs (decoded leniently, then
// encoded): byte-level engines (AFL++'s havoc, CMPLOG) leave inputs the
// strict replay tools would reject.
int cmd_canonical(const std::string& file, const std::string& out);
int cmd_list_mutants();

std::string export_test_source(const fuzz::Program& prog, const std::string& test_name, const std::string& mutant,
                               const std::string& signature, const std::vector<fuzz::Program>& witnesses = {});
std::vector<fuzz::Program> seed_programs(int count);
// `count` random programs of exactly `ops` operations into DIR (bench --sizes).
int cmd_sized_programs(const std::string& dir, int count, int ops);
// Run the programs `repeat` times in this process as the fuzz target would;
// one JSON line: runs, CPU seconds, execs per CPU second, mean steps.
int cmd_time(const std::vector<std::string>& files, int repeat);
// One thread: fail the next page (or slots-object) allocation, allocate (it
// fails), allocate again, write and verify: the -ENOMEM path and recovery.
fuzz::Program fault_injection_program(bool slots);

}  // namespace z3fh::run
