// z3fold-harden: what every exported regression test shares. An exported
// test spells its program and then says Z3FH_REGRESSION(Name, "mutant"):
// on the correct allocator the program runs clean; in a mutant build, with
// the mutant it was found on, it must fail (a death test).
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "harness/runner.h"
#include "mutants.h"

namespace z3fh::regress {

inline fuzz::Outcome run(const fuzz::Program& p, bool abort_on_finding) {
    fuzz::RunConfig cfg;
    cfg.abort_on_finding = abort_on_finding;
    return fuzz::run_program(p, cfg);
}

inline void expect_clean(const fuzz::Program& p) {
    fuzz::Outcome o = run(p, false);
    EXPECT_FALSE(o.found) << o.kind << " " << o.invariant << ": " << o.message;
}

}  // namespace z3fh::regress

#if defined(Z3FH_MUTANTS) && Z3FH_MUTANTS
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant)                                    \
    TEST(RegressDeathTest, name##_FailsWithMutant) {                                 \
        if (std::string(mutant) == "none")                                           \
            GTEST_SKIP() << "found on the allocator itself (fixed), not with a mutant"; \
        EXPECT_DEATH(                                                                \
            {                                                                        \
                z3fh::mutants::select(mutant);                                       \
                (void)z3fh::regress::run(program(), true); /* reports and aborts */  \
            },                                                                       \
            "ERROR");                                                                \
    }
#else
#define Z3FH_REGRESSION_MUTANT_TEST(name, mutant)
#endif

#define Z3FH_REGRESSION(name, mutant)                                   \
    TEST(Regress, name) { z3fh::regress::expect_clean(program()); }     \
    Z3FH_REGRESSION_MUTANT_TEST(name, mutant)
