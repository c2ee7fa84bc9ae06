#include "engine/pool_service.hpp"

#include <future>

#include "transport/wait.hpp"

namespace mproc::detail {

PoolService::PoolService(const Communicator& comm, const GroupLayout& layout,
                         MpiThread& mpi_thread, Trace& trace, CallbackThread& callbacks,
                         const std::vector<std::string>& hosts)
    : comm_(comm),
      mpi_thread_(mpi_thread),
      callbacks_(callbacks),
      hosts_(hosts),
      outbox_(comm),
      local_(Place{comm.rank(), hosts.empty() ? std::string() : hosts.front()}),
      dispatcher_(layout, outbox_, clock_, trace, local_) {}

void PoolService::check_running() const {
    if (shut_.load(std::memory_order_acquire))
        throw Error("mproc: the run has ended: a Pool works only inside mproc::run");
}

// ---- Engine ---------------------------------------------------------------------------------

std::shared_ptr<PoolState> PoolService::open_pool(int processes) {
    check_running();
    std::promise<std::shared_ptr<PoolState>> result;
    mpi_thread_.post([&] {
        try {
            Dispatcher::Opened opened = dispatcher_.open_pool(processes);
            auto state = std::make_shared<PoolState>(this, callbacks_);
            state->id = opened.id;
            state->ranks = std::move(opened.ranks);
            result.set_value(std::move(state));
        } catch (...) {
            result.set_exception(std::current_exception());
        }
    });
    return result.get_future().get();
}

void PoolService::release_pool(const PoolState& pool) {
    if (shut_.load(std::memory_order_acquire)) return;
    mpi_thread_.post([this, id = pool.id] { dispatcher_.release_pool(id); });
}

void PoolService::submit(const PoolState& pool, std::shared_ptr<Job> job) {
    check_running();
    bool first;
    {
        std::lock_guard lock(submitted_mutex_);
        first = submitted_.empty();
        submitted_.emplace_back(pool.id, std::move(job));
    }
    if (first) mpi_thread_.post([this] { take_submitted(); });
}

void PoolService::take_submitted() {
    std::vector<std::pair<int, std::shared_ptr<Job>>> batch;
    {
        std::lock_guard lock(submitted_mutex_);
        batch.swap(submitted_);
    }
    for (auto& [pool, job] : batch) dispatcher_.submit(pool, std::move(job));
}

void PoolService::cancel(std::shared_ptr<Job> job) {
    if (shut_.load(std::memory_order_acquire)) return;
    mpi_thread_.post([this, job = std::move(job)] {
        dispatcher_.cancel(*job, std::make_exception_ptr(PoolClosed("the imap reader went away")));
    });
}

void PoolService::terminate(const PoolState& pool) {
    check_running();
    mpi_thread_.call([&] { dispatcher_.terminate(pool.id); });
}

std::vector<QuietWorker> PoolService::quiet_workers(const PoolState& pool, double at_least) {
    check_running();
    std::vector<std::pair<int, double>> owed;
    mpi_thread_.call([&] { owed = dispatcher_.quiet_workers(pool.id, at_least); });
    std::vector<QuietWorker> quiet;
    for (auto [rank, seconds] : owed)
        quiet.push_back({rank,
                         static_cast<std::size_t>(rank) < hosts_.size()
                             ? hosts_[static_cast<std::size_t>(rank)]
                             : std::string(),
                         seconds});
    return quiet;
}

void PoolService::room() {
    if (shut_.load(std::memory_order_acquire)) return;
    room_.store(true, std::memory_order_release);
    mpi_thread_.nudge();
}

void PoolService::stop() {
    mpi_thread_.post([this] { stopping_ = true; });
}

// ---- On the MPI thread --------------------------------------------------------------------------

bool PoolService::poll() {
    if (room_.exchange(false, std::memory_order_acq_rel)) dispatcher_.look_at_all();
    // Not forever: dispatch must refill workers too.
    bool progressed = receive_arrived(comm_.get(), kTagResult, receive_, 64, [&](Arrival arrival) {
        dispatcher_.on_results(arrival.source, receive_.data(), receive_.size());
    });
    progressed |= dispatcher_.dispatch();
    return progressed;
}

std::optional<MpiThread::Patience> PoolService::poll_again_in() const {
    const auto wait = dispatcher_.poll_again_in();
    if (!wait) return std::nullopt;
    return MpiThread::Patience{*wait, true};
}

void PoolService::stop_workers() {
    Sends& sends = outbox_.sends();
    for (int rank : dispatcher_.direct_ranks()) sends.start(comm_.get(), rank, kTagControl, {});
    // Wait politely: a worker may still be finishing a long chunk whose result is dropped;
    // results of cancelled chunks may still arrive, and are received and dropped.
    Buffer drop;
    wait_until([&] {
        while (try_receive(comm_.get(), MPI_ANY_SOURCE, kTagResult, drop)) {
        }
        return sends.drained();
    });
}

}  // namespace mproc::detail
