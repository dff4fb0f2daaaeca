// z3fold-harden: scheduling strategies. At each decision point (a scheduling
// point where more than one thread could run) the runtime asks its strategy
// which runnable thread goes next. All nondeterminism of a run comes from here.
#pragma once
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sched/schedule.h"
#include "sync/event.h"

namespace z3fh::sched {

struct DecisionPoint {
    int current;                    // thread at the point; -1 when it cannot continue (blocked,
                                    // finished, yielded): then the choice is not a preemption
    int last;                       // the thread that ran last (for round robin), -1 at the start
    const std::vector<int>* runnable;  // candidate thread ids, ascending
    sync::Event event;              // what `current` is about to do
    sync::ObjectId obj;
    uint64_t step;
};

class Strategy {
public:
    virtual ~Strategy() = default;
    virtual void begin_run() {}
    // Index into *dp.runnable.
    virtual size_t choose(const DecisionPoint& dp) = 0;
    // After a run: true if the strategy wants another run (exhaustive search).
    virtual bool next_run() { return false; }
    // Replay only: the run diverged from the recorded schedule. The flag is
    // read inline at every decision; the reason only when it is set.
    bool went_stale() const { return went_stale_; }
    virtual const char* stale_reason() const { return nullptr; }
    virtual std::string name() const = 0;

protected:
    bool went_stale_ = false;
};

// Round robin after `current` (the default when nothing else decides).
size_t next_after(const DecisionPoint& dp);

// Choices read from the fuzz input: pairs (delay, target). Stay on the current
// thread for `delay` decisions, then switch to runnable[target % n]. When the
// bytes run out, the current thread keeps running; when it cannot continue,
// the next runnable thread after it in id order runs (round robin).
class InputStrategy final : public Strategy {
public:
    // The bytes are the caller's (the program's schedule) and outlive the strategy.
    InputStrategy(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    void begin_run() override;
    // Inline, and called directly by the runtime (the fuzz loop's strategy,
    // at every decision): no virtual call, no out-of-line frame.
    size_t choose(const DecisionPoint& dp) override {
        if (dp.current < 0) return next_after(dp);
        const std::vector<int>& r = *dp.runnable;
        size_t cur = 0;
        while (cur < r.size() && r[cur] != dp.current) cur++;
        if (delay_ < 0) {
            if (pos_ + 2 > size_) return cur;  // out of bytes: no more preemptions
            delay_ = data_[pos_];
            target_ = data_[pos_ + 1];
            pos_ += 2;
        }
        if (delay_ > 0) {
            delay_--;
            return cur;
        }
        delay_ = -1;
        return target_ < r.size() ? target_ : target_ % r.size();  // no division in the common case
    }
    std::string name() const override { return "input"; }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    int delay_ = -1;  // -1: no pair loaded
    uint8_t target_ = 0;
};

// A generator seeded only when a run begins. A default-constructed engine
// seeds itself too (312 words): a strategy made for one run did that twice.
// Drawn from before any seed (no caller does), it is the default engine.
class RunSeededRng {
public:
    void seed(uint64_t s) { rng_.emplace(s); }
    uint64_t operator()() {
        if (!rng_) [[unlikely]]
            rng_.emplace();
        return (*rng_)();
    }

private:
    std::optional<std::mt19937_64> rng_;
};

// A fair coin per decision: switch to a random runnable thread with
// probability 1/switch_one_in.
class RandomStrategy final : public Strategy {
public:
    explicit RandomStrategy(uint64_t seed, unsigned switch_one_in = 4) : seed_(seed), one_in_(switch_one_in) {}
    void begin_run() override { rng_.seed(seed_++); }
    size_t choose(const DecisionPoint& dp) override;
    std::string name() const override { return "random"; }

private:
    uint64_t seed_;
    unsigned one_in_;
    RunSeededRng rng_;
};

// PCT (Burckhardt et al., ASPLOS 2010): random distinct thread priorities,
// d-1 priority change points at random steps in [1, k]; always run the
// highest-priority runnable thread. Finds a depth-d bug with probability at
// least 1/(n * k^(d-1)) per run.
class PctStrategy final : public Strategy {
public:
    PctStrategy(uint64_t seed, int depth, uint64_t k_estimate = 200)
        : seed_(seed), depth_(depth), k_(k_estimate) {
        prio_.reserve(8);  // a program's threads and the pool's workers: no regrowth in a run
    }
    void begin_run() override;
    size_t choose(const DecisionPoint& dp) override;
    bool next_run() override;
    std::string name() const override { return "pct"; }

private:
    int priority(int thread);
    uint64_t seed_;
    int depth_;
    uint64_t k_;
    uint64_t max_step_seen_ = 0;
    RunSeededRng rng_;
    static constexpr int kUnassigned = INT_MIN;
    std::vector<int> prio_;            // by thread id; kUnassigned until first seen
    int yield_low_ = 0;                // below the change points: where yielders go
    std::vector<uint64_t> change_at_;  // steps (decision counts) where priorities drop
    uint64_t decisions_ = 0;
    int next_low_ = 0;
};

// Depth-first over every schedule with at most `preemption_bound` preemptions
// (iterative context bounding); call next_run() after each run.
class ExhaustiveStrategy final : public Strategy {
public:
    explicit ExhaustiveStrategy(int preemption_bound) : bound_(preemption_bound) {}
    void begin_run() override;
    size_t choose(const DecisionPoint& dp) override;
    bool next_run() override;
    uint64_t schedules_explored() const { return runs_; }
    std::string name() const override { return "exhaustive"; }

private:
    struct Node {
        std::vector<size_t> options;  // indices into runnable, current first
        std::vector<int> cost;        // preemptions each option costs
        size_t index = 0;
        int preemptions_before = 0;
    };
    int bound_;
    std::vector<Node> stack_;
    size_t depth_ = 0;
    int preemptions_ = 0;
    uint64_t runs_ = 0;
};

// Replays a recorded schedule and checks every decision point against it.
class ReplayStrategy final : public Strategy {
public:
    explicit ReplayStrategy(Schedule s) : sched_(std::move(s)) {}
    void begin_run() override {
        pos_ = 0;
        stale_.clear();
        went_stale_ = false;
    }
    size_t choose(const DecisionPoint& dp) override;
    const char* stale_reason() const override { return stale_.empty() ? nullptr : stale_.c_str(); }
    std::string name() const override { return "replay"; }

private:
    Schedule sched_;
    size_t pos_ = 0;
    std::string stale_;
};

// Build a strategy by name: input, random, pct, exhaustive.
std::unique_ptr<Strategy> make_strategy(const std::string& name, uint64_t seed, const uint8_t* data, size_t size);

}  // namespace z3fh::sched
