// z3fold-harden: where an allocation was made, kept with every allocation
// the code under test makes (the port's page source and slots cache, the
// kernel shim's pages, slab objects, kzalloc blocks, per-CPU areas, caches
// and workqueues), so a leak is signed by the function that allocated and
// its caller: "alloc_slots<-init_z3fold_page". Several different bugs leak
// from the same alloc_slots; the caller tells them apart.
#pragma once
#include <cstdint>
#include <string>

namespace z3fh {

struct AllocSite {
    const char* file = nullptr;  // the allocating call's file and line (the fallback name)
    int line = 0;
    // The return addresses of the allocator's frame (into the function that
    // called it, with whatever was inlined there) and of that function's
    // frame (its caller; only where frame pointers are kept, else null).
    const void* pc[2] = {nullptr, nullptr};
};

// Capture in the allocator itself (a function the code under test calls).
// The return address one frame up is read through the frame pointer chain:
// only in builds that keep frame pointers (every sanitizer tree), and in an
// always-inline helper so that it is the allocator's frame it reads.
#if defined(Z3FH_FRAME_POINTERS)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-address"
__attribute__((always_inline)) inline const void* z3fh_caller_return_address() { return __builtin_return_address(1); }
#pragma GCC diagnostic pop
#define Z3FH_ALLOC_SITE(file_, line_) \
    ::z3fh::AllocSite { (file_), (line_), { __builtin_return_address(0), ::z3fh::z3fh_caller_return_address() } }
#else
#define Z3FH_ALLOC_SITE(file_, line_) \
    ::z3fh::AllocSite { (file_), (line_), { __builtin_return_address(0), nullptr } }
#endif

// "f<-caller": the first two functions the return addresses name
// (symbolized by the sanitizer runtime, namespaces and parameters dropped);
// "file:line" of the allocating call where no sanitizer runtime can
// symbolize (a build without sanitizers). Only at a finding: symbolizing
// is slow.
std::string alloc_site_name(const AllocSite& site);
// Whether this build can symbolize (a sanitizer runtime is linked).
bool alloc_sites_symbolized();

// One allocation still held after the pool was destroyed.
struct Leftover {
    std::string what;  // "a slab object of z3fold_buddy_slots", "a page", ...
    std::string site;  // alloc_site_name
    uint32_t serial = 0;
};

}  // namespace z3fh
