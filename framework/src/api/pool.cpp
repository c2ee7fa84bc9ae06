// Pool's out-of-line members (mproc/pool.hpp), and the one lookup of rank 0's pool engine.

#include "mproc/pool.hpp"

#include "base/interrupt.hpp"
#include "base/task_child.hpp"
#include "runtime/runtime_state.hpp"
#include "transport/mpi_thread.hpp"

namespace mproc {

namespace detail {

std::shared_ptr<Engine> rank0_engine() {
    constexpr const char* kRank0Only = "mproc: a Pool can only be used inside mproc::run on rank 0";
    // Refused the same way at every rank count: at one rank a target runs on a thread of
    // rank 0 and a task on its MPI thread, where a Pool would seem to work, or would wait for
    // the very thread it runs on.
    if (in_process_context() || MpiThread::here() != nullptr)
        throw Error(
            "mproc: a Pool is made by the main function on rank 0, not inside a Process target "
            "or a Pool task: make it there, and pass work and results through a Queue");
    Runtime* rt = Runtime::current();
    if (rt == nullptr) throw Error(kRank0Only);
    return rt->pool_engine(kRank0Only);  // throws the same on a worker rank
}

}  // namespace detail

Pool::Pool(PoolOptions options)
    : pool_(detail::rank0_engine()->open_pool(
          life_.checked_size(options.processes, "processes", "every free worker rank"))),
      child_tasks_(options.maxtasksperchild > 0 ? options.maxtasksperchild
                   : options.isolate            ? detail::kChildForever
                                                : 0) {}

Pool::~Pool() {
    life_.end([this] { join(); });
    try {
        release();
    } catch (...) {
    }
}

std::vector<Pool::QuietWorker> Pool::quiet_workers(double at_least) const {
    if (pool_->ranks.empty()) return {};  // tasks run on rank 0 itself
    return pool_->engine().quiet_workers(*pool_, at_least);
}

void Pool::terminate() {
    life_.terminate();
    pool_->engine().terminate(*pool_);
}

void Pool::join() {
    life_.check_joinable();
    pool_->wait_settled();
    release();  // as in Python, a joined pool's workers are free for the next one
}

void Pool::release() {
    if (released_) return;
    released_ = true;
    pool_->engine().release_pool(*pool_);
}

std::shared_ptr<detail::Job> Pool::submit_job(const detail::TaskEntry& entry,
                                              std::unique_ptr<detail::ChunkSource> source,
                                              std::unique_ptr<detail::ResultSink> sink,
                                              std::size_t chunksize, JobOptions options) {
    auto job = std::make_shared<detail::Job>();
    job->task = entry.id;
    job->task_name = entry.name;
    job->source = std::move(source);
    job->sink = std::move(sink);
    job->chunksize = static_cast<std::uint32_t>(chunksize);
    job->child_tasks = options.in_rank ? 0 : child_tasks_;
    job->pinned_rank = options.pinned_rank;
    job->bound = std::move(options.bound);
    pool_->engine().submit(*pool_, job);
    return job;
}

std::shared_ptr<detail::ReadBound> Pool::read_bound(std::size_t chunksize) const {
    // Enough chunks to keep every worker's hands full twice over, and no more: this bounds
    // rank 0's memory however long the input is. Tiny fixed chunks get a few tens of
    // thousands of items' worth, so a reader that naps does not stall the workers; automatic
    // chunks (chunksize 0) are each about a millisecond of work already.
    const auto workers = static_cast<std::uint64_t>(pool_->processes());
    const std::uint64_t by_workers = 32 * workers + 16;
    return std::make_shared<detail::ReadBound>(
        chunksize == 0 ? by_workers : std::max<std::uint64_t>(by_workers, 65536 / chunksize),
        // And in items, since automatic chunks grow large for tiny tasks: some tens of
        // thousands, never less than a chunk per worker.
        std::max<std::uint64_t>(65536, 2 * chunksize * workers));
}

}  // namespace mproc
