#pragma once
// The pool service: rank 0's Dispatcher on its MPI thread, and the Engine the Pools call. It
// takes the Pools' calls from user threads onto the MPI thread, receives result messages and
// hands their bytes to the dispatcher, and sends what the dispatcher puts in its outbox. What
// to send, where and when is the dispatcher's (dispatcher.hpp); this is the MPI around it.
// See ARCHITECTURE.md for a task's whole trip.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/execute.hpp"
#include "base/groups.hpp"
#include "base/trace.hpp"
#include "engine/dispatcher.hpp"
#include "mproc/detail/engine.hpp"
#include "transport/mpi_thread.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

class PoolService final : public MpiThread::Service, public Engine {
  public:
    // `hosts` by rank, as quiet workers are named; `callbacks` is where the Pools' callbacks
    // run; `trace` gets every chunk's result.
    PoolService(const Communicator& comm, const GroupLayout& layout, MpiThread& mpi_thread,
                Trace& trace, CallbackThread& callbacks, const std::vector<std::string>& hosts);
    PoolService(const PoolService&) = delete;
    PoolService& operator=(const PoolService&) = delete;

    // ---- Engine: from user threads (each runs on the MPI thread) ----
    std::shared_ptr<PoolState> open_pool(int processes) override;
    void release_pool(const PoolState& pool) override;
    void submit(const PoolState& pool, std::shared_ptr<Job> job) override;
    void cancel(std::shared_ptr<Job> job) override;
    void terminate(const PoolState& pool) override;
    std::vector<QuietWorker> quiet_workers(const PoolState& pool, double at_least) override;
    void room() override;

    // Once every job has drained, finished() becomes true.
    void stop();
    // The run has ended: from now on the Engine's calls throw or do nothing.
    void shut() { shut_.store(true, std::memory_order_release); }

    // ---- On the MPI thread ----
    // Receives results and hands out chunks; true if anything happened.
    bool poll() override;
    // Until the next result is due (the dispatcher's estimate): a sure wait.
    std::optional<MpiThread::Patience> poll_again_in() const override;
    bool finished() const { return stopping_ && dispatcher_.idle(); }
    // Tells every worker to stop, and waits for them to take it.
    void stop_workers();

  private:
    // The outbox the dispatcher packs into: its messages go out as MPI task messages.
    class MpiOutbox final : public Outbox {
      public:
        explicit MpiOutbox(const Communicator& comm) : comm_(comm) {}
        Buffer take_buffer() override { return sends_.take_buffer(); }
        void send(int rank, Buffer message) override {
            sends_.start(comm_.get(), rank, kTagTask, std::move(message));
        }
        Sends& sends() { return sends_; }

      private:
        const Communicator& comm_;
        Sends sends_;
    };

    // Throws when the run has ended.
    void check_running() const;
    // Takes the jobs submit() queued, in order.
    void take_submitted();

    const Communicator& comm_;
    MpiThread& mpi_thread_;
    CallbackThread& callbacks_;
    const std::vector<std::string>& hosts_;
    MpiOutbox outbox_;
    SteadyClock clock_;
    ChunkRunner local_;  // a pool's chunks when it has no worker ranks
    Dispatcher dispatcher_;
    Buffer receive_;  // the result message being handled (one at a time)
    bool stopping_ = false;
    std::atomic<bool> shut_{false};
    // An imap reader freed room: the next poll has the dispatcher look at every worker.
    std::atomic<bool> room_{false};
    // Jobs submitted by user threads, not yet taken by the MPI thread: one post takes them
    // all, so a loop of apply_async costs one command, not one each.
    std::mutex submitted_mutex_;
    std::vector<std::pair<int, std::shared_ptr<Job>>> submitted_;
};

}  // namespace mproc::detail
