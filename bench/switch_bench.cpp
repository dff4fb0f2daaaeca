// Context-switch costs, in one run, medians of repeated runs:
//   sched_switch_ns  a scheduling point that switches between two fibers
//                    (decision, trace and schedule recording included)
//   bare_switch_ns   the switch primitive alone (z3fh_fiber_switch)
//   thread_baton_ns  an OS-thread baton (mutex + condition variable)
//   boost_fcontext_switch_ns  Boost.Context's jump_fcontext, the alternative
//                    primitive (same ping-pong as the bare switch)
// The last line is one JSON object (./z3fh bench prints it).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/context/detail/fcontext.hpp>

#include "sched/fiber.h"
#include "sched/runtime.h"
#include "sync/sync.h"

using namespace z3fh;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSwitches = 200000;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Bare primitive: two fibers hand control back and forth.
sched::Fiber *g_main, *g_a, *g_b;
int g_left;
void ping(void*) {
    for (;;) {
        sched::Fiber::switch_to(g_a, g_b);
        if (--g_left <= 0) sched::Fiber::switch_to(g_a, g_main);
    }
}
void pong(void*) {
    for (;;) sched::Fiber::switch_to(g_b, g_a);
}

double bare_switch_ns() {
    g_main = sched::Fiber::main_context();
    g_a = sched::Fiber::create(&ping, nullptr);
    g_b = sched::Fiber::create(&pong, nullptr);
    g_left = kSwitches / 2;
    auto t0 = Clock::now();
    sched::Fiber::switch_to(g_main, g_a);
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    sched::Fiber::destroy(g_a);
    sched::Fiber::destroy(g_b);
    return ns / kSwitches;
}

// The scheduler: every point is a decision, and the schedule bytes say
// "switch now, to the other thread" each time, so every point switches.
sync::Atomic<int> g_counter;
void spinner(void*) {
    for (int i = 0; i < kSwitches / 2; i++) (void)g_counter.fetch_add(1);
}

double sched_switch_ns() {
    std::vector<uint8_t> bytes;
    for (int i = 0; i < kSwitches + 16; i++) {
        bytes.push_back(0);                                // no delay
        bytes.push_back(static_cast<uint8_t>(1 - i % 2));  // the other of runnable {T0, T1}
    }
    sched::InputStrategy strategy(bytes.data(), bytes.size());
    sched::Runtime rt(strategy, sched::RunOptions{static_cast<uint64_t>(4 * kSwitches), 256});
    sync::install_runtime(&rt);
    g_counter.init(0, {sync::ObjClass::none, 1});
    rt.spawn("A", &spinner, nullptr);
    rt.spawn("B", &spinner, nullptr);
    auto t0 = Clock::now();
    sched::RunResult r = rt.run();
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    sync::install_runtime(nullptr);
    return ns / static_cast<double>(std::max(1, r.preemptions));
}

// Boost.Context's low-level switch: main and one context hand control back
// and forth, two switches a round.
namespace bctx = boost::context::detail;
void fcontext_pong(bctx::transfer_t t) {
    for (;;) t = bctx::jump_fcontext(t.fctx, nullptr);
}

double boost_fcontext_switch_ns() {
    std::vector<char> stack(64 * 1024);
    bctx::fcontext_t ctx = bctx::make_fcontext(stack.data() + stack.size(), stack.size(), &fcontext_pong);
    bctx::transfer_t t{ctx, nullptr};
    auto t0 = Clock::now();
    for (int i = 0; i < kSwitches / 2; i++) t = bctx::jump_fcontext(t.fctx, nullptr);
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / kSwitches;
}

double thread_baton_ns() {
    std::mutex m;
    std::condition_variable cv;
    int turn = 0;
    const int n = kSwitches / 20;  // OS switches are slow: fewer of them
    auto t0 = Clock::now();
    std::thread other([&] {
        for (int i = 0; i < n / 2; i++) {
            std::unique_lock<std::mutex> g(m);
            cv.wait(g, [&] { return turn == 1; });
            turn = 0;
            cv.notify_one();
        }
    });
    for (int i = 0; i < n / 2; i++) {
        std::unique_lock<std::mutex> g(m);
        turn = 1;
        cv.notify_one();
        cv.wait(g, [&] { return turn == 0; });
    }
    other.join();
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

}  // namespace

int main() {
    std::vector<double> s, b, t, f;
    for (int i = 0; i < 7; i++) {
        s.push_back(sched_switch_ns());
        b.push_back(bare_switch_ns());
        t.push_back(thread_baton_ns());
        f.push_back(boost_fcontext_switch_ns());
    }
    double sm = median(s), bm = median(b), tm = median(t), fm = median(f);
    std::printf("scheduler switch (point + decision + trace): %.1f ns\n", sm);
    std::printf("bare switch primitive:                       %.1f ns\n", bm);
    std::printf("OS-thread baton (mutex + condvar):           %.1f ns\n", tm);
    std::printf("Boost.Context jump_fcontext (alternative):   %.1f ns\n", fm);
    std::printf("ratios: scheduler/bare %.2f (target <= 2), baton/scheduler %.0f (target >= 100)\n", sm / bm, tm / sm);
    std::printf("%s\n", fmt::format(R"J({{"sched_switch_ns": {:.1f}, "bare_switch_ns": {:.1f}, "thread_baton_ns": {:.1f}, "boost_fcontext_switch_ns": {:.1f}, "switch_primitive": "z3fh_fiber_switch (x86-64 asm)"}})J",
                                    sm, bm, tm, fm)
                            .c_str());
    return 0;
}
