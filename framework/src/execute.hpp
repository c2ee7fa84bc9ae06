#pragma once
// Running one chunk: shared by worker ranks and by rank 0 when a pool runs locally.

#include <cstddef>
#include <exception>
#include <string>

#include "mproc/detail/job.hpp"
#include "mproc/detail/serialize.hpp"
#include "protocol.hpp"

namespace mproc::detail {

// Runs the chunk described by `header` on its packed inputs at `args`, and appends a
// ResultHeader followed by the packed results (or a TaskFailure) to `out`.
void execute_chunk(const TaskHeader& header, const char* args, Buffer& out);

// Appends a ResultHeader saying the chunk failed, and the packed `failure` (its rank and
// host filled in), to `out`.
void append_failure(const TaskHeader& header, TaskFailure failure, Buffer& out,
                    std::uint64_t busy_ns = 0);

// Unpacks a TaskFailure payload into the RemoteError the user sees.
std::exception_ptr remote_error(const std::string& task, const char* data, std::size_t size);

}  // namespace mproc::detail
