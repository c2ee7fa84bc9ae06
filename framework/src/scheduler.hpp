#pragma once
// The scheduler: rank 0's pools and jobs. It takes commands from user threads (open a pool,
// submit a job, cancel) through the MPI thread, hands chunks to workers keeping a few in
// flight on each, receives results and passes them to the jobs' sinks. It runs on rank 0's
// MPI thread, whose loop polls it. See ARCHITECTURE.md for a task's whole journey.

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

#include "groups.hpp"
#include "mpi_thread.hpp"
#include "mproc/detail/job.hpp"
#include "mproc/detail/pool_ops.hpp"
#include "protocol.hpp"
#include "task_child.hpp"
#include "trace.hpp"
#include "transport.hpp"

namespace mproc::detail {

// Runs callbacks (Python's callback= / error_callback=) off the engine thread, in order.
class CallbackThread {
  public:
    ~CallbackThread();
    void post(std::function<void()> fn);

  private:
    void loop();

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

class Scheduler : public MpiThread::Service {
  public:
    // `trace` gets every chunk's result (it records them when MPROC_TRACE is set). Workers
    // in a group (`groups`) are reached through their leader.
    Scheduler(const Communicator& comm, const GroupLayout& groups, MpiThread& mpi_thread,
              Trace& trace);
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // ---- From user threads (each runs on the MPI thread) ----
    std::shared_ptr<PoolState> open_pool(int processes);
    void release_pool(const std::shared_ptr<PoolState>& pool);
    void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job);
    void cancel(std::shared_ptr<Job> job);
    void terminate(const std::shared_ptr<PoolState>& pool);
    // The pool's workers that have owed a result for at least `at_least` seconds, with how
    // long.
    std::vector<std::pair<int, double>> quiet_workers(const PoolState& pool, double at_least);
    // Runs `fn` on the callback thread.
    void post_callback(std::function<void()> fn) { callbacks_.post(std::move(fn)); }
    // Wakes the MPI thread if it sleeps (an imap reader freed room under its bound), and has
    // dispatch look at every worker again, since any of them may now take a chunk.
    void nudge() {
        look_at_all_.store(true, std::memory_order_release);
        mpi_thread_.nudge();
    }
    // Once every job has drained, finished() becomes true.
    void stop();

    // ---- On the MPI thread ----
    // Receives results and hands out chunks; true if anything happened.
    bool poll() override;
    // Half the time until the next result is due (zero: results come faster than a sleep);
    // nullopt with nothing out.
    std::optional<MpiThread::Patience> poll_again_in() const override;
    bool finished() const { return stopping_ && jobs_.empty(); }
    // Tells every worker to stop, and waits for them to take it.
    void stop_workers();

  private:
    struct InFlight {
        Job* job;
        std::uint64_t seq;
        std::uint64_t first;
        std::uint32_t count;
    };
    // One task message out on a worker, to be answered by one result message.
    struct Message {
        Send send;
        std::vector<InFlight> chunks;
    };
    struct Worker {
        int rank = 0;
        int pool = 0;        // 0: free
        int route = -1;      // the index in routes_ of its group's leader; -1: sent to directly
        bool leads = false;  // a group leader: runs no tasks, never in a pool
        // Since when it owes a result: its first message out was sent, or its last answer
        // came with more still out.
        std::chrono::steady_clock::time_point owed_since;
        std::deque<std::unique_ptr<Message>> out;  // oldest first; answered in this order
        std::vector<std::unique_ptr<Message>> spare;
        std::size_t chunks_out = 0;
        bool answered = false;    // in answered_ (it may have room for more)
        std::uint64_t stamp = 0;  // which entry of dues_ is its own: the one with this stamp
    };
    // When a worker's oldest message out is due, as poll_again_in works it out (dues_).
    struct Due {
        std::chrono::steady_clock::time_point at;
        int rank;
        std::uint64_t stamp;
        bool operator>(const Due& o) const { return at > o.at; }
    };
    // A group leader, and the messages for its members that one pass of dispatch gathers
    // (each a RouteHeader and the task message), sent as one.
    struct Route {
        int leader = 0;
        std::unique_ptr<Send> open;
        std::deque<std::unique_ptr<Send>> sending;
        std::vector<std::unique_ptr<Send>> spare;
    };
    struct PoolEntry {
        std::shared_ptr<PoolState> state;
        // Jobs with chunks still to hand out, oldest first. Shared ownership lets a retired
        // job linger here until dispatch passes it, instead of a search to remove it.
        std::deque<std::shared_ptr<Job>> queue;
    };

    bool dispatch();
    bool dispatch_local(PoolEntry& pool);
    // The time poll_again_in waits for `w` (its oldest message's estimate, and a slack).
    std::pair<std::chrono::steady_clock::duration, std::chrono::steady_clock::duration>
    patience_for(const Worker& w) const;
    // Records `w`'s oldest message out in dues_ (after it changed), dropping the entry it had.
    void note_due(Worker& w);
    // The entry of dues_ for `w`, which has a message out.
    Due due_of(const Worker& w) const;
    bool poll_results();
    // The result message in `data` from worker `w`, answering its oldest message out.
    void answer(Worker& w, const char* data, std::size_t size);
    // Sends each route's gathered messages to its leader.
    void send_routes();
    Job* next_job(PoolEntry& pool, int rank);
    std::uint32_t chunk_items(const Job& job, int workers) const;
    std::size_t in_flight_budget(const Job& job, int workers, bool routed) const;
    // Sends `w` one message of chunks if its in-flight budget has room; false if nothing
    // was sent.
    bool send_batch(PoolEntry& pool, Worker& w);
    // Appends the job's next chunk (header and inputs) to `out`; false when the input ended.
    bool pack_chunk(Job& job, int workers, Buffer& out, InFlight& record);
    void handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
                       const char* payload, std::size_t size, int rank);
    void retire_if_done(Job& job);
    bool live(const Job& job) const {
        return job.slot < jobs_.size() && jobs_[job.slot].get() == &job;
    }
    // Takes the jobs submit() queued, in order.
    void take_submitted();
    void cancel_job(Job& job, std::exception_ptr error);

    const Communicator& comm_;
    MpiThread& mpi_thread_;
    Trace& trace_;
    std::vector<Worker> workers_;  // workers_[r - 1] is rank r
    // Rank 0's loop turns many times per task, so no turn walks every worker: dispatch looks
    // at the workers that answered since its last pass (answered_), and poll_again_in at the
    // earliest of dues_ (a heap; an entry whose stamp is not its worker's is stale and
    // skipped). Whatever can give a worker room without an answer (a job submitted, its first
    // estimate, an imap reader's room, a cancel) sets look_at_all_ for one pass over all; and
    // one such pass runs every look_at_all_every_ anyway.
    std::vector<int> answered_;
    std::atomic<bool> look_at_all_{true};
    std::chrono::steady_clock::time_point looked_at_all_;
    const std::chrono::steady_clock::duration look_at_all_every_;
    mutable std::priority_queue<Due, std::vector<Due>, std::greater<>> dues_;
    std::deque<Route> routes_;  // a deque: a Route cannot be copied, and is never moved
    std::map<int, PoolEntry> pools_;
    // Live jobs, each at its `slot` (removed by swapping the last into its place).
    std::vector<std::shared_ptr<Job>> jobs_;
    std::unordered_map<TaskId, double> task_ns_;  // last known cost per item, by task
    int next_pool_id_ = 1;
    std::uint64_t next_job_id_ = 1;
    bool stopping_ = false;
    Buffer receive_;  // the result message being handled (one at a time)
    Buffer local_in_;
    Buffer local_out_;
    TaskChild local_child_;  // runs them for maxtasksperchild and isolate

    // Jobs submitted by user threads, not yet taken by the MPI thread: one post takes them
    // all, so a loop of apply_async costs one command, not one each.
    std::mutex submitted_mutex_;
    std::vector<std::pair<std::shared_ptr<PoolState>, std::shared_ptr<Job>>> submitted_;

    CallbackThread callbacks_;
};

}  // namespace mproc::detail
