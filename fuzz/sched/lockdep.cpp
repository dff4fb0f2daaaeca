// z3fold-harden: the lock-order validator.
#include "sched/lockdep.h"

#include <fmt/format.h>

#include <algorithm>

namespace z3fh::sched {

void LockOrder::reset() { edges_ = {}; }

// Depth-first search over the class graph; the path from `from` to `to`.
bool LockOrder::reaches(size_t from, size_t to, std::vector<size_t>* path) const {
    std::array<bool, kClasses> seen{};
    std::vector<size_t> stack = {from};
    std::array<size_t, kClasses> parent{};
    parent.fill(kClasses);
    seen[from] = true;
    while (!stack.empty()) {
        size_t c = stack.back();
        stack.pop_back();
        if (c == to) {
            path->clear();
            for (size_t x = to; x != kClasses; x = parent[x]) path->insert(path->begin(), x);
            return true;
        }
        for (size_t n = 0; n < kClasses; n++)
            if (edges_[c][n].present && !seen[n]) {
                seen[n] = true;
                parent[n] = c;
                stack.push_back(n);
            }
    }
    return false;
}

namespace {
std::string class_name(size_t c) { return sync::obj_class_name(static_cast<sync::ObjClass>(c)); }
}  // namespace

// The recorded edges along `path`, each with who took it (a thread, or a
// run for the cross-run graph) and where.
std::string LockOrder::path_text(const std::vector<size_t>& path, bool by_run) const {
    std::string out;
    for (size_t i = 0; i + 1 < path.size(); i++) {
        const Edge& e = edges_[path[i]][path[i + 1]];
        out += fmt::format(" {}{} took {} at {}:{} holding {} (taken at {}:{});", by_run ? "run " : "T",
                           by_run ? e.run : e.thread, class_name(path[i + 1]), e.taken_at.file, e.taken_at.line,
                           class_name(path[i]), e.held_at.file, e.held_at.line);
    }
    return out;
}

std::optional<std::string> LockOrder::acquired(int thread, const std::vector<Held>& held, sync::ObjectId obj,
                                               sync::SrcLoc loc, bool trylock) {
    if (trylock) return std::nullopt;
    const size_t b = static_cast<size_t>(obj.cls);
    if (b == 0 || b >= kClasses) return std::nullopt;
    for (const Held& h : held) {
        const size_t a = static_cast<size_t>(h.obj.cls);
        if (a == 0 || a >= kClasses || a == b || edges_[a][b].present) continue;
        std::vector<size_t> path;
        if (reaches(b, a, &path))
            return fmt::format(
                       "possible circular locking dependency: T{} takes {} {} at {}:{} while holding {} {} (taken at "
                       "{}:{}), but the opposite order was seen:",
                       thread, class_name(b), obj.serial, loc.file, loc.line, class_name(a), h.obj.serial, h.loc.file,
                       h.loc.line) +
                   path_text(path, false);
        edges_[a][b] = Edge{true, h.loc, loc, thread};
    }
    return std::nullopt;
}

bool CrossRunLockOrder::adds_edges(const LockOrder& g) const {
    for (size_t a = 1; a < LockOrder::kClasses; a++)
        for (size_t b = 1; b < LockOrder::kClasses; b++)
            if (g.edge(a, b).present && !graph_.edge(a, b).present) return true;
    return false;
}

std::optional<CrossRunLockOrder::Cycle> CrossRunLockOrder::merge(const LockOrder& g, int run) {
    for (size_t a = 1; a < LockOrder::kClasses; a++) {
        for (size_t b = 1; b < LockOrder::kClasses; b++) {
            const LockOrder::Edge& e = g.edge(a, b);
            if (!e.present || graph_.edge(a, b).present) continue;
            std::vector<size_t> path;
            if (graph_.reaches(b, a, &path)) {
                Cycle c;
                c.at = e.taken_at;
                c.report = fmt::format(
                               "possible circular locking dependency across runs: this run takes {} at {}:{} while "
                               "holding {} (taken at {}:{}), and other runs took the opposite order:",
                               class_name(b), e.taken_at.file, e.taken_at.line, class_name(a), e.held_at.file,
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
