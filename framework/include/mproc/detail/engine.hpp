#pragma once
// What a pool front (Pool, ThreadPool) shares with what runs its work: the pool's state, the
// count of its work not yet settled, the thread its callbacks run on, and, for a Pool, rank
// 0's pool engine (framework/src/engine/pool_service.*). A Pool finds the engine once, when it
// is made (rank0_engine), and holds it from then on; its results and imap cursors reach it
// through the pool's state.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mproc/detail/job.hpp"

namespace mproc::detail {

// Runs callbacks (Python's callback= / error_callback=) in the order they are posted, on a
// thread of its own started at the first: never on the thread that delivers results. Its
// destructor runs what was posted, then ends the thread.
class CallbackThread {
  public:
    CallbackThread() = default;
    ~CallbackThread();
    CallbackThread(const CallbackThread&) = delete;
    CallbackThread& operator=(const CallbackThread&) = delete;

    void post(std::function<void()> fn);

  private:
    void loop();

    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

class Engine;

// A worker that has owed a pool a result for a while: a task running long, or a rank that is
// stopped or lost.
struct QuietWorker {
    int rank = 0;
    std::string host;
    double seconds = 0;
};

// One pool, as its front and what serves it share.
class PoolState {
  public:
    PoolState(Engine* engine, CallbackThread& callbacks) : engine_(engine), callbacks_(callbacks) {}

    int id = 0;
    std::vector<int> ranks;  // the worker ranks it holds; empty: it runs on rank 0 (or threads)

    int processes() const { return ranks.empty() ? 1 : static_cast<int>(ranks.size()); }
    // Rank 0's pool engine; an Error for a ThreadPool, which has none.
    Engine& engine() const;
    // Runs `fn` on the pool's callback thread.
    void post_callback(std::function<void()> fn) { callbacks_.post(std::move(fn)); }

    // Work not yet settled (result set and callbacks run): added by a Settlement when it is
    // made, taken away when it settles; join() waits for none.
    void wait_settled();

  private:
    friend class Settlement;
    void add_outstanding();
    void settle_one();

    Engine* const engine_;
    CallbackThread& callbacks_;
    std::mutex mutex_;
    std::condition_variable settled_;
    std::uint64_t outstanding_ = 0;
};

// One piece of a pool's work, outstanding from when this is made until settle() (the first
// call counts): what an AsyncResult's state, an imap's buffer and a ThreadPool's imap chunk
// hold, so that the pool's count is kept in this one place.
class Settlement {
  public:
    explicit Settlement(std::shared_ptr<PoolState> pool) : pool_(std::move(pool)) {
        if (pool_) pool_->add_outstanding();
    }
    // Settled by then: what is let go unsettled can no longer be (a job that never ran).
    ~Settlement() { settle(); }
    Settlement(const Settlement&) = delete;
    Settlement& operator=(const Settlement&) = delete;

    void settle() {
        if (pool_ && !settled_.exchange(true, std::memory_order_acq_rel)) pool_->settle_one();
    }
    PoolState& pool() const { return *pool_; }

  private:
    std::shared_ptr<PoolState> pool_;
    std::atomic<bool> settled_{false};
};

// Rank 0's pool engine, as a Pool calls it; safe from any thread of rank 0. Once the run has
// ended, calls that would start work throw Error, and the others do nothing.
class Engine {
  public:
    virtual ~Engine() = default;
    // Reserves `processes` free worker ranks (0: every free one). Throws ResourceError.
    virtual std::shared_ptr<PoolState> open_pool(int processes) = 0;
    // Hands the pool's ranks back; work still out on them is drained and dropped.
    virtual void release_pool(const PoolState& pool) = 0;
    virtual void submit(const PoolState& pool, std::shared_ptr<Job> job) = 0;
    // Stops dispatching a job's remaining chunks; results still in flight are dropped.
    virtual void cancel(std::shared_ptr<Job> job) = 0;
    // Cancels every job of the pool and aborts their results with PoolClosed.
    virtual void terminate(const PoolState& pool) = 0;
    // The pool's workers owing a result for at least `at_least` seconds.
    virtual std::vector<QuietWorker> quiet_workers(const PoolState& pool, double at_least) = 0;
    // An imap reader freed room under its bound: the engine looks at every worker again.
    virtual void room() = 0;
};

// The engine of the run this thread is in: the one lookup a Pool makes, when it is made.
// Throws Error outside mproc::run, off rank 0, and in a Process target or a task (where a
// Pool would wait for the very thread it runs on).
std::shared_ptr<Engine> rank0_engine();

}  // namespace mproc::detail
