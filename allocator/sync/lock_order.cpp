// z3fold-harden: the lock-order graph.
#include "sync/lock_order.h"

#include <fmt/format.h>

namespace z3fh::sync {

const LockOrder::Edge LockOrder::kNoEdge{};

void LockOrder::reset() { present_ = {}; }

// Depth-first search over the class graph; the path from `from` to `to`.
// Each class is pushed at most once, so the stack never holds more than
// kClasses entries.
bool LockOrder::reaches(size_t from, size_t to, std::vector<size_t>* path) const {
    std::array<size_t, kClasses> stack{};
    size_t depth = 0;
    uint32_t seen = 1u << from;
    std::array<size_t, kClasses> parent{};
    parent.fill(kClasses);
    stack[depth++] = from;
    while (depth > 0) {
        size_t c = stack[--depth];
        if (c == to) {
            path->clear();
            for (size_t x = to; x != kClasses; x = parent[x]) path->insert(path->begin(), x);
            return true;
        }
        for (uint32_t next = present_[c] & ~seen; next != 0; next &= next - 1) {
            const auto n = static_cast<size_t>(__builtin_ctz(next));
            seen |= 1u << n;
            parent[n] = c;
            stack[depth++] = n;
        }
    }
    return false;
}

std::string lock_class_name(size_t c) { return obj_class_name(static_cast<ObjClass>(c)); }

// The recorded edges along `path`, each with who took it (a thread, or a
// run for the cross-run graph) and where.
std::string LockOrder::path_text(const std::vector<size_t>& path, bool by_run) const {
    std::string out;
    for (size_t i = 0; i + 1 < path.size(); i++) {
        const Edge& e = edge(path[i], path[i + 1]);
        out += fmt::format(" {}{} took {} at {}:{} holding {} (taken at {}:{});", by_run ? "run " : "T",
                           by_run ? e.run : e.thread, lock_class_name(path[i + 1]), e.taken_at.file, e.taken_at.line,
                           lock_class_name(path[i]), e.held_at.file, e.held_at.line);
    }
    return out;
}

std::optional<std::string> LockOrder::acquired(int thread, const std::vector<Held>& held, ObjectId obj,
                                               SrcLoc loc, bool trylock) {
    if (trylock) return std::nullopt;
    const size_t b = static_cast<size_t>(obj.cls);
    if (b == 0 || b >= kClasses) return std::nullopt;
    for (const Held& h : held) {
        const size_t a = static_cast<size_t>(h.obj.cls);
        if (a == 0 || a >= kClasses || a == b || has(a, b)) continue;
        std::vector<size_t> path;
        if (reaches(b, a, &path))
            return fmt::format(
                       "possible circular locking dependency: T{} takes {} {} at {}:{} while holding {} {} (taken at "
                       "{}:{}), but the opposite order was seen:",
                       thread, lock_class_name(b), obj.serial, loc.file, loc.line, lock_class_name(a), h.obj.serial, h.loc.file,
                       h.loc.line) +
                   path_text(path, false);
        add(a, b, Edge{true, h.loc, loc, thread});
    }
    return std::nullopt;
}

std::string might_sleep_message(const char* what, size_t held_count, ObjectId innermost, SrcLoc taken_at) {
    return fmt::format("BUG: sleeping function called from invalid context: {} with {} spinning lock(s) held, innermost "
                       "{} {} (taken at {}:{})",
                       what, held_count, obj_class_name(innermost.cls), innermost.serial, taken_at.file, taken_at.line);
}

}  // namespace z3fh::sync
