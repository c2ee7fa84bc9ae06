#include "mproc/pool.hpp"

#include "runtime_state.hpp"
#include "task_child.hpp"

namespace mproc {

namespace {
int checked_processes(int processes) {
    if (processes < 0)
        throw ValueError("Pool(" + std::to_string(processes) +
                         "): the number of processes must be at least 1, or 0 for every free "
                         "worker rank");
    return processes;
}
}  // namespace

Pool::Pool(PoolOptions options)
    : pool_(detail::open_pool(checked_processes(options.processes))),
      child_tasks_(options.maxtasksperchild > 0 ? options.maxtasksperchild
                   : options.isolate            ? detail::kChildForever
                                                : 0) {}

Pool::~Pool() {
    try {
        if (!terminated_) {
            close();
            join();
        }
        release();
    } catch (...) {
        // A destructor must not throw; the scheduler is gone only if run() is already ending.
    }
}

std::vector<Pool::QuietWorker> Pool::quiet_workers(double at_least) const {
    std::vector<QuietWorker> quiet;
    if (pool_->ranks.empty()) return quiet;  // tasks run on rank 0 itself
    const auto& hosts = detail::runtime_info().hosts;
    for (auto [rank, seconds] : detail::quiet_workers(*pool_, at_least))
        quiet.push_back({rank,
                         static_cast<std::size_t>(rank) < hosts.size()
                             ? hosts[static_cast<std::size_t>(rank)]
                             : std::string(),
                         seconds});
    return quiet;
}

void Pool::check_open() const {
    if (terminated_) throw PoolClosed("Pool: the pool was terminated");
    if (closed_) throw PoolClosed("Pool: the pool is closed");
}

void Pool::terminate() {
    closed_ = terminated_ = true;
    detail::terminate(pool_);
}

void Pool::join() {
    if (!closed_) throw Error("Pool::join: call close() or terminate() first");
    pool_->wait_settled();
    release();  // as in Python, a joined pool's workers are free for the next one
}

void Pool::release() {
    if (released_) return;
    released_ = true;
    detail::release_pool(pool_);
}

std::shared_ptr<detail::Job> Pool::make_job(const detail::TaskEntry& entry,
                                            std::unique_ptr<detail::ChunkSource> source,
                                            std::size_t chunksize) {
    auto job = std::make_shared<detail::Job>();
    job->task = entry.id;
    job->task_name = entry.name;
    job->source = std::move(source);
    job->chunksize = static_cast<std::uint32_t>(chunksize);
    job->child_tasks = child_tasks_;
    return job;
}

void Pool::submit_job(const detail::TaskEntry& entry, std::unique_ptr<detail::ChunkSource> source,
                      std::unique_ptr<detail::ResultSink> sink, std::size_t chunksize,
                      int pinned_rank) {
    auto job = make_job(entry, std::move(source), chunksize);
    job->sink = std::move(sink);
    job->pinned_rank = pinned_rank;
    pool_->add_outstanding();
    detail::submit(pool_, std::move(job));
}

void Pool::bound_stream(detail::Job& job, std::size_t chunksize) const {
    // Enough chunks to keep every worker's hands full twice over, and no more: this bounds
    // rank 0's memory however long the input is. Tiny fixed chunks get a few tens of
    // thousands of items' worth, so a reader that naps does not stall the workers; automatic
    // chunks (chunksize 0) are each about a millisecond of work already.
    const auto workers = static_cast<std::uint64_t>(pool_->processes());
    const std::uint64_t by_workers = 32 * workers + 16;
    job.bound_chunks =
        chunksize == 0 ? by_workers : std::max<std::uint64_t>(by_workers, 65536 / chunksize);
    // And in items, since automatic chunks grow large for tiny tasks: some tens of thousands,
    // never less than a chunk per worker.
    job.bound_items = std::max<std::uint64_t>(65536, 2 * chunksize * workers);
}

}  // namespace mproc
