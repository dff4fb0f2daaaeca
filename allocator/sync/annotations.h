// z3fold-harden: clang thread-safety annotations for the sync layer's lock types.
// Expands to nothing under compilers that lack the analysis (g++).
#pragma once

#if defined(__clang__)
#define Z3FH_TSA(x) __attribute__((x))
#else
#define Z3FH_TSA(x)
#endif

#define Z3FH_CAPABILITY(x) Z3FH_TSA(capability(x))
#define Z3FH_GUARDED_BY(x) Z3FH_TSA(guarded_by(x))
#define Z3FH_PT_GUARDED_BY(x) Z3FH_TSA(pt_guarded_by(x))
#define Z3FH_ACQUIRE(...) Z3FH_TSA(acquire_capability(__VA_ARGS__))
#define Z3FH_ACQUIRE_SHARED(...) Z3FH_TSA(acquire_shared_capability(__VA_ARGS__))
#define Z3FH_RELEASE(...) Z3FH_TSA(release_capability(__VA_ARGS__))
#define Z3FH_RELEASE_SHARED(...) Z3FH_TSA(release_shared_capability(__VA_ARGS__))
#define Z3FH_TRY_ACQUIRE(...) Z3FH_TSA(try_acquire_capability(__VA_ARGS__))
#define Z3FH_REQUIRES(...) Z3FH_TSA(requires_capability(__VA_ARGS__))
#define Z3FH_EXCLUDES(...) Z3FH_TSA(locks_excluded(__VA_ARGS__))
#define Z3FH_ASSERT_CAPABILITY(x) Z3FH_TSA(assert_capability(x))
#define Z3FH_RETURN_CAPABILITY(x) Z3FH_TSA(lock_returned(x))

// The one escape hatch from the analysis. Every use names its reason with
// Z3FH_TSA_ESCAPE(reason) and is listed in allocator/README.md ("Escapes from
// thread-safety analysis"): functions that return with a lock held that the
// analysis cannot name (get_z3fold_header), puts that unlock conditionally,
// and loops that trylock a lock found through a list.
#define Z3FH_TSA_ESCAPE(reason) Z3FH_TSA(no_thread_safety_analysis)
