#pragma once
// Waiting without burning a core: poll hot for a few microseconds, then yield, then sleep in
// growing steps up to a millisecond. Oversubscribed ranks on 2 cores depend on this: a rank
// that spins steals the core from the one doing the work.

#include <sched.h>

#include <chrono>
#include <thread>

namespace mproc::detail {

class Backoff {
public:
    void reset() noexcept { idle_ = 0; }

    // One idle round. `sleep(duration)` does the sleeping, so a caller can wait on a
    // condition variable instead and be woken early.
    template <class Sleep>
    void pause(Sleep&& sleep) {
        ++idle_;
        if (idle_ <= kSpins) return;  // the caller's poll is the spin
        if (idle_ <= kSpins + kYields) {
            sched_yield();
            return;
        }
        unsigned step = idle_ - kSpins - kYields;
        auto d = kFirstSleep * (1u << (step < 6 ? step : 6));
        sleep(d < kMaxSleep ? d : kMaxSleep);
    }
    void pause() {
        pause([](std::chrono::microseconds d) { std::this_thread::sleep_for(d); });
    }

    // Whether the waiter has been idle long enough to be sleeping.
    bool sleeping() const noexcept { return idle_ > kSpins + kYields; }

private:
    static constexpr unsigned kSpins = 64;
    static constexpr unsigned kYields = 64;
    static constexpr std::chrono::microseconds kFirstSleep{16};
    static constexpr std::chrono::microseconds kMaxSleep{1000};
    unsigned idle_ = 0;
};

}  // namespace mproc::detail
