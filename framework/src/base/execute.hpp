#pragma once
// Running one chunk of tasks: what a worker rank does with each chunk it is sent, and what
// rank 0 does itself when a pool has no worker ranks.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "base/protocol.hpp"
#include "base/task_child.hpp"
#include "mproc/detail/bytes.hpp"

namespace mproc::detail {

// Where a failed chunk failed, as the worker saw it; it travels back packed
// (execute.cpp packs and unpacks it).
struct TaskFailure {
    std::string type_name;
    std::string message;
    std::uint64_t index = 0;  // the input index of the item that threw
    int rank = 0;
    std::string host;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& type_name& message& index& rank& host;
    }
};

// Runs the chunk described by `header` on its packed inputs at `args`, and appends a
// ResultHeader followed by the packed results (or a TaskFailure naming `here`) to `out`.
void execute_chunk(const TaskHeader& header, const char* args, Buffer& out, const Place& here);

// Appends a ResultHeader saying the chunk failed, and the packed `failure` (its rank and
// host set to `here`), to `out`.
void append_failure(const TaskHeader& header, TaskFailure failure, Buffer& out, const Place& here,
                    std::uint64_t busy_ns = 0);

// The type name and message of the exception being handled.
TaskFailure describe_current_exception();

// Unpacks a TaskFailure payload into the RemoteError the user sees.
std::exception_ptr remote_error(const std::string& task, const char* data, std::size_t size);

// Runs the chunks a rank is given: in the rank itself, or in a child process of it when the
// chunk's pool asks for one (TaskHeader::child_tasks: maxtasksperchild, isolate). One per
// rank, on the thread that runs its chunks.
class ChunkRunner {
  public:
    explicit ChunkRunner(Place here) : here_(std::move(here)), child_(here_) {}

    // Runs the chunk and appends what execute_chunk does to `out`.
    void run(const TaskHeader& header, const char* args, Buffer& out) {
        if (header.child_tasks != 0) {
            child_.run(header, args, out);
        } else {
            // The rank's state may change (a pool's initializer): a child forked from now on
            // sees it.
            child_.stop();
            execute_chunk(header, args, out, here_);
        }
    }

  private:
    Place here_;
    TaskChild child_;
};

}  // namespace mproc::detail
