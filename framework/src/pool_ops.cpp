// The calls Pool templates make (mproc/detail/pool_ops.hpp), reaching rank 0's scheduler
// through the runtime.

#include "mproc/detail/pool_ops.hpp"

#include "interrupt.hpp"
#include "mpi_thread.hpp"
#include "runtime_state.hpp"
#include "scheduler.hpp"

namespace mproc::detail {
namespace {

constexpr const char* kRank0Only = "mproc: a Pool can only be used inside mproc::run on rank 0";

Scheduler& scheduler() {
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw Error(kRank0Only);
    return rt->scheduler(kRank0Only);  // throws the same on a worker rank
}

// For the calls that may come after the run (or never had one): nothing to do then.
Scheduler* scheduler_if_running() noexcept {
    Runtime* rt = Runtime::current();
    if (rt == nullptr || rt->comm().rank() != 0) return nullptr;
    return &rt->scheduler(kRank0Only);
}

}  // namespace

void PoolState::add_outstanding() {
    std::lock_guard lock(mutex_);
    ++outstanding_;
}

void PoolState::settle_one() {
    bool idle;
    {
        std::lock_guard lock(mutex_);
        idle = --outstanding_ == 0;
    }
    if (idle) settled_.notify_all();
}

void PoolState::wait_settled() {
    std::unique_lock lock(mutex_);
    settled_.wait(lock, [this] { return outstanding_ == 0; });
}

std::shared_ptr<PoolState> open_pool(int processes) {
    // Refused the same way at every rank count: at one rank a target runs on a thread of
    // rank 0 and a task on its MPI thread, where a Pool would seem to work, or would wait for
    // the very thread it runs on.
    if (in_process_context() || MpiThread::here() != nullptr)
        throw Error(
            "mproc: a Pool is made by the main function on rank 0, not inside a Process target "
            "or a Pool task: make it there, and pass work and results through a Queue");
    return scheduler().open_pool(processes);
}
void release_pool(const std::shared_ptr<PoolState>& pool) {
    scheduler().release_pool(pool);
}
void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job) {
    scheduler().submit(pool, std::move(job));
}
void cancel(std::shared_ptr<Job> job) {
    if (Scheduler* s = scheduler_if_running()) s->cancel(std::move(job));
}
void terminate(const std::shared_ptr<PoolState>& pool) {
    scheduler().terminate(pool);
}
std::vector<std::pair<int, double>> quiet_workers(const PoolState& pool, double at_least) {
    return scheduler().quiet_workers(pool, at_least);
}
void post_callback(std::function<void()> fn) {
    scheduler().post_callback(std::move(fn));
}
void nudge_scheduler() {
    if (Scheduler* s = scheduler_if_running()) s->nudge();
}

}  // namespace mproc::detail
