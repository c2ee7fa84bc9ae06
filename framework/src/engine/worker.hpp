#pragma once

#include "base/task_child.hpp"
#include "shared/relay_rings.hpp"
#include "shared/remote_actions.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

// A worker rank's whole life: receive a chunk from its `master` (rank 0, or its group's
// leader, which relays rank 0's; through the rings `down` and `up` when they share them,
// else null), run it, send the results back; return when the master says stop. Rank 0 keeps
// several chunks queued here, so the next one is already waiting when a chunk finishes.
// Between chunks it runs the jobs other ranks ask of it (`actions`). A failed task names the
// rank's place (`here`). Runs on the rank's MPI thread.
int serve(const Communicator& comm, int master, RelayRing* down, RelayRing* up,
          RemoteActions& actions, const Place& here);

}  // namespace mproc::detail
