// z3fold-harden: user-level threads. A fiber is a pooled stack with a guard
// page below it and a saved stack pointer; switching is a few register moves
// (switch_x86_64.S), annotated for ASan and TSan so both follow the fibers.
#pragma once
#include <cstddef>
#include <vector>

namespace z3fh::sched {

class Fiber {
public:
    using Entry = void (*)(void* arg);

    // The calling OS thread's own context (the main context).
    static Fiber* main_context();

    // A new fiber that will call entry(arg) when first switched to. The entry
    // must never return: it ends by switching away with exit_to().
    static Fiber* create(Entry entry, void* arg);
    // Return a finished (or abandoned) fiber's stack to the pool.
    static void destroy(Fiber* f);

    // Switch from the running fiber `from` to `to`.
    static void switch_to(Fiber* from, Fiber* to);
    // Switch away from a fiber that will never run again. It never returns,
    // but is not declared [[noreturn]]: before each call to one ASan unpoisons
    // the caller's stack and asks the kernel for the signal stack
    // (__asan_handle_no_return), a tenth of an empty run; create() clears a
    // reused stack's poison instead.
    static void exit_to(Fiber* from, Fiber* to);

    // Is `addr` in some fiber's guard page (a stack overflow)?
    static bool in_guard_page(const void* addr);

    static constexpr size_t kStackSize = 256 * 1024;

private:
    Fiber() = default;
    void* sp_ = nullptr;
    char* stack_ = nullptr;  // lowest usable byte (just above the guard page)
    size_t stack_size_ = 0;
    Entry entry_ = nullptr;
    void* arg_ = nullptr;
    [[maybe_unused]] void* tsan_fiber_ = nullptr;  // used only under TSan
    [[maybe_unused]] int tsan_hidden_saved_ = 0;   // TSan ignore depth while parked
    void* asan_fake_stack_ = nullptr;
    bool is_main_ = false;
    static void trampoline();
};

}  // namespace z3fh::sched
