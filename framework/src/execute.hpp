#pragma once
// Running one chunk: shared by worker ranks and by rank 0 when a pool runs locally.

#include <cstddef>

#include "mproc/detail/serialize.hpp"
#include "protocol.hpp"

namespace mproc::detail {

// Runs the chunk described by `header` on the packed inputs [args, args + size) and writes
// a ResultHeader followed by the packed results (or a TaskFailure) into `out`.
void execute_chunk(const TaskHeader& header, const char* args, std::size_t size, Buffer& out);

// Unpacks a TaskFailure payload into the RemoteError the user sees.
std::exception_ptr remote_error(const std::string& task, const char* data, std::size_t size);

}  // namespace mproc::detail
