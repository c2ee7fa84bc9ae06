#include "backoff.hpp"

#include <sys/prctl.h>

namespace mproc::detail {

void tighten_timer_slack() noexcept {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

}  // namespace mproc::detail
