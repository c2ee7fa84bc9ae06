#pragma once
// The node segment: memory every rank of a one-node run maps (MPI_Win_allocate_shared),
// where the pipes' rings live (rings.cpp). Opened collectively when the runtime starts,
// freed when it ends.

#include <mpi.h>

#include <cstdint>

#include "transport/transport.hpp"

namespace mproc::detail {

class NodeSegment {
  public:
    // Collective over `node`. Maps `bytes` (rank 0 of the node decides) unless the run spans
    // `several_nodes`, where pipes use rank 0's queues instead; a failed allocation (an osc
    // component without shared windows) leaves the segment unmapped too.
    NodeSegment(const Communicator& node, bool several_nodes, std::uint64_t bytes);
    ~NodeSegment();
    NodeSegment(const NodeSegment&) = delete;
    NodeSegment& operator=(const NodeSegment&) = delete;

    // The mapped memory; nullptr when there is none.
    char* base() const noexcept { return base_; }
    // Reserves `bytes` in the segment, from any rank of the node: the offset, or 0 when there
    // is no room (or no segment).
    std::uint64_t allocate(std::uint64_t bytes);

  private:
    MPI_Win win_ = MPI_WIN_NULL;
    char* base_ = nullptr;
};

}  // namespace mproc::detail
