#pragma once
// Interruption points: where a terminated Process stops (see mproc/process.hpp).

namespace mproc::detail {

// Whether the Process running on this thread has been asked to terminate. Cheap: the shared
// flag is read at most once a millisecond.
bool interrupt_requested();
// Throws Terminated if so.
void check_interrupt();
[[noreturn]] void throw_terminated();
// Whether this thread runs a Process's target.
bool in_process_context();

}  // namespace mproc::detail
