// z3fold-harden: what every exported regression test shares. An exported
// test spells its program and then says Z3FH_REGRESSION(Name, "mutant"):
// on the correct allocator the program runs clean; in a mutant build, with
// the mutant it was found on, it must fail (a death test).
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
}  // namespace z3fh::regress

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witness_list, needs)                          \
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
            "ERROR|runtime error");                                                             \
    }
#else
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witness_list, needs)
#endif

// A finding a sanitizer reports: the death test needs a tree built with it.
#define Z3FH_REGRESSION_UNDER(name, mutant, needs)                      \
    TEST(Regress, name) { z3fh::regress::expect_clean(program()); }     \
    Z3FH_REGRESSION_MUTANT_TEST(name, mutant, {}, needs)

#define Z3FH_REGRESSION(name, mutant) Z3FH_REGRESSION_UNDER(name, mutant, "")

// A potential deadlock: the file also defines witnesses(), run first.
#define Z3FH_REGRESSION_WITH_WITNESSES(name, mutant)                               \
    TEST(Regress, name) { z3fh::regress::expect_clean(program(), witnesses()); }   \
    Z3FH_REGRESSION_MUTANT_TEST(name, mutant, witnesses(), "")
