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

std::optional<std::string> LockOrder::acquired(int thread, const std::vector<Held>& held, sync::ObjectId obj,
                                               sync::SrcLoc loc, bool trylock) {
    if (trylock) return std::nullopt;
    const size_t b = static_cast<size_t>(obj.cls);
    if (b == 0 || b >= kClasses) return std::nullopt;
    for (const Held& h : held) {
        const size_t a = static_cast<size_t>(h.obj.cls);
        if (a == 0 || a >= kClasses || a == b || edges_[a][b].present) continue;
        std::vector<size_t> path;
        if (reaches(b, a, &path)) {
            auto name = [](size_t c) { return std::string(sync::obj_class_name(static_cast<sync::ObjClass>(c))); };
            std::string out = fmt::format(
                "possible circular locking dependency: T{} takes {} {} at {}:{} while holding {} {} (taken at {}:{}), "
                "but the opposite order was seen:",
                thread, name(b), obj.serial, loc.file, loc.line, name(a), h.obj.serial, h.loc.file, h.loc.line);
            for (size_t i = 0; i + 1 < path.size(); i++) {
                const Edge& e = edges_[path[i]][path[i + 1]];
                out += fmt::format(" T{} took {} at {}:{} holding {} (taken at {}:{});", e.thread, name(path[i + 1]),
                                   e.taken_at.file, e.taken_at.line, name(path[i]), e.held_at.file, e.held_at.line);
            }
            return out;
        }
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
    auto name = [](size_t c) { return std::string(sync::obj_class_name(static_cast<sync::ObjClass>(c))); };
    for (size_t a = 1; a < LockOrder::kClasses; a++) {
        for (size_t b = 1; b < LockOrder::kClasses; b++) {
            const LockOrder::Edge& e = g.edge(a, b);
            if (!e.present || graph_.edge(a, b).present) continue;
            std::vector<size_t> path;
            if (graph_.reaches(b, a, &path)) {
                Cycle c;
                c.at = e.taken_at;
                c.report = fmt::format(
                    "possible circular locking dependency across runs: this run takes {} at {}:{} while holding {} "
                    "(taken at {}:{}), and other runs took the opposite order:",
                    name(b), e.taken_at.file, e.taken_at.line, name(a), e.held_at.file, e.held_at.line);
                for (size_t i = 0; i + 1 < path.size(); i++) {
                    const LockOrder::Edge& o = graph_.edge(path[i], path[i + 1]);
                    c.report += fmt::format(" run {} took {} at {}:{} holding {} (taken at {}:{});", o.run,
                                            name(path[i + 1]), o.taken_at.file, o.taken_at.line, name(path[i]),
                                            o.held_at.file, o.held_at.line);
                    if (std::find(c.runs.begin(), c.runs.end(), o.run) == c.runs.end()) c.runs.push_back(o.run);
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
