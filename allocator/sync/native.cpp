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
struct HeldLock {
    const void* lock;
    LockOrder::Held held;
};
thread_local std::vector<HeldLock> t_held;
}  // namespace

void set_lock_validation(bool on) {
    std::lock_guard<std::mutex> g(g_order_mutex);
    if (on) g_order.reset();
    detail::g_lock_validation.store(on, std::memory_order_relaxed);
}

void validate_acquire(const void* lock, ObjectId id, SrcLoc loc, bool trylock) {
    static thread_local std::vector<LockOrder::Held> held;
    held.clear();
    for (const HeldLock& h : t_held) held.push_back(h.held);
    std::optional<std::string> cycle;
    {
        std::lock_guard<std::mutex> g(g_order_mutex);
        cycle = g_order.acquired(self_token(), held, id, loc, trylock);
    }
    if (cycle) report_fatal(ErrorKind::lock_order, loc, *cycle);
    t_held.push_back({lock, {id, loc}});
}

void validate_release(const void* lock) {
    // Innermost first; a lock taken before validation was on is not there.
    for (size_t i = t_held.size(); i-- > 0;) {
        if (t_held[i].lock == lock) {
            t_held.erase(t_held.begin() + static_cast<long>(i));
            return;
        }
    }
}

void might_sleep(const char* what, SrcLoc loc) {
    if (!lock_validation_on() || t_held.empty()) return;
    const LockOrder::Held& in = t_held.back().held;
    report_fatal(ErrorKind::might_sleep, loc,
                 std::string("BUG: sleeping function called from invalid context: ") + what + " with " +
                     std::to_string(t_held.size()) + " spinning lock(s) held, innermost " + obj_class_name(in.obj.cls) +
                     " " + std::to_string(in.obj.serial) + " (taken at " + in.loc.file + ":" +
                     std::to_string(in.loc.line) + ")");
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
