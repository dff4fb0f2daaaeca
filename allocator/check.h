// z3fold-harden: the checking tiers.
//   Z3FH_CHECK*   always on; prints both operands; fatal.
//   Z3FH_WARN_ON  the kernel's WARN_ON: always on, fatal (panic_on_warn), so a
//                 fuzzer sees it as a finding.
//   Z3FH_DCHECK*  internal asserts: type-checked always, evaluated only with
//                 Z3FH_DEBUG (the debug, sanitizer and fuzz builds).
//   validate()    the expensive whole-pool validator (introspect.h).
#pragma once
#include <fmt/format.h>

#include "report.h"

#ifndef Z3FH_DEBUG
#define Z3FH_DEBUG 0
#endif

#define Z3FH_CHECK_KIND(kind, cond, ...)                                                          \
    do {                                                                                          \
        if (__builtin_expect(!(cond), 0))                                                         \
            ::z3fh::report_fatal((kind), ::z3fh::sync::SrcLoc::here(),                            \
                                 fmt::format("{} ({})", fmt::format(__VA_ARGS__), #cond));        \
    } while (0)

#define Z3FH_CHECK(cond) Z3FH_CHECK_KIND(::z3fh::ErrorKind::check, cond, "check failed")

#define Z3FH_CHECK_OP(a, op, b, kind)                                                             \
    do {                                                                                          \
        auto z3fh_a_ = (a);                                                                       \
        auto z3fh_b_ = (b);                                                                       \
        if (__builtin_expect(!(z3fh_a_ op z3fh_b_), 0))                                           \
            ::z3fh::report_fatal((kind), ::z3fh::sync::SrcLoc::here(),                            \
                                 fmt::format("{} {} {} ({} vs {})", #a, #op, #b, z3fh_a_, z3fh_b_)); \
    } while (0)

#define Z3FH_CHECK_EQ(a, b) Z3FH_CHECK_OP(a, ==, b, ::z3fh::ErrorKind::check)
#define Z3FH_CHECK_NE(a, b) Z3FH_CHECK_OP(a, !=, b, ::z3fh::ErrorKind::check)
#define Z3FH_CHECK_LT(a, b) Z3FH_CHECK_OP(a, <, b, ::z3fh::ErrorKind::check)
#define Z3FH_CHECK_LE(a, b) Z3FH_CHECK_OP(a, <=, b, ::z3fh::ErrorKind::check)
#define Z3FH_CHECK_GE(a, b) Z3FH_CHECK_OP(a, >=, b, ::z3fh::ErrorKind::check)

// WARN_ON(cond) evaluates to cond, like the kernel's, and is fatal when true.
#define Z3FH_WARN_ON(cond)                                                                        \
    ([&]() -> bool {                                                                              \
        if (__builtin_expect(!!(cond), 0))                                                        \
            ::z3fh::report_fatal(::z3fh::ErrorKind::warn, ::z3fh::sync::SrcLoc::here(),           \
                                 "WARN_ON(" #cond ")");                                           \
        return false;                                                                             \
    }())

#define Z3FH_DCHECK(cond)                                                                         \
    do {                                                                                          \
        if (Z3FH_DEBUG) Z3FH_CHECK(cond);                                                         \
    } while (0)
#define Z3FH_DCHECK_EQ(a, b)                                                                      \
    do {                                                                                          \
        if (Z3FH_DEBUG) Z3FH_CHECK_EQ(a, b);                                                      \
    } while (0)
