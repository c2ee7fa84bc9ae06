#pragma once
// Who holds a pipe end. As with Python's pipes (an end is a file descriptor each process
// has its own copy of), a Connection's sending direction closes only when every process
// holding the end has closed it or ended: closing one copy lets go of that process's hold.
//
// An end's holders are counted in the shared arena. Pipe() makes the count 1, held by the
// calling process; a Process started with the end among its arguments adds one, which the
// Process lets go of when it closes the end or its target ends (framework/src/process.cpp).
// An end reached another way (through a queue, in a pool task) is borrowed: closing it there
// lets go of one hold, as if its holder had.

#include <cstdint>

namespace mproc::detail {

struct PipeEnd {
    std::uint64_t holders = 0;  // the arena offset of its holder count; 0: nothing to close
    std::uint64_t send = 0;     // the direction it sends on (a ring or a queue)
};

// A holder count of 1, held by the calling process, for an end sending on `send`.
std::uint64_t pipe_end_open(std::uint64_t send);
// The calling process lets go of `end` (once, however many copies it closes); the last
// holder to let go closes the direction, so the reader sees the end of the stream.
void pipe_end_release(PipeEnd end);

}  // namespace mproc::detail
