#pragma once

#include "remote_actions.hpp"
#include "transport.hpp"

namespace mproc::detail {

// A worker rank's whole life: receive a chunk, run it, send the results back; return when
// rank 0 says stop. Rank 0 keeps several chunks queued here, so the next one is already
// waiting when a chunk finishes. Between chunks it runs the jobs other ranks ask of it
// (`actions`). Runs on the rank's MPI thread.
int serve(const Communicator& comm, RemoteActions& actions);

}  // namespace mproc::detail
