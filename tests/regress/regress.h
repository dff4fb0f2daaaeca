// z3fold-harden: what every exported regression test shares. An exported
// test spells its program and then says Z3FH_REGRESSION(Name, "mutant",
// "signature"): on the correct allocator the program runs clean; in a mutant
// build, with the mutant it was found on, it must fail with that signature
// (a death test whose expected output is the signature's, not any error).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "harness/runner.h"
#include "mutants.h"

namespace z3fh::regress {

// A potential-deadlock finding's witnesses run first, in this process, with
// the lock-order graph kept across runs (as the fuzzing process kept it).
inline fuzz::Outcome run(const fuzz::Program& p, bool abort_on_finding,
                         const std::vector<fuzz::Program>& witnesses = {}) {
    fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    if (!witnesses.empty()) {
        cfg.cross_run_lockdep = true;
        fuzz::run_witnesses_first(witnesses);
    }
    return fuzz::run_program(p, cfg);
}

inline void expect_clean(const fuzz::Program& p, const std::vector<fuzz::Program>& witnesses = {}) {
    fuzz::Outcome o = run(p, false, witnesses);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

}  // namespace z3fh::regress

// A finding only a sanitizer reports (an out-of-bounds read, a null member
// access) can fail only in a tree built with that sanitizer: `needs` names it
// ("asan", "ubsan", "tsan"; "" for the harness's own checks). The ASan tree
// carries UBSan too.
#ifndef Z3FH_TREE_SANITIZER
#define Z3FH_TREE_SANITIZER ""
#endif
namespace z3fh::regress {
inline bool tree_sees(const std::string& needs) {
    const std::string tree = Z3FH_TREE_SANITIZER;
    if (needs.empty()) return true;
    if (needs == "ubsan") return tree == "asan" || tree == "ubsan";
    return tree == needs;
}
// What the dying run must print for a signature (docs/report-schema.md):
// its kind, invariant id, sanitizer bug type and frame, or check and file.
// A check's line is not pinned: an edit of the allocator moves it, and the
// kind and file already say which check fired where.
inline std::string signature_regex(const std::string& sig) {
    auto quoted = [](const std::string& s) {
        std::string out;
        for (char c : s) {
            if (std::string(".[]()*+?^$|\\{}").find(c) != std::string::npos) out += '\\';
            out += c;
        }
        return out;
    };
    if (sig.empty()) return "ERROR|runtime error";  // found on the allocator itself: the test is skipped
    const size_t at = sig.find('@');
    if (sig.rfind("sanitizer:", 0) == 0) {
        // The frame must be on the access's own stack: the frames right
        // after the report's first two lines, not where it was allocated or freed.
        const std::string kind = sig.substr(10, at == std::string::npos ? std::string::npos : at - 10);
        if (at == std::string::npos) return "Sanitizer: " + quoted(kind);
        return "Sanitizer: " + quoted(kind) + "[^\n]*\n[^\n]*\n(    #[^\n]*\n)*    #[0-9]+ 0x[0-9a-f]+ in " +
               quoted(sig.substr(at + 1)) + "[( ]";
    }
    if (sig.rfind("tsan:", 0) == 0) {
        // "tsan:data-race" is TSan's "data race".
        std::string kind;
        for (char c : sig.substr(5, at == std::string::npos ? std::string::npos : at - 5)) kind += c == '-' ? "[ -]" : quoted(std::string(1, c));
        return "ThreadSanitizer: " + kind;
    }
    if (sig.rfind("ubsan@", 0) == 0) return "/" + quoted(sig.substr(6)) + ":[0-9]+:[0-9]+: runtime error";
    // The harness's own findings (invariants, checks, leaks, runs that end
    // wrong): the JSON line its printer ends with (checks/finding.h), the
    // signature exact but for a check's line number, which edits move.
    std::string exact = quoted(sig);
    const size_t colon = sig.rfind(':');
    if (at != std::string::npos && colon > at && colon + 1 < sig.size() &&
        sig.find_first_not_of("0123456789", colon + 1) == std::string::npos)
        exact = quoted(sig.substr(0, colon + 1)) + "[0-9]+";
    return "==z3fold== FINDING \\{\"signature\": \"" + exact + "\"";
}

}  // namespace z3fh::regress

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witness_list, needs, signature)               \
    TEST(RegressDeathTest, name##_FailsWithMutant) {                                            \
        if (std::string(mutant) == "none")                                                      \
            GTEST_SKIP() << "found on the allocator itself (fixed), not with a mutant";         \
        if (!z3fh::regress::tree_sees(needs))                                                   \
            GTEST_SKIP() << "only " needs " reports this finding; this tree is built without it"; \
        EXPECT_DEATH(                                                                           \
            {                                                                                   \
                z3fh::mutants::select(mutant);                                                  \
                (void)z3fh::regress::run(program(), true, witness_list); /* reports and aborts */ \
            },                                                                                  \
            z3fh::regress::signature_regex(signature));                                         \
    }
#else
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witness_list, needs, signature)
#endif

// A finding a sanitizer reports: the death test needs a tree built with it.
#define Z3FH_REGRESSION_UNDER(name, mutant, needs, signature)           \
    TEST(Regress, name) { z3fh::regress::expect_clean(program()); }     \
    Z3FH_REGRESSION_MUTANT_TEST(name, mutant, {}, needs, signature)

#define Z3FH_REGRESSION(name, mutant, signature) Z3FH_REGRESSION_UNDER(name, mutant, "", signature)

// A potential deadlock: the file also defines witnesses(), run first.
#define Z3FH_REGRESSION_WITH_WITNESSES(name, mutant, signature)                    \
    TEST(Regress, name) { z3fh::regress::expect_clean(program(), witnesses()); }   \
    Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witnesses(), "", signature)
