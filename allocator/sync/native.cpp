// z3fold-harden: out-of-line parts of the native backend (thread tokens, vCPU,
// the work-queue worker thread).
#include "sync/native.h"

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
