#pragma once
// Noticing a rank that stops answering. A rank that dies ends the run (mpirun ends them all),
// but one that is stopped (SIGSTOP, a debugger) or cut off (a host whose link went down over
// TCP) would leave the run waiting for it for ever: MPI itself never gives up on it.
//
// So every worker rank sends rank 0 a small UDP datagram every second (beat_interval) from a
// thread of its own, which uses no MPI and keeps beating while the rank's task computes. Rank 0
// receives them on a thread of its own; a rank silent for longer than MPROC_HEARTBEAT_SECONDS
// (default 60; 0 turns the heartbeat off) is named, and poll() (rank 0's MPI thread polls it as
// a Service) throws, which ends the run as a lost rank does: `mproc run` then runs it again
// with --resume. Rank 0 learns where to send from one broadcast at start-up: its UDP port and
// its IPv4 addresses (a worker on rank 0's host sends to 127.0.0.1).
//
// Rank 0 hears every worker, groups or not, so what the beats cost it grows with the run. Past
// 2,000 ranks they come less often (beat_interval: rank 0 takes about 2,000 a second per
// address it listens on), and the walk over every rank for one gone silent runs a few times a
// second, not after every datagram (Liveness): a walk reading the clock for each rank took
// 317 µs at 10^4 ranks here, so one per datagram would have wanted three cores.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "transport/mpi_thread.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

// How often a worker beats in a run of `ranks` ranks allowed `timeout` seconds of silence:
// four beats per allowed silence, and at most one a second; past 2,000 ranks less often, so
// rank 0 hears about 2,000 a second (but never fewer than four per allowed silence).
std::chrono::duration<double> beat_interval(int ranks, double timeout);

// Rank 0's account of when each rank was last heard, and who has gone silent. A check walks
// every rank, so it runs at most every check_every() (an eighth of the allowed silence, at most
// a second), whatever the datagrams' rate; a silence is named at most that much late.
class Liveness {
  public:
    using Clock = std::chrono::steady_clock;
    Liveness(int ranks, double timeout, Clock::time_point now);

    // Rank `rank` was heard at `now` (a number out of range is ignored: a stray datagram).
    void heard(int rank, Clock::time_point now);
    // Everyone heard at `now`: the listener itself was stopped or starved, so the gap says
    // nothing of the others.
    void forgive(Clock::time_point now);
    // The first rank silent for longer than the timeout, and for how long (seconds), if a check
    // is due at `now` and finds one.
    std::optional<std::pair<int, double>> silent(Clock::time_point now);
    Clock::duration check_every() const { return check_every_; }

  private:
    std::vector<Clock::time_point> last_;  // by rank; rank 0's own entry unused
    Clock::duration timeout_;
    Clock::duration check_every_;
    Clock::time_point checked_;
};

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
    int ranks_ = 0;
    std::atomic<int> lost_{-1};  // rank 0: a rank gone silent
    std::atomic<double> silent_for_{0};
    std::thread thread_;
};

}  // namespace mproc::detail
