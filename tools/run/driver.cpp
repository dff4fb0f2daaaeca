// z3fold-harden: z3fh-run's commands.
#include "run/driver.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define Z3FH_HAVE_SANITIZER_HEAP 1
#include <sanitizer/allocator_interface.h>
#endif
#endif

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <nlohmann/json.hpp>
#include <regex>

#include "finding_json.h"
#include "harness/runner.h"
#include "mutants.h"
#include "mutate/mutator.h"
#include "program/env_knobs.h"

namespace z3fh::run {

using fuzz::Op;
using fuzz::OpKind;
using fuzz::Program;
using fuzz::ScheduleKind;

bool select_mutant(const std::string& name) {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    return mutants::select(name.c_str());
#else
    return name.empty() || name == "none";
#endif
}

namespace {

// A file's bytes, or false after one line saying why (missing, a folder,
// too large, unreadable, empty).
bool read_input_file(const std::string& path, std::vector<uint8_t>* bytes) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        std::fprintf(stderr, "z3fh: %s: %s\n", path.c_str(), std::strerror(errno));
        return false;
    }
    if (S_ISDIR(st.st_mode)) {
        std::fprintf(stderr, "z3fh: %s: is a directory, not an input file\n", path.c_str());
        return false;
    }
    if (st.st_size > 1 << 20) {
        std::fprintf(stderr, "z3fh: %s: %lld bytes is larger than any program (1 MiB limit)\n", path.c_str(),
                     static_cast<long long>(st.st_size));
        return false;
    }
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "z3fh: %s: cannot be read\n", path.c_str());
        return false;
    }
    bytes->assign(std::istreambuf_iterator<char>(f), {});
    if (bytes->empty()) {
        std::fprintf(stderr, "z3fh: %s: empty file\n", path.c_str());
        return false;
    }
    return true;
}

// An encoded program to a file; false after saying why.
}  // namespace

bool write_program(const std::string& path, const Program& p) {
    std::vector<uint8_t> enc = fuzz::encode(p);
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(enc.data()), static_cast<long>(enc.size()));
    if (!f) std::fprintf(stderr, "z3fh: cannot write %s\n", path.c_str());
    return static_cast<bool>(f);
}

// The folder a path names a file in ("." for a bare name).
namespace {

std::string dir_of(const std::string& path) {
    return path.find('/') == std::string::npos ? "." : path.substr(0, path.find_last_of('/'));
}

}  // namespace

bool load_input(const std::string& path, Program* prog, std::vector<uint8_t>* bytes) {
    if (!read_input_file(path, bytes)) return false;
    std::string why;
    fuzz::DecodeError e = fuzz::decode_strict(bytes->data(), bytes->size(), prog, &why);
    if (e != fuzz::DecodeError::ok) {
        std::fprintf(stderr, "z3fh: %s: %s: %s\n", path.c_str(), fuzz::decode_error_name(e), why.c_str());
        return false;
    }
    // A campaign run with --strategy pct|random ran every input that way; its
    // sidecar says so and `z3fh` passes it on here.
    const char* strategy = fuzz::env_value(fuzz::EnvKnob::strategy);
    if (strategy && !fuzz::force_schedule_kind(*prog, strategy)) {
        std::fprintf(stderr, "z3fh: Z3FH_STRATEGY=%s: not input, pct or random\n", strategy);
        return false;
    }
    // A campaign run with --user zswap|zpool ran every input with that user.
    if (const char* user = fuzz::env_value(fuzz::EnvKnob::user)) {
        fuzz::UserKind u;
        bool any;
        if (!fuzz::parse_user_kind(user, &u, &any)) {
            std::fprintf(stderr, "z3fh: Z3FH_USER=%s: not any, zswap, zpool or zram\n", user);
            return false;
        }
        if (!any) prog->user = u;
    }
    return true;
}

// The harness's own finding: the JSON line its printer ends with
// (checks/finding.h); the last one, should a run print more than one.
std::string own_finding_signature(const std::string& out) {
    return finding_json_field(out, kFindingJsonMarker, "signature");
}

// A sanitizer's report is text by nature: read from its own first lines.
std::string sanitizer_signature(const std::string& out) {
    std::smatch m;
    static const std::regex asan(
        R"((?:ERROR|WARNING): (AddressSanitizer|ThreadSanitizer|LeakSanitizer): ([a-zA-Z-]+(?: race)?))");
    static const std::regex frame(R"(#[0-9]+ 0x[0-9a-f]+ in (z3fh::[A-Za-z_:]+)[^\n]*/allocator/)");
    // .c: the kernel target's z3fold.c.
    static const std::regex ubsan(R"(([a-z0-9_]+\.(?:cpp|h|c)):[0-9]+:[0-9]+: runtime error: ([^\n]*))");
    if (std::regex_search(out, m, asan)) {
        // TSan warns ("WARNING: ThreadSanitizer: data race"): its findings
        // say so, since only a TSan tree reproduces them.
        std::string kind = std::regex_replace(m[2].str(), std::regex(" "), "-");
        std::string sig = (m[1] == "ThreadSanitizer" ? "tsan:" : "sanitizer:") + kind;
        // The allocator frame nearest the access: only the access's stack,
        // not where the memory was allocated or freed (an overflow in the
        // harness's write is not alloc_page's).
        std::string access = out.substr(static_cast<size_t>(m.position(0)));
        for (const char* tail : {"is located", "freed by thread", "allocated by thread"})
            access = access.substr(0, access.find(tail));
        std::smatch f;
        if (std::regex_search(access, f, frame)) sig += "@" + f[1].str();
        return sig;
    }
    if (std::regex_search(out, m, ubsan)) return "ubsan@" + m[1].str();
    return "";
}

std::string signature_of(const std::string& out) {
    std::string sig = own_finding_signature(out);
    if (sig.empty()) sig = sanitizer_signature(out);
    if (!sig.empty()) return sig;
    return out.find("deadly signal") != std::string::npos || !out.empty() ? "crash" : "";
}

nlohmann::json signature_fields(const std::string& sig) {
    nlohmann::json f = {{"signature", sig}, {"kind", ""}, {"invariant", ""}, {"where", ""}};
    if (sig.empty()) return f;
    const size_t colon = sig.find(':'), at = sig.find('@');
    std::string kind = sig.substr(0, std::min(colon, at));
    if (kind == "invariant") f["invariant"] = sig.substr(colon + 1);
    if (at != std::string::npos) f["where"] = sig.substr(at + 1);
    f["kind"] = kind;
    return f;
}

nlohmann::json diagram_lines(const std::string& child_output) {
    static const std::string begin = "==z3fold== interleaving (a column a thread):\n", end = "==z3fold== end of interleaving";
    nlohmann::json lines = nlohmann::json::array();
    size_t at = child_output.find(begin);
    if (at == std::string::npos) return lines;
    at += begin.size();
    const size_t stop = child_output.find(end, at);
    for (size_t nl; at < stop && (nl = child_output.find('\n', at)) != std::string::npos && nl <= stop; at = nl + 1)
        lines.push_back(child_output.substr(at, nl - at));
    return lines;
}

void print_result(const nlohmann::json& result) {
    std::fflush(stdout);
    std::printf("%s\n", result.dump().c_str());
    std::fflush(stdout);
}

namespace {
std::vector<Program> g_witnesses;
sched::Schedule g_schedule;      // use_schedule
bool g_use_schedule = false;
std::string g_record_schedule;   // record_schedule_to
constexpr int kStaleExit = 3;    // the child's exit status for a stale schedule
}  // namespace

bool use_schedule(const std::string& path) {
    std::vector<uint8_t> raw;
    if (!read_input_file(path, &raw)) return false;
    std::string why;
    if (!sched::Schedule::deserialize(raw.data(), raw.size(), &g_schedule, &why)) {
        std::fprintf(stderr, "z3fh: %s: not a recorded schedule: %s\n", path.c_str(), why.c_str());
        return false;
    }
    g_use_schedule = true;
    return true;
}

void record_schedule_to(const std::string& path) { g_record_schedule = path; }

bool load_witnesses(const std::string& input, const Program& prog, const std::vector<std::string>& explicit_files) {
    std::vector<std::string> files = explicit_files;
    const std::string dir = dir_of(input);
    for (int k = 0;; k++) {
        std::string f = dir + "/" + fuzz::witness_file_name(prog, k);
        if (access(f.c_str(), F_OK) != 0) break;
        files.push_back(f);
    }
    for (const std::string& f : files) {
        Program w;
        std::vector<uint8_t> bytes;
        if (!load_input(f, &w, &bytes)) return false;
        g_witnesses.push_back(w);
    }
    if (!files.empty()) std::printf("with %zu potential-deadlock witness run(s) first\n", files.size());
    return true;
}

const std::vector<Program>& loaded_witnesses() { return g_witnesses; }

void save_witnesses_for(const Program& prog, const std::string& out) {
    for (size_t k = 0; k < g_witnesses.size(); k++)
        (void)write_program(dir_of(out) + "/" + fuzz::witness_file_name(prog, static_cast<int>(k)), g_witnesses[k]);
}

ChildResult run_child(const Program& prog) {
    ChildResult r;
    int fds[2];
    if (pipe(fds) != 0) return r;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        setenv("Z3FH_TRACE_TAIL", "1000000", 1);
        fuzz::RunConfig cfg;
        cfg.trace_ring = 0;
        cfg.sanitizer_death_callback = true;  // no libFuzzer here
        // As in the fuzzing process: the lock-order graph spans runs (the
        // witnesses', if any, then this one).
        cfg.cross_run_lockdep = true;
        cfg.known_findings = fuzz::known_findings_from_env();  // as the fuzzing process ran it
        if (g_use_schedule) {
            cfg.strategy = "replay";
            cfg.replay = &g_schedule;
            cfg.abort_on_finding = true;  // a stale schedule returns; a finding still aborts
        }
        fuzz::run_witnesses_first(g_witnesses);
        if (!g_record_schedule.empty()) {
            // The decisions are known only once the run ends; a finding ends
            // it in the fatal hook, so they are written from there too.
            fuzz::record_schedule_on_exit(g_record_schedule);
        }
        fuzz::Outcome o = fuzz::run_program(prog, cfg);
        if (o.status == sched::RunStatus::stale_schedule) {
            std::fprintf(stderr, "==z3fold== STALE SCHEDULE: %s\n", o.message.c_str());
            std::fflush(stderr);
            _exit(kStaleExit);
        }
        std::fflush(stderr);
        _exit(o.found ? 1 : 0);
    }
    close(fds[1]);
    char buf[65536];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    r.stale = WIFEXITED(status) && WEXITSTATUS(status) == kStaleExit;
    if (r.stale) return r;
    r.found = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (r.found) r.signature = signature_of(r.output);
    return r;
}

int cmd_replay(const std::string& file, int runs) {
    Program prog;
    std::vector<uint8_t> bytes;
    if (!load_input(file, &prog, &bytes)) return 2;
    int reproduced = 0;
    std::string first_sig, first_output;
    bool inconsistent = false;
    for (int i = 0; i < runs; i++) {
        ChildResult r = run_child(prog);
        if (i == 0) first_output = r.output;
        if (r.stale) {
            std::printf("%s", r.output.c_str());
            std::printf("schedule stale: the recorded decisions no longer fit this build (the allocator or the "
                        "harness changed since it was recorded); replay without --schedule runs the input's own "
                        "schedule bytes\nreproduced 0/%d\n", runs);
            nlohmann::json result = signature_fields("");
            result.update({{"z3fh_run", "replay"}, {"input", file}, {"reproduced", 0}, {"runs", runs}, {"flaky", false},
                           {"stale_schedule", true}, {"user", fuzz::user_kind_name(prog.user)}});
            print_result(result);
            return 0;
        }
        if (!r.found) continue;
        reproduced++;
        if (first_sig.empty()) first_sig = r.signature;
        else if (r.signature != first_sig) inconsistent = true;
    }
    if (first_output.empty()) std::printf("%s", fuzz::to_text(prog).c_str());
    std::printf("%s", first_output.c_str());
    if (reproduced) std::printf("signature: %s\n", first_sig.c_str());
    std::printf("reproduced %d/%d%s\n", reproduced, runs,
                reproduced > 0 && reproduced < runs ? " FLAKY (a deterministic replay must not be: report this)" : "");
    if (inconsistent) std::printf("FLAKY: the failure signature changed between replays\n");
    nlohmann::json result = signature_fields(first_sig);
    result.update({{"z3fh_run", "replay"}, {"input", file}, {"reproduced", reproduced}, {"runs", runs},
                   {"flaky", (reproduced > 0 && reproduced < runs) || inconsistent}, {"stale_schedule", false},
                   {"user", fuzz::user_kind_name(prog.user)}, {"diagram", diagram_lines(first_output)}});
    print_result(result);
    return reproduced > 0 ? 1 : 0;
}

namespace {

// A candidate is kept if it still fails with the same signature.
bool still_fails(const Program& p, const std::string& sig, int* runs) {
    (*runs)++;
    ChildResult r = run_child(p);
    return r.found && r.signature == sig;
}

Program drop_thread(const Program& p, int t) {
    Program q = p;
    q.ops.clear();
    for (Op op : p.ops) {
        if (op.thread == t) continue;
        if (op.thread > t) op.thread--;
        q.ops.push_back(op);
    }
    q.threads = p.threads - 1;
    return q;
}

}  // namespace

// Preemptions a schedule asks for: one per pair, or PCT's change points.
size_t preemptions(const Program& p) {
    if (p.schedule_kind == ScheduleKind::pct) return static_cast<size_t>(p.pct_params().depth - 1);
    return p.schedule.size() / 2;
}

// Delta debugging over threads, operations and schedule pairs; then
// smaller delays. Every step keeps the failure signature.
Program minimize(const Program& start, const std::string& sig, int* runs) {
    Program best = start;
    bool progress = true;
    while (progress) {
        progress = false;
        for (int t = best.threads - 1; t >= 0 && best.threads > 1; t--) {
            Program c = drop_thread(best, t);
            if (still_fails(c, sig, runs)) {
                best = c;
                progress = true;
            }
        }
        // Remove chunks of operations, halving the chunk size (ddmin).
        for (size_t chunk = std::max<size_t>(best.ops.size() / 2, 1); chunk >= 1; chunk /= 2) {
            for (size_t i = 0; i < best.ops.size();) {
                Program c = best;
                c.ops.erase(c.ops.begin() + static_cast<long>(i),
                            c.ops.begin() + static_cast<long>(std::min(i + chunk, c.ops.size())));
                if (still_fails(c, sig, runs)) {
                    best = c;
                    progress = true;
                } else {
                    i += chunk;
                }
            }
            if (chunk == 1) break;
        }
        if (best.schedule_kind == ScheduleKind::pct) {
            // Fewer PCT change points (preemptions); then no preemption at all.
            while (!best.schedule.empty() && best.schedule[0] % 3 != 0) {
                Program c = best;
                c.schedule[0] = static_cast<uint8_t>(c.schedule[0] % 3 - 1);
                if (!still_fails(c, sig, runs)) break;
                best = c;
                progress = true;
            }
            Program c = best;
            c.schedule_kind = ScheduleKind::pairs;
            c.schedule.clear();
            if (still_fails(c, sig, runs)) {
                best = c;
                progress = true;
            }
            continue;
        }
        // Remove schedule pairs (preemptions), last first.
        for (size_t i = best.schedule.size() / 2; i-- > 0;) {
            Program c = best;
            c.schedule.erase(c.schedule.begin() + static_cast<long>(2 * i), c.schedule.begin() + static_cast<long>(2 * i + 2));
            if (still_fails(c, sig, runs)) {
                best = c;
                progress = true;
            }
        }
        if (best.schedule.size() % 2) {
            Program c = best;
            c.schedule.pop_back();
            if (still_fails(c, sig, runs)) best = c;
        }
    }
    return best;
}

int cmd_minimize(const std::string& file, const std::string& out) {
    Program prog;
    std::vector<uint8_t> bytes;
    if (!load_input(file, &prog, &bytes)) return 2;
    ChildResult base = run_child(prog);
    if (!base.found) {
        std::fprintf(stderr, "z3fh: %s does not fail in this build: nothing to minimise\n", file.c_str());
        return 2;
    }
    int runs = 0;
    Program small = minimize(prog, base.signature, &runs);
    if (!write_program(out, small)) return 2;
    save_witnesses_for(small, out);
    std::printf("signature: %s\n", base.signature.c_str());
    std::printf("before: %zu ops, %d threads, %zu preemptions, %zu bytes\n", prog.ops.size(), prog.threads,
                preemptions(prog), bytes.size());
    std::printf("after:  %zu ops, %d threads, %zu preemptions, %zu bytes (%d candidate runs)\n", small.ops.size(),
                small.threads, preemptions(small), fuzz::encode(small).size(), runs);
    nlohmann::json result = signature_fields(base.signature);
    result.update({{"z3fh_run", "minimize"}, {"input", file}, {"output", out}, {"candidate_runs", runs},
                   {"ops_before", prog.ops.size()}, {"ops_after", small.ops.size()},
                   {"threads_before", prog.threads}, {"threads_after", small.threads}});
    print_result(result);
    return 0;
}

namespace {
// This process's CPU time, in seconds.
double cpu_now() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Runs the programs until the sanitizer's heap stops growing: a fuzzing
// process runs hundreds of thousands of inputs, and its first ones pay for
// filling ASan's quarantine (64 MiB of never-touched memory, a page fault
// every 4 KiB), which a few thousand timed runs would count as the
// harness's cost. Steady state: a window (whole passes, at least 2 000 runs
// or a CPU second) in which the heap did not grow. Bounded at 20 CPU
// seconds, for slow targets (a kernel file under TSan runs ~40 a second).
// Returns the runs it made (0 without a sanitizer's allocator).
uint64_t warm_to_steady_state(const std::vector<Program>& progs, const fuzz::RunConfig& cfg) {
#if defined(Z3FH_HAVE_SANITIZER_HEAP)
    if (progs.empty()) return 0;
    constexpr uint64_t kWindowRuns = 2000;
    constexpr double kWindowCpuS = 1, kMaxCpuS = 20;
    const double start = cpu_now();
    uint64_t runs = 0;
    for (;;) {
        const size_t heap_before = __sanitizer_get_heap_size();
        const double window_start = cpu_now();
        uint64_t window = 0;
        do {
            for (const Program& p : progs) (void)fuzz::run_program(p, cfg);
            window += progs.size();
        } while (window < kWindowRuns && cpu_now() - window_start < kWindowCpuS);
        runs += window;
        if (__sanitizer_get_heap_size() <= heap_before || cpu_now() - start > kMaxCpuS) return runs;
    }
#else
    (void)progs;
    (void)cfg;
    return 0;
#endif
}
}  // namespace

int cmd_time(const std::vector<std::string>& files, int repeat) {
    // As the fuzz target runs an input (its RunConfig, Z3FH_CHECKS_OFF), with
    // no file reading or engine between runs: the harness's own cost.
    fuzz::RunConfig cfg;
    cfg.cross_run_lockdep = true;
    cfg.abort_on_finding = false;  // a corpus program that fails in this build is timed too (the engine runs it)
    cfg.known_findings = fuzz::known_findings_from_env();
    if (const char* off = fuzz::env_value(fuzz::EnvKnob::checks_off)) {
        std::string error = fuzz::turn_checks_off(off, &cfg);
        if (!error.empty()) {
            std::fprintf(stderr, "z3fh-run: Z3FH_CHECKS_OFF: %s\n", error.c_str());
            return 2;
        }
    }
    // Decoded as the fuzz target decodes (leniently): a campaign's corpus
    // holds engine-written bytes the strict replay tools would refuse.
    std::vector<Program> progs;
    for (const std::string& f : files) {
        std::vector<uint8_t> bytes;
        if (!read_input_file(f, &bytes)) return 2;
        Program p;
        if (fuzz::decode_lenient(bytes.data(), bytes.size(), &p)) progs.push_back(p);
    }
    uint64_t steps = 0, known = 0;
    nlohmann::json depth = nlohmann::json::object();  // the depth counters, summed over the programs
    fuzz::RunConfig counting = cfg;  // the counters are read in this pass, not in the timed runs
    counting.depth_counters = true;
    for (const Program& p : progs) {  // warm, and count
        const fuzz::Outcome o = fuzz::run_program(p, counting);
        steps += o.steps;
        known += o.known ? 1 : 0;
        for (const auto& [name, n] : o.depth) depth[name] = depth.value(name, uint64_t{0}) + n;
    }
    const uint64_t warm_runs = warm_to_steady_state(progs, cfg);
    const double t0 = cpu_now();
    for (int r = 0; r < repeat; r++)
        for (const Program& p : progs) (void)fuzz::run_program(p, cfg);
    const double cpu = cpu_now() - t0;
    const double runs = static_cast<double>(progs.size()) * repeat;
    nlohmann::json result = {{"programs", progs.size()},
                             {"runs", runs},
                             {"cpu_s", cpu},
                             {"execs_per_cpu_s", cpu > 0 ? runs / cpu : 0.0},
                             {"mean_steps", progs.empty() ? 0.0 : static_cast<double>(steps) / static_cast<double>(progs.size())},
                             {"depth", depth},
                             {"warm_runs", warm_runs},
                             {"known_findings", known}};  // programs ending in one of Z3FH_KNOWN_FINDINGS
    std::printf("%s\n", result.dump().c_str());
    return 0;
}

int cmd_canonical(const std::string& file, const std::string& out) {
    std::vector<uint8_t> raw;
    if (!read_input_file(file, &raw)) return 2;
    Program p;
    if (!fuzz::decode_lenient(raw.data(), raw.size(), &p)) {
        std::fprintf(stderr, "z3fh: %s: not a z3fh program (bad magic or version)\n", file.c_str());
        return 2;
    }
    // The fuzz target runs what decode_lenient makes of the bytes, so the
    // re-encoded program runs the same, step for step.
    return write_program(out, p) ? 0 : 2;
}

int cmd_list_mutants() {
#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
    size_t n = 0;
    const mutants::MutantInfo* m = mutants::catalogue(&n);
    for (size_t i = 0; i < n; i++) std::printf("%s\t%s\t%s\n", m[i].name, m[i].cls, m[i].description);
    return 0;
#else
    std::fprintf(stderr, "z3fh: this build has no mutants (configure with -DZ3FH_MUTANTS=ON)\n");
    return 2;
#endif
}

}  // namespace z3fh::run
