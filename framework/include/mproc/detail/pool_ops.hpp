#pragma once
// The calls that Pool templates make into the scheduler (framework/src/pool_ops.cpp). All of
// them are safe from any thread of rank 0; the scheduler itself runs on rank 0's MPI thread.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "mproc/detail/job.hpp"

namespace mproc::detail {

// What a Pool object and the scheduler share.
class PoolState {
  public:
    int id = 0;
    std::vector<int> ranks;  // the worker ranks this pool holds; empty: runs on rank 0

    int processes() const { return ranks.empty() ? 1 : static_cast<int>(ranks.size()); }

    // Submitted work not yet settled (result set and callbacks run).
    void add_outstanding();
    void settle_one();
    void wait_settled();

  private:
    std::mutex mutex_;
    std::condition_variable settled_;
    std::uint64_t outstanding_ = 0;
};

// Reserves `processes` free worker ranks (0: every free one). Throws ResourceError.
std::shared_ptr<PoolState> open_pool(int processes);
// Hands the pool's ranks back; work still out on them is drained and dropped.
void release_pool(const std::shared_ptr<PoolState>& pool);
void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job);
// Stops dispatching a job's remaining chunks; results still in flight are dropped.
void cancel(std::shared_ptr<Job> job);
// Cancels every job of the pool and aborts their results with PoolClosed.
void terminate(const std::shared_ptr<PoolState>& pool);
// The pool's workers owing a result for at least `at_least` seconds: (rank, seconds).
std::vector<std::pair<int, double>> quiet_workers(const PoolState& pool, double at_least);
// Runs `fn` on the callback thread (never on the MPI thread).
void post_callback(std::function<void()> fn);
// Wakes the scheduler if it sleeps (an imap reader freed room under its bound).
void nudge_scheduler();

}  // namespace mproc::detail
