#pragma once
// The node segment the rings live in (see mproc/detail/ring_ops.hpp): opened with the shared
// window at start-up, collectively on every rank.

#include <mpi.h>

namespace mproc::detail {

// Maps MPROC_PIPE_BYTES (16 MiB by default) shared by the ranks of a single-node run; does
// nothing when the run spans nodes (pipes then use rank 0's queues).
void open_node_segment(MPI_Comm comm);
void close_node_segment();

}  // namespace mproc::detail
