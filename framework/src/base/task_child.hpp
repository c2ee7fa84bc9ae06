#pragma once
// Running chunks in a child process of the rank, for a Pool with maxtasksperchild (Python's:
// a fresh process after so many tasks, to give back what tasks leak) or isolate (a task that
// crashes, aborts or exits fails itself, not its rank). An MPI rank cannot be replaced during
// a run, but it can fork: the child runs chunks the rank hands it over a socket, with the
// rank's code and state as they were at the fork, and never calls MPI.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "base/protocol.hpp"
#include "mproc/detail/bytes.hpp"

namespace mproc::detail {

// Where chunks run, as a failure names it: the rank and its host.
struct Place {
    int rank = 0;
    std::string host;
};

// TaskHeader::child_tasks for a child that runs chunks until the rank ends (isolate only).
inline constexpr std::uint32_t kChildForever = 0xffffffffu;

class TaskChild {
  public:
    // A child's failures (a crash) name `here`, its rank's place.
    explicit TaskChild(Place here) : here_(std::move(here)) {}
    ~TaskChild();  // ends the child
    TaskChild(const TaskChild&) = delete;
    TaskChild& operator=(const TaskChild&) = delete;

    // Runs the chunk in a child (forking one when there is none, or when the last has run
    // `header.child_tasks` chunks) and appends what execute_chunk would to `out`. A child
    // that dies during the chunk fails the chunk, naming the signal or exit status; the next
    // chunk gets a fresh child.
    void run(const TaskHeader& header, const char* args, Buffer& out);
    // Ends the child, if there is one; the next run() forks a fresh one.
    void stop();

  private:
    void start(std::uint32_t limit);
    // Reaps the child that went away during the chunk and says how it ended.
    std::string reap();

    const Place here_;
    pid_t pid_ = -1;
    int fd_ = -1;
    std::uint32_t limit_ = 0;  // chunks the child runs before it ends
    std::uint32_t done_ = 0;
};

// True in a child made by TaskChild: it has no MPI, so mproc's runtime refuses to be used.
bool in_task_child() noexcept;

}  // namespace mproc::detail
