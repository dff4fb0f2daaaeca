// z3fold-harden: the strategies: input-driven, random, PCT, exhaustive
// (preemption-bounded DFS) and replay.
#include <algorithm>

#include "sched/strategy.h"

namespace z3fh::sched {

size_t next_after(const DecisionPoint& dp) {
    const std::vector<int>& r = *dp.runnable;
    for (size_t i = 0; i < r.size(); i++)
        if (r[i] > dp.last) return i;
    return 0;
}

namespace {
size_t index_of(const DecisionPoint& dp, int thread) {
    const std::vector<int>& r = *dp.runnable;
    for (size_t i = 0; i < r.size(); i++)
        if (r[i] == thread) return i;
    return r.size();
}
}  // namespace

void InputStrategy::begin_run() {
    pos_ = 0;
    delay_ = -1;
}

size_t RandomStrategy::choose(const DecisionPoint& dp) {
    if (dp.current >= 0 && rng_() % one_in_ != 0) return index_of(dp, dp.current);
    return rng_() % dp.runnable->size();
}

void PctStrategy::begin_run() {
    rng_.seed(seed_++);
    prio_.clear();
    change_at_.clear();
    decisions_ = 0;
    next_low_ = depth_ - 1;
    yield_low_ = 0;
    for (int i = 1; i < depth_; i++) change_at_.push_back(1 + rng_() % std::max<uint64_t>(k_, 1));
}

int PctStrategy::priority(int thread) {
    if (static_cast<size_t>(thread) >= prio_.size()) prio_.resize(static_cast<size_t>(thread) + 1, kUnassigned);
    if (prio_[thread] == kUnassigned) {
        // Initial priorities are distinct and all above the d-1 change-point
        // priorities; drawing uniformly among existing ranks keeps them a
        // random permutation.
        int p = depth_ + static_cast<int>(rng_() % 1000000);
        while (std::find(prio_.begin(), prio_.end(), p) != prio_.end()) p++;
        prio_[thread] = p;
    }
    return prio_[thread];
}

size_t PctStrategy::choose(const DecisionPoint& dp) {
    decisions_++;
    // A thread that yields (a trylock or wait loop) drops below every other:
    // strict priorities would otherwise let two spinning threads take turns
    // forever while the lock holder, lower, never runs.
    if (dp.event == sync::Event::yield && dp.current < 0 && dp.last >= 0) {
        priority(dp.last);
        prio_[static_cast<size_t>(dp.last)] = yield_low_--;
    }
    // A thread about to use a mapped object is where lifetime races bite (a
    // mapping held across another thread's reclaim, compaction or
    // migration): there, half the time, it drops below every other thread, an
    // extra change point on top of the d-1 random ones.
    if (dp.event == sync::Event::object_access && dp.current >= 0 && rng_() % 2 == 0) {
        priority(dp.current);
        prio_[static_cast<size_t>(dp.current)] = yield_low_--;
    }
    if (dp.current >= 0) {
        for (uint64_t c : change_at_) {
            if (c == decisions_ && next_low_ > 0) {
                priority(dp.current);
                prio_[dp.current] = next_low_--;  // below every initial priority
            }
        }
    }
    size_t best = 0;
    for (size_t i = 0; i < dp.runnable->size(); i++)
        if (priority((*dp.runnable)[i]) > priority((*dp.runnable)[best])) best = i;
    return best;
}

bool PctStrategy::next_run() {
    max_step_seen_ = std::max(max_step_seen_, decisions_);
    if (max_step_seen_ > 0) k_ = max_step_seen_;
    return false;
}

void ExhaustiveStrategy::begin_run() {
    depth_ = 0;
    preemptions_ = 0;
}

size_t ExhaustiveStrategy::choose(const DecisionPoint& dp) {
    if (depth_ == stack_.size()) {
        Node n;
        n.preemptions_before = preemptions_;
        size_t cur = dp.current >= 0 ? index_of(dp, dp.current) : dp.runnable->size();
        if (cur < dp.runnable->size()) {
            n.options.push_back(cur);
            n.cost.push_back(0);
        }
        for (size_t i = 0; i < dp.runnable->size(); i++) {
            if (i == cur) continue;
            int cost = cur < dp.runnable->size() ? 1 : 0;
            if (bound_ >= 0 && preemptions_ + cost > bound_) continue;
            n.options.push_back(i);
            n.cost.push_back(cost);
        }
        stack_.push_back(std::move(n));
    }
    Node& n = stack_[depth_++];
    preemptions_ = n.preemptions_before + n.cost[n.index];
    return n.options[n.index];
}

bool ExhaustiveStrategy::next_run() {
    runs_++;
    // Only the prefix this run reached is meaningful.
    stack_.resize(depth_);
    while (!stack_.empty() && stack_.back().index + 1 >= stack_.back().options.size()) stack_.pop_back();
    if (stack_.empty()) return false;
    stack_.back().index++;
    return true;
}

size_t ReplayStrategy::choose(const DecisionPoint& dp) {
    if (!stale_.empty()) return 0;
    if (pos_ >= sched_.steps.size()) {
        // Past the recorded end: the run continues as the recorder's default did.
        stale_ = "schedule stale at decision " + std::to_string(pos_) + ": the run has more decisions than recorded";
        went_stale_ = true;
        return 0;
    }
    const ScheduleStep& s = sched_.steps[pos_];
    if (s.thread != dp.current || s.event != static_cast<uint8_t>(dp.event) ||
        s.obj_cls != static_cast<uint8_t>(dp.obj.cls) || s.obj_serial != dp.obj.serial) {
        stale_ = "schedule stale at decision " + std::to_string(pos_) + " (step " + std::to_string(dp.step) +
                 "): expected thread " + std::to_string(s.thread) + " at " +
                 sync::event_name(static_cast<sync::Event>(s.event)) + " on " +
                 sync::obj_class_name(static_cast<sync::ObjClass>(s.obj_cls)) + " " + std::to_string(s.obj_serial) +
                 ", got thread " + std::to_string(dp.current) + " at " + sync::event_name(dp.event) + " on " +
                 sync::obj_class_name(dp.obj.cls) + " " + std::to_string(dp.obj.serial);
        went_stale_ = true;
        return 0;
    }
    pos_++;
    size_t i = index_of(dp, s.chosen);
    if (i >= dp.runnable->size()) {
        stale_ = "schedule stale at decision " + std::to_string(pos_ - 1) + ": thread " + std::to_string(s.chosen) +
                 " is not runnable";
        went_stale_ = true;
        return 0;
    }
    return i;
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, uint64_t seed, const uint8_t* data, size_t size) {
    if (name == "input") return std::make_unique<InputStrategy>(data, size);
    if (name == "random") return std::make_unique<RandomStrategy>(seed);
    if (name == "pct") return std::make_unique<PctStrategy>(seed, 3);
    if (name == "exhaustive") return std::make_unique<ExhaustiveStrategy>(2);
    return nullptr;
}

}  // namespace z3fh::sched
