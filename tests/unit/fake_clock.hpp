#pragma once
// A clock the unit tests move by hand, for the schedulers (engine/clock.hpp).

#include <chrono>

#include "engine/clock.hpp"

namespace mproc::detail::testing {

class FakeClock final : public Clock {
  public:
    time_point now() const override { return now_; }
    void advance(duration d) { now_ += d; }

  private:
    time_point now_{std::chrono::hours(1)};
};

}  // namespace mproc::detail::testing
