#pragma once
// The engine: rank 0's main thread, the only thread of rank 0 that calls MPI. It takes
// commands from user threads (open a pool, submit a job, cancel), hands chunks to workers
// keeping a few in flight on each, receives results and passes them to the jobs' sinks.
// See ARCHITECTURE.md for a task's whole journey.

#include <mpi.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backoff.hpp"
#include "mpi.hpp"
#include "mproc/detail/pool_ops.hpp"
#include "mproc/detail/job.hpp"
#include "protocol.hpp"
#include "queues.hpp"

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

class Engine {
  public:
    explicit Engine(const Communicator& comm);
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;
    ~Engine();

    // Runs until stop() was called and every job has drained, then stops the workers.
    void loop();
    void stop();

    // Called from user threads.
    std::shared_ptr<PoolState> open_pool(int processes);
    void release_pool(const std::shared_ptr<PoolState>& pool);
    void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job);
    void cancel(std::shared_ptr<Job> job);
    void terminate(const std::shared_ptr<PoolState>& pool);
    void nudge();
    // Runs `fn` on the engine thread and waits for it, rethrowing what it threw: how rank 0's
    // other threads make MPI calls (shared objects' atomics).
    void call(const std::function<void()>& fn);
    // The pool's workers that have owed a result for at least `at_least` seconds, with how
    // long; from any thread.
    std::vector<std::pair<int, double>> quiet_workers(const PoolState& pool, double at_least);
    // Queues `fn` to run on the engine thread like call(), without waiting for it.
    void post_call(std::function<void()> fn);
    // Runs the pending call()s; on the engine thread only. True if there were any.
    bool run_calls();
    // Rank 0's queues and pipes; engine thread only.
    QueueService& queues() { return queues_; }
    void post_callback(std::function<void()> fn) { callbacks_.post(std::move(fn)); }

    static Engine* current() noexcept { return current_.load(std::memory_order_acquire); }

  private:
    struct InFlight {
        Job* job;
        std::uint64_t seq;
        std::uint64_t first;
        std::uint32_t count;
    };
    // One task message out on a worker, to be answered by one result message.
    struct Message {
        Buffer buffer;
        MPI_Request request = MPI_REQUEST_NULL;
        std::vector<InFlight> chunks;
    };
    struct Worker {
        int rank = 0;
        int pool = 0;  // 0: free
        // Since when it owes a result: its first message out was sent, or its last answer
        // came with more still out.
        std::chrono::steady_clock::time_point owed_since;
        std::deque<std::unique_ptr<Message>> out;  // oldest first; answered in this order
        std::vector<std::unique_ptr<Message>> spare;
        std::size_t chunks_out = 0;
    };
    struct PoolEntry {
        std::shared_ptr<PoolState> state;
        // Jobs with chunks still to hand out, oldest first. Shared ownership lets a retired
        // job linger here until dispatch passes it, instead of a search to remove it.
        std::deque<std::shared_ptr<Job>> queue;
    };

    // Runs `command` on the engine thread.
    void post(std::function<void()> command);
    bool run_commands();
    bool dispatch();
    bool dispatch_local(PoolEntry& pool);
    bool poll_results();
    Job* next_job(PoolEntry& pool, int rank);
    std::uint32_t chunk_items(const Job& job, int workers) const;
    std::size_t window_for(const Job& job, int workers) const;
    // Sends `w` one message of chunks if its window has room; false if nothing was sent.
    bool send_batch(PoolEntry& pool, Worker& w);
    // Appends the job's next chunk (header and inputs) to `out`; false when the input ended.
    bool pack_chunk(Job& job, int workers, Buffer& out, InFlight& record);
    void handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
                       const char* payload, std::size_t size);
    void retire_if_done(Job& job);
    void cancel_job(Job& job, std::exception_ptr error);
    void wait(std::chrono::microseconds d);
    std::optional<std::chrono::nanoseconds> next_result_in() const;
    std::chrono::microseconds until_queue_deadline(std::chrono::microseconds d) const;
    void enqueue(std::vector<std::function<void()>>& queue, std::atomic<bool>& pending,
                 std::function<void()> fn);
    bool drain(std::vector<std::function<void()>>& queue, std::atomic<bool>& pending);
    void stop_workers();

    static std::atomic<Engine*> current_;

    const Communicator& comm_;
    std::vector<Worker> workers_;  // workers_[r - 1] is rank r
    std::map<int, PoolEntry> pools_;
    std::unordered_map<Job*, std::shared_ptr<Job>> jobs_;
    std::unordered_map<TaskId, double> task_ns_;  // last known cost per item, by task
    int next_pool_id_ = 1;
    std::uint64_t next_job_id_ = 1;
    bool stopping_ = false;
    Buffer receive_;  // the result message being handled (one at a time)
    Buffer local_in_;
    Buffer local_out_;

    std::mutex commands_mutex_;
    std::condition_variable commands_cv_;
    std::vector<std::function<void()>> commands_;
    std::atomic<bool> has_commands_{false};
    // call()s: MPI operations for other threads. Kept apart from commands because they are
    // also run from inside a wait on this thread (run_calls), when a task running here at one
    // rank waits for a lock that the user's thread must release through the engine.
    std::vector<std::function<void()>> calls_;  // guarded by commands_mutex_
    std::atomic<bool> has_calls_{false};
    std::chrono::microseconds idle_sleep_;  // the longest the engine sleeps
    QueueService queues_;
    std::atomic<bool> sleeping_{false};
    bool nudged_ = false;  // guarded by commands_mutex_

    CallbackThread callbacks_;
};

}  // namespace mproc::detail
