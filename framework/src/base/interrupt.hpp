#pragma once
// Interruption points: where a terminated Process stops (see mproc/process.hpp). The flag a
// thread answers to is installed by the Process machinery above (process.cpp) for as long
// as the thread runs a target; the waits below it only ask, through this file.

#include <functional>
#include <string>

namespace mproc::detail {

// What a thread running a Process's target answers to: whether it was asked to end, and
// the Process's name for the Terminated it then throws.
struct InterruptSource {
    std::function<bool()> requested;
    std::string name;
};

// Installs (or, with an empty source, removes) the calling thread's source.
void set_interrupt_source(InterruptSource source);
// Whether this thread runs a Process's target.
bool in_process_context();
// Whether the Process running on this thread has been asked to terminate. Cheap: the
// source is asked at most once a millisecond.
bool interrupt_requested();
// Throws Terminated if so.
void check_interrupt();
[[noreturn]] void throw_terminated();

}  // namespace mproc::detail
