#pragma once
// Noticing a rank that stops answering. A rank that dies ends the run (mpirun ends them all),
// but one that is stopped (SIGSTOP, a debugger) or cut off (a host whose link went down over
// TCP) would leave the run waiting for it for ever: MPI itself never gives up on it.
//
// So every worker rank sends rank 0 a small UDP datagram every second from a thread of its own,
// which uses no MPI and keeps beating while the rank's task computes. Rank 0 receives them on
// a thread of its own; a rank silent for longer than MPROC_HEARTBEAT_SECONDS (default 60; 0
// turns the heartbeat off) is named, and poll() (rank 0's MPI thread polls it as a Service)
// throws, which ends the run as a lost rank does: `mproc run` then runs it again with
// --resume. Rank 0 learns where to send from one broadcast at start-up: its UDP port and its
// IPv4 addresses (a worker on rank 0's host sends to 127.0.0.1).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mpi_thread.hpp"
#include "transport.hpp"

namespace mproc::detail {

class Heartbeat final : public MpiThread::Service {
  public:
    // Collective over `comm`. `hosts`: every rank's host, on rank 0 (for the message).
    Heartbeat(const Communicator& comm, const std::string& host,
              const std::vector<std::string>& hosts);
    ~Heartbeat() override;
    Heartbeat(const Heartbeat&) = delete;
    Heartbeat& operator=(const Heartbeat&) = delete;

    // Rank 0: throws Error naming a rank that has stopped answering.
    bool poll() override;
    std::optional<MpiThread::Patience> poll_again_in() const override { return std::nullopt; }

  private:
    void beat(std::vector<std::uint32_t> to, std::uint16_t port);  // a worker's thread
    void listen();                                                 // rank 0's thread

    using Clock = std::chrono::steady_clock;
    int rank_;
    std::vector<std::string> hosts_;
    double timeout_ = 60;  // seconds; 0: off
    int socket_ = -1;
    std::atomic<bool> stopping_{false};
    std::mutex stop_mutex_;  // a worker's beats sleep on stop_cv_, woken to end
    std::condition_variable stop_cv_;
    std::unique_ptr<std::atomic<std::int64_t>[]> last_seen_;  // rank 0: ns since start, by rank
    std::atomic<int> lost_{-1};                               // rank 0: a rank gone silent
    std::atomic<double> silent_for_{0};
    Clock::time_point start_ = Clock::now();
    std::thread thread_;
};

}  // namespace mproc::detail
