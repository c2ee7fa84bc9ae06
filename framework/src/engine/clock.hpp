#pragma once
// The time, as the schedulers (Dispatcher, GroupDispatcher) read it: the steady clock in a run,
// a hand-moved one in tests, a simulated one in the scale simulator.

#include <chrono>

namespace mproc::detail {

class Clock {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    using duration = std::chrono::steady_clock::duration;
    virtual ~Clock() = default;
    virtual time_point now() const = 0;
};

class SteadyClock final : public Clock {
  public:
    Clock::time_point now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace mproc::detail
