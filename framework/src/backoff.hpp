#pragma once
// Waiting without burning a core. A waiter polls hot for a few microseconds, then yields the
// core between polls, then sleeps in growing steps up to a millisecond. Oversubscribed ranks
// on 2 cores depend on this: a rank that spins steals the core from the one doing the work.
//
// The windows matter in both directions: two parties that each back off into long sleeps
// while waiting for the other end up taking turns at sleeping (measured here: 2000 tiny
// chunks took 1.4 s instead of 3 ms). So the engine caps its sleeps by how soon it expects a
// result (see Engine::loop), and workers yield for a while before they sleep.

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace mproc::detail {

class Backoff {
  public:
    using Clock = std::chrono::steady_clock;
    using micros = std::chrono::microseconds;

    Backoff(micros spin, micros yield) : spin_(spin), yield_(yield) {}

    void reset() noexcept {
        idle_ = false;
        sleep_ = kFirstSleep;
    }

    // Starts the idle clock if it is not running; pause() does this too.
    void mark_idle() {
        if (!idle_) {
            idle_ = true;
            since_ = Clock::now();
        }
    }

    // How long the waiter has been idle (zero before its first pause).
    Clock::duration idle_for() const { return idle_ ? Clock::now() - since_ : Clock::duration{}; }

    // One idle round. `sleep(duration)` does the sleeping, so a caller can wait on a
    // condition variable instead and be woken early; no sleep is longer than `max_sleep`.
    template <class Sleep>
    void pause(Sleep&& sleep, micros max_sleep = kMaxSleep) {
        if (!idle_) {
            idle_ = true;
            since_ = Clock::now();
            return;
        }
        const auto idle = Clock::now() - since_;
        if (idle < spin_) return;  // the caller's poll is the spin
        if (idle < yield_) {
            sched_yield();
            return;
        }
        sleep(std::min(sleep_, max_sleep));
        sleep_ = std::min(sleep_ * 2, kMaxSleep);
    }

    void pause(micros max_sleep = kMaxSleep) {
        pause([](micros d) { std::this_thread::sleep_for(d); }, max_sleep);
    }

    static constexpr micros kFirstSleep{20};
    static constexpr micros kMaxSleep{1000};

  private:
    micros spin_;
    micros yield_;
    bool idle_ = false;
    Clock::time_point since_;
    micros sleep_ = kFirstSleep;
};

// Sleeps of tens of microseconds are only as exact as the thread's timer slack (50 µs by
// default); make it 1 µs for the calling thread.
void tighten_timer_slack() noexcept;

}  // namespace mproc::detail
