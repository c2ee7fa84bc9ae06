#pragma once
// The wire protocol between rank 0 and workers: one message per chunk each way, a fixed
// header followed by the packed items. Variable sizes are received with MPI_Improbe +
// MPI_Mrecv, so there is never a separate "size" message to race with.

#include <cstdint>

#include "mproc/detail/registry.hpp"

namespace mproc::detail {

enum Tag : int {
    kTagTask = 1,     // rank 0 -> worker: TaskHeader + packed inputs
    kTagResult = 2,   // worker -> rank 0: ResultHeader + packed results or a TaskFailure
    kTagControl = 3,  // rank 0 -> worker: stop (empty payload)
};

struct TaskHeader {
    std::uint64_t job;
    std::uint64_t seq;    // chunk number within the job
    std::uint64_t first;  // input index of the chunk's first item
    TaskId task;
    std::uint32_t count;
    std::uint32_t reserved;
};

enum class ResultStatus : std::uint32_t {
    ok = 0,
    task_failed = 1,   // payload: a packed TaskFailure
    unknown_task = 2,  // the worker has no task with this id (a different binary?)
};

struct ResultHeader {
    std::uint64_t job;
    std::uint64_t seq;
    std::uint64_t busy_ns;  // time spent running the chunk, for chunk sizing and load reports
    std::uint32_t count;
    ResultStatus status;
};

}  // namespace mproc::detail
