// z3fold-harden: lock order across the runs of one process.
#include "sched/lockdep.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::sched {

bool CrossRunLockOrder::adds_edges(const LockOrder& g) const {
    for (size_t a = 1; a < LockOrder::kClasses; a++)
        if (g.successors(a) & ~graph_.successors(a) & ~1u) return true;  // class 0 is no class
    return false;
}

std::optional<CrossRunLockOrder::Cycle> CrossRunLockOrder::merge(const LockOrder& g, int run) {
    for (size_t a = 1; a < LockOrder::kClasses; a++) {
        for (size_t b = 1; b < LockOrder::kClasses; b++) {
            if (!g.has(a, b) || graph_.has(a, b)) continue;
            const LockOrder::Edge& e = g.edge(a, b);
            std::vector<size_t> path;
            if (graph_.reaches(b, a, &path)) {
                Cycle c;
                c.at = e.taken_at;
                c.report = fmt::format(
                               "possible circular locking dependency across runs: this run takes {} at {}:{} while "
                               "holding {} (taken at {}:{}), and other runs took the opposite order:",
                               sync::lock_class_name(b), e.taken_at.file, e.taken_at.line, sync::lock_class_name(a), e.held_at.file,
                               e.held_at.line) +
                           graph_.path_text(path, true);
                for (size_t i = 0; i + 1 < path.size(); i++) {
                    const int other = graph_.edge(path[i], path[i + 1]).run;
                    if (std::find(c.runs.begin(), c.runs.end(), other) == c.runs.end()) c.runs.push_back(other);
                }
                return c;
            }
            LockOrder::Edge kept = e;
            kept.run = run;
            graph_.add(a, b, kept);
        }
    }
    return std::nullopt;
}

}  // namespace z3fh::sched
