// z3fold-harden: the interleaving diagram (diagram.h).
#include "harness/diagram.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <cstring>
#include <map>
#include <set>

namespace z3fh::fuzz {

namespace {

using sync::Event;
using sync::ObjClass;

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string squeeze(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += c;
        }
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '{' || out.back() == ';')) out.pop_back();
    return out;
}

// The calls on a line, outermost first (`name(args)`, balanced, with the
// object they are called on).
std::vector<std::string> calls_on(const std::string& line) {
    static const std::set<std::string> keywords = {"if", "while", "for", "switch", "return", "sizeof", "else"};
    std::vector<std::string> calls;
    for (size_t i = 0; i < line.size();) {
        if (!ident_char(line[i]) || (i > 0 && ident_char(line[i - 1]))) {
            i++;
            continue;
        }
        size_t end = i;
        while (end < line.size() && ident_char(line[end])) end++;
        size_t paren = end;
        while (paren < line.size() && line[paren] == ' ') paren++;
        const std::string name = line.substr(i, end - i);
        if (paren < line.size() && line[paren] == '(' && !keywords.count(name) &&
            !std::isdigit(static_cast<unsigned char>(name[0]))) {
            size_t from = i;
            // With the object it is called on: czhdr->page_lock.try_lock().
            while (from > 0 && (ident_char(line[from - 1]) || line[from - 1] == '.' ||
                                (line[from - 1] == '>' && from > 1 && line[from - 2] == '-') ||
                                (line[from - 1] == '-' && line[from] == '>')))
                from--;
            int depth = 0;
            size_t j = paren;
            for (; j < line.size(); j++) {
                if (line[j] == '(') depth++;
                if (line[j] == ')' && --depth == 0) break;
            }
            calls.push_back(squeeze(line.substr(from, j < line.size() ? j + 1 - from : std::string::npos)) +
                            (j < line.size() ? "" : "...)"));
        }
        i = end;
    }
    return calls;
}

// The call on the line that made this event: the one whose name says so
// (a line can test one bit and set another), else the first.
std::string call_for(sync::Event e, const std::string& line) {
    std::vector<std::string> calls = calls_on(line);
    if (calls.empty()) return squeeze(line);
    std::vector<const char*> want;
    switch (e) {
    case sync::Event::bit_set: want = {"set_bit", ".set("}; break;
    case sync::Event::bit_clear: want = {"clear_bit", ".clear("}; break;
    case sync::Event::bit_test_and_set: want = {"test_and_set"}; break;
    case sync::Event::bit_test_and_clear: want = {"test_and_clear"}; break;
    case sync::Event::bit_test: want = {"test_bit", ".test("}; break;
    case sync::Event::trylock: want = {"trylock", "try_lock"}; break;
    case sync::Event::unlock: case sync::Event::read_unlock: case sync::Event::write_unlock: want = {"unlock"}; break;
    case sync::Event::lock: case sync::Event::read_lock: case sync::Event::write_lock: want = {"lock"}; break;
    case sync::Event::work_queue: want = {"queue"}; break;
    case sync::Event::work_cancel: want = {"cancel"}; break;
    case sync::Event::atomic_rmw: want = {"kref", "put", "get", "inc", "dec"}; break;
    default: break;
    }
    for (const char* w : want)
        for (const std::string& c : calls) {
            const std::string name = c.substr(0, c.find('('));
            if (name.find(w) != std::string::npos || (w[0] == '.' && c.find(w) != std::string::npos)) return c;
        }
    return calls[0];
}

// Paths the compiler was given relative to the build folder (ninja's) are
// read from there.
const std::vector<std::string>& source_lines(const std::string& path) {
    static std::map<std::string, std::vector<std::string>> cache;
    auto it = cache.find(path);
    if (it != cache.end()) return it->second;
    std::vector<std::string>& lines = cache[path];
#ifdef Z3FH_BUILD_DIR
    std::ifstream f(path.starts_with("/") ? path : std::string(Z3FH_BUILD_DIR) + "/" + path);
#else
    std::ifstream f(path);
#endif
    for (std::string l; std::getline(f, l);) lines.push_back(l);
    return lines;
}

bool page_class(ObjClass c) {
    return c == ObjClass::page_lock || c == ObjClass::page_mutex || c == ObjClass::refcount ||
           c == ObjClass::page_flags || c == ObjClass::page_refs;
}

bool bit_change(Event e) {
    return e == Event::bit_set || e == Event::bit_clear || e == Event::bit_test_and_set || e == Event::bit_test_and_clear;
}

bool lock_event(Event e) {
    return e == Event::lock || e == Event::unlock || e == Event::trylock || e == Event::read_lock ||
           e == Event::read_unlock || e == Event::write_lock || e == Event::write_unlock;
}

struct Item {
    int thread = 0;
    int prio = 0;         // 0: always shown; larger: dropped first
    std::string function; // "" for operations and marks
    std::string text;
    int line = 0;
    std::string file;  // the source file's name (its line is that file's)
    Event event = Event::yield;
    uint32_t serial = 0;
    int repeats = 1;
    bool page = false;  // an event on a page's state: tagged [pN] when the diagram shows several pages
    std::string prefix; // its line (and page), kept whole when the text is fitted
};

// An operation, a mark, or (with its function set) a step.
Item mark(int thread, int prio, std::string text) {
    Item it;
    it.thread = thread;
    it.prio = prio;
    it.text = std::move(text);
    return it;
}

// The pages the finding is about: the one it names, and those its thread
// touched last.
std::set<uint32_t> pages_of_interest(const DiagramInput& in, int failing_thread) {
    std::set<uint32_t> pages;
    if (in.page) pages.insert(in.page);
    int seen = 0;
    for (auto it = in.events.rbegin(); it != in.events.rend() && seen < 6; ++it)
        if (it->thread == failing_thread && page_class(it->cls)) {
            pages.insert(it->serial);
            seen++;
        }
    return pages;
}

int priority(const sched::TraceEvent& e, bool interest) {
    if ((bit_change(e.event) || (e.event == Event::atomic_rmw && e.cls == ObjClass::refcount)) && page_class(e.cls))
        return interest ? 1 : 2;
    if (e.event == Event::work_queue || e.event == Event::work_cancel) return 2;
    if (page_class(e.cls) && (lock_event(e.event) || e.event == Event::atomic_rmw || e.event == Event::bit_test))
        return interest ? 3 : 4;
    if (e.event == Event::object_access) return 3;
    return 5;
}

std::vector<Item> items_of(const DiagramInput& in, int failing_thread) {
    const std::set<uint32_t> interest = pages_of_interest(in, failing_thread);
    std::vector<Item> items;
    std::map<int, std::string> current_fn;  // a helper's events belong to the function that called it
    for (const sched::TraceEvent& e : in.events) {
        const int t = e.thread;
        if (e.event == Event::op_begin && e.cls == ObjClass::harness) {
            size_t pt = e.serial >> 8, k = e.serial & 0xff;
            std::string what = pt < in.ops.size() && k < in.ops[pt].size() ? op_text(in.ops[pt][k]) : "?";
            items.push_back(mark(t, 0, "[" + squeeze(what) + "]"));
            current_fn.erase(t);
            continue;
        }
        if (e.event == Event::work_begin) {
            items.push_back(mark(t, 0, "[work item runs]"));
            current_fn.erase(t);
            continue;
        }
        if (e.event == Event::cpu_move) {
            items.push_back(mark(t, 1, fmt::format("(now on CPU {})", e.serial)));
            continue;
        }
        SourceSite site = source_site(e.file, e.line);
        if (site.function.empty()) continue;
        if (!site.helper || !current_fn.count(t)) current_fn[t] = site.function;
        const bool interest_page = page_class(e.cls) && interest.count(e.serial);
        Item it = mark(t, priority(e, interest_page), call_for(e.event, site.statement));
        it.function = current_fn[t];
        it.page = page_class(e.cls);
        it.line = e.line;
        if (e.file) {
            const char* slash = std::strrchr(e.file, '/');
            it.file = slash ? slash + 1 : e.file;
        }
        it.event = e.event;
        it.serial = e.serial;
        items.push_back(it);
    }
    // Where the failing thread was when it fired: its last steps are shown
    // whatever they are (a lock of the pool, say).
    int last_steps = 0;
    for (auto it = items.rbegin(); it != items.rend() && last_steps < 2; ++it)
        if (it->thread == failing_thread && !it->function.empty()) {
            it->prio = std::min(it->prio, 1);
            last_steps++;
        }
    if (!in.events.empty()) items.push_back(mark(in.after_run ? -1 : failing_thread, 0, "!! " + in.finding));
    return items;
}

// Runs of one thread doing the same kind of thing to the same object in
// one function (a loop, an init sequence) become one line.
std::vector<Item> collapse(const std::vector<Item>& sel) {
    std::vector<Item> out;
    for (const Item& it : sel) {
        if (!out.empty() && it.prio > 0 && out.back().prio > 0 && out.back().thread == it.thread &&
            out.back().function == it.function && out.back().event == it.event && out.back().serial == it.serial &&
            !it.function.empty()) {
            out.back().repeats++;
            continue;
        }
        out.push_back(it);
    }
    std::set<uint32_t> pages;
    std::map<std::string, int> steps_in;  // file -> steps shown from it
    for (const Item& it : out) {
        if (it.page) pages.insert(it.serial);
        if (!it.function.empty()) steps_in[it.file]++;
    }
    // Lines are the file's the most steps come from (the code under test);
    // a step from another file (the harness's own mm core or adapter) says
    // which file its line is in.
    std::string main_file;
    for (const auto& [file, n] : steps_in)
        if (main_file.empty() || n > steps_in[main_file]) main_file = file;
    for (Item& it : out) {
        if (it.function.empty()) continue;
        const std::string line = it.file == main_file || it.file.empty() ? fmt::format("{}", it.line)
                                                                        : fmt::format("{}:{}", it.file, it.line);
        it.prefix = fmt::format("{} {}", line, it.page && pages.size() > 1 ? fmt::format("[p{}] ", it.serial) : "");
        if (it.repeats > 1) it.text += fmt::format(" (x{})", it.repeats);
    }
    return out;
}

// Fit text into `room` columns: a call keeps its first argument, then
// none; then it is cut.
std::string fit(const std::string& text, size_t room) {
    if (text.size() <= room) return text;
    const size_t open = text.find('('), comma = text.find(", "), close = text.rfind(')');
    if (open != std::string::npos && close != std::string::npos && comma < close) {
        std::string s = text.substr(0, comma) + ",..)" + text.substr(close + 1);
        if (s.size() <= room) return s;
        s = text.substr(0, open) + "(..)" + text.substr(close + 1);
        if (s.size() <= room) return s;
    }
    return text.substr(0, room > 3 ? room - 3 : 0) + "...";
}

std::vector<std::string> render(const std::vector<Item>& sel, const std::vector<int>& columns, int program_threads) {
    // Up to four columns, the last keeps 44 (a line holds one thread's
    // text, so an earlier column's may run over the later ones).
    const size_t n = std::max<size_t>(columns.size(), 1);
    const size_t width = n == 1 ? kDiagramMaxColumns : n <= 4 ? (kDiagramMaxColumns - 44) / (n - 1) : kDiagramMaxColumns / n;
    std::map<int, size_t> col;
    for (size_t i = 0; i < columns.size(); i++) col[columns[i]] = i;
    auto cell = [&](int thread, const std::string& text, const std::string& prefix = "") {
        size_t start = col[thread] * width;
        return std::string(start, ' ') + prefix + fit(text, kDiagramMaxColumns - start - prefix.size());
    };
    // One header line, no underline: a commit message line that starts
    // with "---" would end the message for git am.
    std::string head;
    for (int t : columns) {
        const std::string name = fit(t < program_threads ? fmt::format("T{}", t) : fmt::format("T{} work", t), width - 1);
        head += name + std::string(width - name.size(), ' ');
    }
    if (head.size() > kDiagramMaxColumns) head.resize(kDiagramMaxColumns);
    while (!head.empty() && head.back() == ' ') head.pop_back();
    std::vector<std::string> lines = {head};
    std::map<int, std::string> shown_fn;
    for (const Item& it : sel) {
        if (it.text.starts_with("!! ")) {
            // What fired, the full width: the line the reader looks for.
            const std::string who = it.thread < 0 ? "after every thread ended" : fmt::format("T{}", it.thread);
            lines.push_back(fit(fmt::format("!! {}: {}", who, it.text.substr(3)), kDiagramMaxColumns));
            continue;
        }
        if (!col.count(it.thread)) continue;
        if (it.function.empty()) {
            shown_fn.erase(it.thread);
            lines.push_back(cell(it.thread, it.text));
            continue;
        }
        if (shown_fn[it.thread] != it.function) {
            shown_fn[it.thread] = it.function;
            lines.push_back(cell(it.thread, it.function + "()"));
        }
        lines.push_back(cell(it.thread, it.text, " " + it.prefix));
    }
    return lines;
}

// The threads worth a column: those with a selected step besides their
// operations, and the one where the finding fired.
std::vector<int> columns_of(const std::vector<Item>& sel, int failing_thread) {
    std::set<int> cols = {failing_thread};
    for (const Item& it : sel)
        if (it.prio > 0) cols.insert(it.thread);
    if (cols.size() == 1)
        for (const Item& it : sel)
            if (it.thread >= 0) cols.insert(it.thread);  // -1: the mark of a finding after the run
    return {cols.begin(), cols.end()};
}

}  // namespace

SourceSite source_site(const char* file, int line) {
    SourceSite s;
    if (!file || line <= 0) return s;
    const std::string path = file;
    // The scheduler's own events (thread start and end, work dispatch) are
    // not the code under test.
    for (const char* own : {"/sched/", "/sync/controlled"})
        if (path.find(own) != std::string::npos) return s;
    const std::vector<std::string>& lines = source_lines(path);
    if (static_cast<size_t>(line) > lines.size()) return s;
    // A statement written over several lines: the trace names its last.
    std::string text = lines[static_cast<size_t>(line) - 1];
    for (size_t prev = static_cast<size_t>(line) - 1; prev-- > 0 && static_cast<size_t>(line) - prev <= 4;) {
        const std::string& p = lines[prev];
        const size_t last = p.find_last_not_of(" \t");
        if (last == std::string::npos || std::string(",(&|=").find(p[last]) == std::string::npos) break;
        text = p + " " + text;
    }
    s.statement = text;
    for (size_t i = static_cast<size_t>(line); i-- > 0;) {
        const std::string& l = lines[i];
        if (l.empty() || !(std::isalpha(static_cast<unsigned char>(l[0])) || l[0] == '_')) continue;
        size_t paren = l.find('(');
        const size_t last = l.find_last_not_of(" \t");
        // Not a prototype or a statement written at column 0.
        if (paren == std::string::npos || l[last] == ';') continue;
        size_t b = paren;
        while (b > 0 && (ident_char(l[b - 1]) || l[b - 1] == ':' || l[b - 1] == '~')) b--;
        s.function = l.substr(b, paren - b);
        s.helper = l.find("inline") != std::string::npos || path.ends_with(".h");
        break;
    }
    return s;
}

std::vector<std::string> interleaving_diagram(const DiagramInput& in) {
    if (in.events.empty()) return {};
    int failing_thread = in.events.back().thread;
    for (auto it = in.events.rbegin(); it != in.events.rend(); ++it)
        if (it->event != Event::thread_end && it->event != Event::thread_start) {
            failing_thread = it->thread;
            break;
        }
    const std::vector<Item> items = items_of(in, failing_thread);
    auto draw = [&](int level, size_t from) {
        std::vector<Item> sel;
        for (size_t i = from; i < items.size(); i++)
            if (items[i].prio <= level) sel.push_back(items[i]);
        sel = collapse(sel);
        std::vector<std::string> lines = render(sel, columns_of(sel, failing_thread), in.program_threads);
        if (from > 0) lines.insert(lines.begin() + 1, "...");
        return lines;
    };
    // The whole run in as much detail as fits; down to state changes only.
    for (int level = 5; level >= 1; level--) {
        std::vector<std::string> lines = draw(level, 0);
        if (lines.size() <= kDiagramMaxLines) return lines;
    }
    // Too long a run: its end, where it goes wrong, with the state changes.
    for (size_t from = 1; from < items.size(); from++) {
        std::vector<std::string> lines = draw(2, from);
        if (lines.size() <= kDiagramMaxLines) return lines;
    }
    return draw(0, items.size() - 1);
}

}  // namespace z3fh::fuzz
