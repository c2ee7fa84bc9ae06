#pragma once
// Jobs a rank keeps for other ranks to set off. A Barrier's action is any callable, so it can
// only run in the process that created it; when the last party to arrive is on another rank,
// that rank asks the creator to run it with a small message (kTagAction, the job's key).
//
// On rank 0 the MPI thread's loop polls this service and hands each request to a thread of
// its own, so an action may wait on anything (even the MPI thread's calls). A worker rank
// has one thread: it runs requested jobs when it polls, which it does while idle between
// tasks and while it waits on the barrier itself.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "transport/mpi_thread.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

class RemoteActions final : public MpiThread::Service {
  public:
    // `own_thread`: requested jobs run on a thread of this service (rank 0); otherwise in
    // poll(), on the polling thread.
    RemoteActions(const Communicator& comm, MpiThread& mpi_thread, bool own_thread);
    ~RemoteActions() override;
    RemoteActions(const RemoteActions&) = delete;
    RemoteActions& operator=(const RemoteActions&) = delete;

    // Keeps `job` under `key` (unique in the run, such as an arena offset) for the run's life.
    void add(std::uint64_t key, std::function<void()> job);
    // Runs `key`'s job on the calling thread if this rank keeps it (what it throws goes to the
    // caller); false if it does not.
    bool run_here(std::uint64_t key);
    // Asks rank `owner`, which keeps `key`'s job, to run it.
    void request(int owner, std::uint64_t key);

    // Receives requests: hands them to the job thread, or runs them (see own_thread). A job
    // run on request that throws is reported on stderr: nobody here waits for it.
    bool poll() override;
    // A request someone else received (a worker's loop takes every message from rank 0).
    void take(const std::vector<char>& message, int source);
    std::optional<MpiThread::Patience> poll_again_in() const override { return std::nullopt; }

  private:
    std::function<void()> find(std::uint64_t key);
    void run_requested(std::uint64_t key);
    void job_thread();

    const Communicator& comm_;
    MpiThread& mpi_thread_;
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, std::function<void()>> jobs_;  // guarded by mutex_
    std::atomic<bool> keeps_any_{false};                             // jobs_ is not empty
    std::vector<char> receive_;
    // The job thread (own_thread only) and what it has to run.
    std::condition_variable wake_;
    std::deque<std::uint64_t> requested_;  // guarded by mutex_
    bool stopping_ = false;                // guarded by mutex_
    std::thread thread_;
};

}  // namespace mproc::detail
