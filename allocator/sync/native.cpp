// z3fold-harden: out-of-line parts of the native backend (thread tokens, vCPU,
// the work-queue worker thread).
#include "sync/native.h"

#include <optional>
#include <string>
#include <vector>

#include "sync/lock_order.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace z3fh::sync {

namespace {
std::atomic<int> g_next_token{0};
thread_local int t_token = -1;
thread_local int t_vcpu = 0;
}  // namespace

int self_token() {
    if (t_token < 0) t_token = g_next_token.fetch_add(1);
    return t_token;
}

void cpu_pause() {
#if defined(__x86_64__)
    _mm_pause();
#endif
}

namespace detail {
std::atomic<bool> g_lock_validation{false};
}

namespace {
std::mutex g_order_mutex;
LockOrder g_order;  // every thread's edges, for the whole process (as lockdep's, for the boot)
thread_local HeldLocks t_held;
}  // namespace

void set_lock_validation(bool on) {
    std::lock_guard<std::mutex> g(g_order_mutex);
    if (on) g_order.reset();
    detail::g_lock_validation.store(on, std::memory_order_relaxed);
}

void validate_acquire(const void* lock, ObjectId id, SrcLoc loc, bool trylock) {
    std::optional<std::string> cycle;
    {
        std::lock_guard<std::mutex> g(g_order_mutex);
        cycle = g_order.acquired(self_token(), t_held.held(), id, loc, trylock);
    }
    if (cycle) report_fatal(ErrorKind::lock_order, loc, *cycle);
    t_held.acquired(lock, id, loc);
}

void validate_release(const void* lock) { t_held.released(lock); }

void might_sleep(const char* what, SrcLoc loc) {
    if (!lock_validation_on() || t_held.empty()) return;
    const LockOrder::Held& in = t_held.innermost();
    report_fatal(ErrorKind::might_sleep, loc, might_sleep_message(what, t_held.size(), in.obj, in.loc));
}

int current_vcpu() { return t_vcpu; }
void set_current_vcpu(int vcpu) { t_vcpu = vcpu; }

WorkQueue::WorkQueue(ObjectId id) : id_(id), worker_([this] { worker_main(); }) {}

WorkQueue::~WorkQueue() {
    {
        std::lock_guard<std::mutex> g(m_);
        stopping_ = true;
    }
    cv_.notify_all();
    worker_.join();
}

bool WorkQueue::queue(WorkItem* w, int, SrcLoc) {
    {
        std::lock_guard<std::mutex> g(m_);
        if (w->pending) return false;
        w->pending = true;
        items_.push(w);
    }
    cv_.notify_one();
    return true;
}

bool WorkQueue::cancel_sync(WorkItem* w, SrcLoc) {
    std::unique_lock<std::mutex> g(m_);
    bool was_pending = w->pending;
    if (was_pending) {
        items_.remove(w);
        w->pending = false;
    }
    done_cv_.wait(g, [&] { return running_ != w; });
    return was_pending;
}

bool WorkQueue::is_pending(const WorkItem* w) const {
    std::lock_guard<std::mutex> g(m_);
    return w->pending;
}

void WorkQueue::flush() {
    std::unique_lock<std::mutex> g(m_);
    done_cv_.wait(g, [&] { return items_.empty() && running_ == nullptr; });
}

void WorkQueue::worker_main() {
    std::unique_lock<std::mutex> g(m_);
    for (;;) {
        cv_.wait(g, [&] { return stopping_ || !items_.empty(); });
        if (items_.empty()) return;  // stopping and drained
        WorkItem* w = items_.pop();
        w->pending = false;
        running_ = w;
        g.unlock();
        w->fn(w);
        g.lock();
        running_ = nullptr;
        done_cv_.notify_all();
    }
}

}  // namespace z3fh::sync
