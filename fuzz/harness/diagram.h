// z3fold-harden: a finding's interleaving drawn as the kernel's race
// diagrams are: one column a thread (its CPU marked when it moves), each
// thread's operations, and under the function that runs them only the
// steps that matter (bit, refcount and work events on the pages the
// finding is about first; then locks; then the rest; the failing thread's
// last two steps always), down to the point where the check or sanitizer
// fired. It fits a commit message: at most kDiagramMaxLines lines of at
// most kDiagramMaxColumns columns.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "program/program.h"
#include "sched/trace.h"

namespace z3fh::fuzz {

constexpr size_t kDiagramMaxLines = 25;
constexpr size_t kDiagramMaxColumns = 75;

struct DiagramInput {
    std::vector<sched::TraceEvent> events;  // the whole run, oldest first
    std::vector<std::vector<Op>> ops;       // each program thread's operations
    int program_threads = 0;                // threads after these are the pool's workers
    std::string finding;                    // what fired, e.g. "invariant page-state-at-rest"
    uint32_t page = 0;                      // the finding's page, if it names one (0: none)
    // Found once every thread had ended (at rest, at teardown, after the
    // pool's destroy): no thread's step fired it.
    bool after_run = false;
};

// The diagram's lines (each <= kDiagramMaxColumns, at most kDiagramMaxLines).
std::vector<std::string> interleaving_diagram(const DiagramInput& in);

// Where a source line is, read from the file the trace names (compiled-in
// paths): the function around it and the statement. "" when unknown.
struct SourceSite {
    std::string function;
    bool helper = false;   // a one-statement helper (static inline, or in a header): shown as a call
    std::string statement; // the statement that ends on the line (joined if written over several)
};
SourceSite source_site(const char* file, int line);

}  // namespace z3fh::fuzz
