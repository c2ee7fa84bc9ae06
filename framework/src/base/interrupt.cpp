#include "base/interrupt.hpp"

#include <chrono>

#include "mproc/error.hpp"

namespace mproc::detail {
namespace {

struct ThreadInterrupt {
    InterruptSource source;
    std::chrono::steady_clock::time_point last_check;
};
thread_local ThreadInterrupt t_interrupt;

}  // namespace

void set_interrupt_source(InterruptSource source) {
    t_interrupt = ThreadInterrupt{std::move(source), {}};
}

bool in_process_context() {
    return static_cast<bool>(t_interrupt.source.requested);
}

bool interrupt_requested() {
    if (!t_interrupt.source.requested) return false;
    // The flag is a shared object on rank 0: asking costs a message from a worker.
    const auto now = std::chrono::steady_clock::now();
    if (now - t_interrupt.last_check < std::chrono::milliseconds(1)) return false;
    t_interrupt.last_check = now;
    return t_interrupt.source.requested();
}

void check_interrupt() {
    if (interrupt_requested()) throw_terminated();
}

void throw_terminated() {
    const std::string& name = t_interrupt.source.name;
    throw Terminated((name.empty() ? std::string("Process") : name) + " was terminated");
}

}  // namespace mproc::detail
