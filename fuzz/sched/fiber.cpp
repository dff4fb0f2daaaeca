// z3fold-harden: fiber stacks (pooled, guard page below), the switch with its
// sanitizer annotations, and a SIGSEGV handler that names a fiber stack
// overflow instead of dying silently.
#include "sched/fiber.h"

#include "sync/sync.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" void z3fh_fiber_switch(void** from_sp, void* to_sp);

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define Z3FH_FIBER_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define Z3FH_FIBER_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define Z3FH_FIBER_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define Z3FH_FIBER_TSAN 1
#endif

#if defined(Z3FH_FIBER_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(Z3FH_FIBER_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace z3fh::sched {

namespace {

struct StackRange {
    char* guard;
    size_t page;
};

// Stacks are mapped once and reused across runs. Never destroyed, so the
// pool stays reachable (LeakSanitizer) until the process ends.
std::vector<Fiber*>& free_fibers() {
    static auto* v = new std::vector<Fiber*>();
    return *v;
}
std::vector<StackRange>& guards() {
    static auto* v = new std::vector<StackRange>();
    return *v;
}

Fiber* g_current_starting = nullptr;  // the fiber whose trampoline runs next

#if defined(Z3FH_FIBER_TSAN)
// Happens-before between the main context and the fibers only (pool set-up
// before a run, checks after it), never between two fibers: those edges come
// from the sync primitives alone, so TSan still sees the allocator's races.
char g_main_token, g_fibers_token;
void hb_leave(Fiber* from, bool from_main) { __tsan_release(from_main ? &g_main_token : &g_fibers_token); (void)from; }
void hb_enter(bool into_main) { __tsan_acquire(into_main ? &g_fibers_token : &g_main_token); }

// A parked fiber holds no TSan ignores: end them before the switch, take
// them up again on resume (sync::TsanHidden's depth).
Z3FH_NO_TSAN void park_ignores(Fiber* from, int* saved) {
    (void)from;
    *saved = sync::tsan_hidden_depth();
    for (int i = 0; i < *saved; i++) __tsan_ignore_thread_end();
    sync::tsan_hidden_depth() = 0;
}
Z3FH_NO_TSAN void resume_ignores(int saved) {
    for (int i = 0; i < saved; i++) __tsan_ignore_thread_begin();
    sync::tsan_hidden_depth() = saved;
}
#endif

#if !defined(Z3FH_FIBER_ASAN) && !defined(Z3FH_FIBER_TSAN)
void overflow_handler(int sig, siginfo_t* info, void*) {
    if (Fiber::in_guard_page(info->si_addr)) {
        const char msg[] =
            "==z3fold== ERROR: fiber-stack-overflow: a scheduled thread overflowed its stack "
            "(hit the guard page)\n";
        (void)!write(2, msg, sizeof msg - 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}
#endif

void install_overflow_handler() {
#if !defined(Z3FH_FIBER_ASAN) && !defined(Z3FH_FIBER_TSAN)
    // ASan and TSan report stack overflows themselves.
    static bool installed = false;
    if (installed) return;
    installed = true;
    static char alt[64 * 1024];
    stack_t ss{};
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_sigaction = overflow_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
#endif
}

}  // namespace

Fiber* Fiber::main_context() {
    static Fiber* m = [] {
        auto* f = new Fiber();
        f->is_main_ = true;
        // The OS thread's own stack bounds: ASan needs them when a fiber
        // switches back to the main context.
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void* addr = nullptr;
            size_t size = 0;
            pthread_attr_getstack(&attr, &addr, &size);
            f->stack_ = static_cast<char*>(addr);
            f->stack_size_ = size;
            pthread_attr_destroy(&attr);
        }
#if defined(Z3FH_FIBER_TSAN)
        f->tsan_fiber_ = __tsan_get_current_fiber();
#endif
        return f;
    }();
    return m;
}

Fiber* Fiber::create(Entry entry, void* arg) {
    sync::TsanHidden hidden;
    install_overflow_handler();
    Fiber* f;
    if (!free_fibers().empty()) {
        f = free_fibers().back();
        free_fibers().pop_back();
    } else {
        f = new Fiber();
        const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        void* m = mmap(nullptr, kStackSize + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            std::perror("z3fh: mmap fiber stack");
            std::abort();
        }
        mprotect(m, page, PROT_NONE);  // the guard page: an overflow faults here
        guards().push_back({static_cast<char*>(m), page});
        f->stack_ = static_cast<char*>(m) + page;
        f->stack_size_ = kStackSize;
    }
#if defined(Z3FH_FIBER_ASAN)
    // A reused stack may carry ASan poison from frames that never returned:
    // those live when the fiber last switched away (it ended, parked for
    // good, or its run was abandoned), all at or above the stack pointer it
    // saved then; every deeper frame returned and unpoisoned itself. So the
    // clear starts there (less a page for the switch's own frame), not at
    // the bottom: a 32 KiB shadow clear a thread was a tenth of an empty
    // execution's time.
    char* low = f->stack_;
    if (f->sp_) {
        constexpr ptrdiff_t kSwitchFrame = 4096;
        char* sp = static_cast<char*>(f->sp_);
        if (sp - f->stack_ > kSwitchFrame) low = sp - kSwitchFrame;
    }
    ASAN_UNPOISON_MEMORY_REGION(low, static_cast<size_t>(f->stack_ + f->stack_size_ - low));
#endif
    f->entry_ = entry;
    f->arg_ = arg;
    f->asan_fake_stack_ = nullptr;
#if defined(Z3FH_FIBER_TSAN)
    f->tsan_fiber_ = __tsan_create_fiber(0);
#endif
    // Initial frame: six zeroed callee-saved registers, then the trampoline as
    // the return address, 16-byte aligned as if the trampoline were called.
    auto top = reinterpret_cast<uintptr_t>(f->stack_ + f->stack_size_) & ~uintptr_t{15};
    auto* slots = reinterpret_cast<uintptr_t*>(top - 16);
    slots[1] = 0;  // the trampoline's own (never used) return address
    slots[0] = reinterpret_cast<uintptr_t>(&Fiber::trampoline);
    uintptr_t* sp = slots - 6;
    for (int i = 0; i < 6; i++) sp[i] = 0;
    f->sp_ = sp;
    return f;
}

void Fiber::destroy(Fiber* f) {
    if (!f || f->is_main_) return;
    sync::TsanHidden hidden;
#if defined(Z3FH_FIBER_TSAN)
    if (f->tsan_fiber_) __tsan_destroy_fiber(f->tsan_fiber_);
    f->tsan_fiber_ = nullptr;
#endif
    free_fibers().push_back(f);
}

void Fiber::trampoline() {
    Fiber* self;
    {
        sync::TsanHidden hidden;
        self = g_current_starting;
    }
#if defined(Z3FH_FIBER_TSAN)
    hb_enter(false);
#endif
#if defined(Z3FH_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    self->entry_(self->arg_);
    std::fprintf(stderr, "z3fh: fiber entry returned\n");
    std::abort();
}

void Fiber::switch_to(Fiber* from, Fiber* to) {
    if (from == to) return;
    sync::TsanHidden hidden;  // fiber bookkeeping; each fiber has its own ignore count
    g_current_starting = to;
#if defined(Z3FH_FIBER_ASAN)
    __sanitizer_start_switch_fiber(&from->asan_fake_stack_, to->stack_, to->stack_size_);
#endif
#if defined(Z3FH_FIBER_TSAN)
    // No happens-before edge at a switch: the controlled sync layer adds the
    // real ones, so TSan still sees races between fibers.
    hb_leave(from, from->is_main_);
    park_ignores(from, &from->tsan_hidden_saved_);
    __tsan_switch_to_fiber(to->tsan_fiber_, __tsan_switch_to_fiber_no_sync);
#endif
    z3fh_fiber_switch(&from->sp_, to->sp_);
#if defined(Z3FH_FIBER_TSAN)
    resume_ignores(from->tsan_hidden_saved_);
    hb_enter(from->is_main_);
#endif
#if defined(Z3FH_FIBER_ASAN)
    __sanitizer_finish_switch_fiber(from->asan_fake_stack_, nullptr, nullptr);
#endif
}

void Fiber::exit_to(Fiber* from, Fiber* to) {
    // This fiber ends here and must not end with TSan's ignores on: hide the
    // bookkeeping in a scope that closes before the switch.
    {
        sync::TsanHidden hidden;
        g_current_starting = to;
    }
#if defined(Z3FH_FIBER_ASAN)
    __sanitizer_start_switch_fiber(nullptr, to->stack_, to->stack_size_);
#endif
#if defined(Z3FH_FIBER_TSAN)
    hb_leave(from, from->is_main_);
    int ended;
    park_ignores(from, &ended);
    __tsan_switch_to_fiber(to->tsan_fiber_, __tsan_switch_to_fiber_no_sync);
#endif
    z3fh_fiber_switch(&from->sp_, to->sp_);
    std::abort();  // never resumed
}

bool Fiber::in_guard_page(const void* addr) {
    auto* a = static_cast<const char*>(addr);
    for (const StackRange& g : guards())
        if (a >= g.guard && a < g.guard + g.page) return true;
    return false;
}

}  // namespace z3fh::sched
