#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <iostream>
#include <sstream>

#include "execute.hpp"
#include "runtime_state.hpp"

namespace mproc::detail {

std::atomic<Engine*> Engine::current_{nullptr};

namespace {

// A chunk should take about this long on a worker: long enough that per-chunk overhead
// vanishes, short enough that the tail of a map stays balanced.
constexpr double kTargetChunkNs = 1e6;
constexpr std::uint32_t kMaxChunkItems = 1u << 20;

Engine& engine() {
    Engine* e = Engine::current();
    if (e == nullptr) throw Error("mproc: a Pool can only be used inside mproc::run on rank 0");
    return *e;
}

}  // namespace

// ---- PoolState -------------------------------------------------------------------------

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

// ---- the calls pool.hpp makes ------------------------------------------------------------

std::shared_ptr<PoolState> open_pool(int processes) { return engine().open_pool(processes); }
void release_pool(const std::shared_ptr<PoolState>& pool) { engine().release_pool(pool); }
void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job) {
    engine().submit(pool, std::move(job));
}
void cancel(std::shared_ptr<Job> job) {
    if (Engine* e = Engine::current()) e->cancel(std::move(job));
}
void terminate(const std::shared_ptr<PoolState>& pool) { engine().terminate(pool); }
void post_callback(std::function<void()> fn) { engine().post_callback(std::move(fn)); }
void nudge_engine() {
    if (Engine* e = Engine::current()) e->nudge();
}

void print_callback_exception(std::exception_ptr e) noexcept {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        std::cerr << "mproc: a Pool callback threw " << demangle(typeid(ex).name()) << ": "
                  << ex.what() << "\n";
    } catch (...) {
        std::cerr << "mproc: a Pool callback threw a non-standard exception\n";
    }
}

// ---- CallbackThread ----------------------------------------------------------------------

CallbackThread::~CallbackThread() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void CallbackThread::post(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(fn));
        if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_one();
}

void CallbackThread::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything posted has run
        auto fn = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        fn();
        lock.lock();
    }
}

// ---- Engine: construction and commands -----------------------------------------------------

Engine::Engine(const Communicator& comm) : comm_(comm), workers_(comm.size() - 1) {
    for (int r = 1; r < comm.size(); ++r) workers_[r - 1].rank = r;
    current_.store(this, std::memory_order_release);
}

Engine::~Engine() { current_.store(nullptr, std::memory_order_release); }

void Engine::post(std::function<void()> command) {
    {
        std::lock_guard lock(commands_mutex_);
        commands_.push_back(std::move(command));
        has_commands_.store(true, std::memory_order_release);
    }
    commands_cv_.notify_one();
}

void Engine::nudge() {
    if (sleeping_.load(std::memory_order_acquire)) commands_cv_.notify_one();
}

bool Engine::run_commands() {
    if (!has_commands_.load(std::memory_order_acquire)) return false;
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(commands_mutex_);
        batch.swap(commands_);
        has_commands_.store(false, std::memory_order_release);
    }
    for (auto& c : batch) c();
    return true;
}

void Engine::wait(std::chrono::microseconds d) {
    std::unique_lock lock(commands_mutex_);
    sleeping_.store(true, std::memory_order_release);
    commands_cv_.wait_for(lock, d, [this] { return has_commands_.load(); });
    sleeping_.store(false, std::memory_order_release);
}

std::shared_ptr<PoolState> Engine::open_pool(int processes) {
    std::promise<std::shared_ptr<PoolState>> result;
    post([&] {
        try {
            auto state = std::make_shared<PoolState>();
            state->id = next_pool_id_++;
            if (!workers_.empty()) {
                std::vector<int> free;
                for (const Worker& w : workers_)
                    if (w.pool == 0) free.push_back(w.rank);
                const int want = processes > 0 ? processes : static_cast<int>(free.size());
                if (want == 0 || want > static_cast<int>(free.size())) {
                    std::ostringstream msg;
                    msg << "Pool(" << processes << "): " << free.size() << " of "
                        << workers_.size() << " worker ranks are free";
                    if (want > static_cast<int>(workers_.size()))
                        msg << "; start at least " << want + 1 << " ranks (mpirun -np "
                            << want + 1 << ")";
                    else
                        msg << "; the others are held by other pools";
                    throw ResourceError(msg.str());
                }
                free.resize(static_cast<std::size_t>(want));
                for (int r : free) workers_[r - 1].pool = state->id;
                state->ranks = std::move(free);
            }
            pools_[state->id].state = state;
            result.set_value(std::move(state));
        } catch (...) {
            result.set_exception(std::current_exception());
        }
    });
    return result.get_future().get();
}

void Engine::release_pool(const std::shared_ptr<PoolState>& pool) {
    post([this, pool] {
        for (int r : pool->ranks) workers_[r - 1].pool = 0;
        pools_.erase(pool->id);
    });
}

void Engine::submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job) {
    post([this, pool, job = std::move(job)]() mutable {
        job->id = next_job_id_++;
        job->pool_id = pool->id;
        auto it = pools_.find(pool->id);
        if (it == pools_.end()) {
            job->sink->abort(std::make_exception_ptr(PoolClosed("the pool was released")));
            return;
        }
        it->second.queue.push_back(job.get());
        jobs_.emplace(job.get(), std::move(job));
    });
}

void Engine::cancel(std::shared_ptr<Job> job) {
    post([this, job = std::move(job)] {
        if (jobs_.count(job.get()) != 0)
            cancel_job(*job, std::make_exception_ptr(PoolClosed("the imap reader went away")));
    });
}

void Engine::terminate(const std::shared_ptr<PoolState>& pool) {
    std::promise<void> done;
    post([&] {
        std::vector<Job*> victims;
        for (auto& [raw, job] : jobs_)
            if (raw->pool_id == pool->id) victims.push_back(raw);
        for (Job* j : victims)
            cancel_job(*j, std::make_exception_ptr(PoolClosed("the pool was terminated")));
        done.set_value();
    });
    done.get_future().get();
}

void Engine::cancel_job(Job& job, std::exception_ptr error) {
    if (!job.cancelled && !job.failed) job.sink->abort(std::move(error));
    job.cancelled = true;
    retire_if_done(job);
}

void Engine::stop() {
    post([this] { stopping_ = true; });
}

// ---- Engine: the loop ----------------------------------------------------------------------

void Engine::loop() {
    tighten_timer_slack();
    Backoff backoff(std::chrono::microseconds(20), std::chrono::microseconds(200));
    for (;;) {
        bool progressed = run_commands();
        progressed |= poll_results();
        progressed |= dispatch();
        if (stopping_ && jobs_.empty()) break;
        if (progressed) {
            backoff.reset();
            continue;
        }
        const auto expected = next_result_in();
        if (!expected) {
            // Nothing out on workers: sleep until a command arrives (or a millisecond passes,
            // so MPI keeps being progressed).
            wait(std::chrono::microseconds(1000));
            backoff.reset();
            continue;
        }
        // Workers hold kInFlight chunks each, so rank 0 may sleep for most of the time the
        // chunks in hand take without any worker running dry. When results come faster
        // than a sleep can be timed, it polls, yielding the core between polls. A chunk far
        // over its estimate falls back to ordinary backoff.
        const auto budget = *expected * (kInFlight - 1) / 2;
        backoff.mark_idle();
        const bool overdue = backoff.idle_for() > std::max<std::chrono::nanoseconds>(
                                                      4 * *expected, std::chrono::milliseconds(1));
        if (budget < std::chrono::microseconds(50) && !overdue) {
            sched_yield();
            continue;
        }
        const auto cap = overdue ? Backoff::kMaxSleep
                                 : std::chrono::duration_cast<std::chrono::microseconds>(budget);
        backoff.pause([this](std::chrono::microseconds d) { wait(d); }, cap);
    }
    stop_workers();
}

// How long until the next result should arrive: the shortest estimated duration of a chunk
// at the head of a worker's queue. Zero when no estimate exists; nullopt with nothing out.
std::optional<std::chrono::nanoseconds> Engine::next_result_in() const {
    std::optional<std::chrono::nanoseconds> best;
    for (const Worker& w : workers_) {
        if (w.in_flight.empty()) continue;
        const InFlight& f = w.in_flight.front();
        const double ns = f.job->ns_per_item > 0 ? f.job->ns_per_item * f.count : 0;
        const auto d = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
        if (!best || d < *best) best = d;
    }
    return best;
}

void Engine::stop_workers() {
    std::vector<MPI_Request> requests;
    for (Worker& w : workers_) {
        for (SendSlot& s : w.slots)
            if (s.request != MPI_REQUEST_NULL) requests.push_back(s.request);
        requests.push_back(MPI_REQUEST_NULL);
        check(MPI_Isend(nullptr, 0, MPI_BYTE, w.rank, kTagControl, comm_.get(), &requests.back()),
              "MPI_Isend");
    }
    // Wait politely: a worker may still be finishing a long chunk whose result we drop.
    Backoff backoff(std::chrono::microseconds(20), std::chrono::microseconds(200));
    for (;;) {
        int all = 0;
        check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &all,
                          MPI_STATUSES_IGNORE),
              "MPI_Testall");
        if (all) break;
        // Results of cancelled chunks may still arrive; receive and drop them.
        int flag = 0;
        MPI_Message msg;
        MPI_Status status;
        check(MPI_Improbe(MPI_ANY_SOURCE, kTagResult, comm_.get(), &flag, &msg, &status),
              "MPI_Improbe");
        if (flag) {
            int n = 0;
            MPI_Get_count(&status, MPI_BYTE, &n);
            Buffer drop(static_cast<std::size_t>(n));
            check(MPI_Mrecv(drop.data(), n, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
            continue;
        }
        backoff.pause();
    }
}

// ---- Engine: dispatch ----------------------------------------------------------------------

Job* Engine::next_job(PoolEntry& pool, int rank) {
    for (auto it = pool.queue.begin(); it != pool.queue.end();) {
        Job* j = *it;
        if (j->input_done || j->failed || j->cancelled) {
            it = pool.queue.erase(it);
            continue;
        }
        const bool pinned_ok = j->pinned_rank < 0 || j->pinned_rank == rank;
        const bool window_ok =
            j->next_seq - j->consumed.load(std::memory_order_acquire) < j->window;
        if (pinned_ok && window_ok) return j;
        ++it;
    }
    return nullptr;
}

std::uint32_t Engine::chunk_items(const Job& job, int workers) const {
    if (job.chunksize > 0) return job.chunksize;
    double n = job.ns_per_item > 0 ? kTargetChunkNs / job.ns_per_item : job.ramp;
    // Guided: never more than a quarter of each worker's share of what is left, so chunks
    // shrink towards the end and the last ones finish together.
    if (auto left = job.source->remaining()) {
        n = std::min(n, std::ceil(static_cast<double>(*left) / (4.0 * workers)));
    }
    return static_cast<std::uint32_t>(std::clamp(n, 1.0, static_cast<double>(kMaxChunkItems)));
}

bool Engine::pack_chunk(Job& job, int workers, Buffer& out, TaskHeader& header) {
    out.resize(sizeof(TaskHeader));
    const std::uint32_t want = chunk_items(job, workers);
    const std::uint32_t n = job.source->fill(want, out);
    auto left = job.source->remaining();
    if (n < want || (left && *left == 0)) job.input_done = true;
    if (job.ns_per_item < 0 && job.ramp < kMaxChunkItems) job.ramp *= 2;
    if (n == 0) {
        retire_if_done(job);
        return false;
    }
    header = TaskHeader{job.id, job.next_seq, job.next_index, job.task, n, 0};
    std::memcpy(out.data(), &header, sizeof header);
    ++job.next_seq;
    job.next_index += n;
    ++job.in_flight;
    return true;
}

bool Engine::dispatch() {
    bool any = false;
    for (auto& [id, pool] : pools_) {
        if (pool.queue.empty()) continue;
        if (pool.state->ranks.empty()) {
            any |= dispatch_local(pool);
            continue;
        }
        const int workers = static_cast<int>(pool.state->ranks.size());
        // One chunk per worker per pass, so the first worker does not take everything.
        for (bool sent = true; sent;) {
            sent = false;
            for (int rank : pool.state->ranks) {
                Worker& w = workers_[rank - 1];
                if (w.in_flight.size() >= kInFlight) continue;
                Job* job = next_job(pool, rank);
                if (job == nullptr) continue;
                SendSlot& slot = w.slots[w.next_slot];
                // The chunk this slot carried came back already (results return in order),
                // so its send has completed and the wait returns at once.
                check(MPI_Wait(&slot.request, MPI_STATUS_IGNORE), "MPI_Wait");
                TaskHeader header;
                if (!pack_chunk(*job, workers, slot.buffer, header)) {
                    sent = true;  // the job ended; look again
                    continue;
                }
                check(MPI_Isend(slot.buffer.data(), static_cast<int>(slot.buffer.size()),
                                MPI_BYTE, rank, kTagTask, comm_.get(), &slot.request),
                      "MPI_Isend");
                w.next_slot = (w.next_slot + 1) % kInFlight;
                w.in_flight.push_back(InFlight{job, header.seq, header.first, header.count});
                sent = any = true;
            }
        }
    }
    return any;
}

// With no worker ranks, rank 0 runs the chunk itself, one per loop turn so commands and
// cancellations are still seen between chunks.
bool Engine::dispatch_local(PoolEntry& pool) {
    Job* job = next_job(pool, 0);
    if (job == nullptr) return false;
    TaskHeader header;
    if (!pack_chunk(*job, 1, local_in_, header)) return true;
    execute_chunk(header, local_in_.data() + sizeof header, local_in_.size() - sizeof header,
                  local_out_);
    ResultHeader result;
    std::memcpy(&result, local_out_.data(), sizeof result);
    --job->in_flight;
    handle_result(*job, result, header.first, local_out_.data() + sizeof result,
                  local_out_.size() - sizeof result);
    return true;
}

// ---- Engine: results -----------------------------------------------------------------------

bool Engine::poll_results() {
    bool any = false;
    // Drain what has arrived, but not forever: dispatch must refill workers too.
    for (int i = 0; i < 64; ++i) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status status;
        check(MPI_Improbe(MPI_ANY_SOURCE, kTagResult, comm_.get(), &flag, &msg, &status),
              "MPI_Improbe");
        if (!flag) break;
        any = true;
        Worker& w = workers_[status.MPI_SOURCE - 1];
        int n = 0;
        MPI_Get_count(&status, MPI_BYTE, &n);
        w.receive.resize(static_cast<std::size_t>(n));
        check(MPI_Mrecv(w.receive.data(), n, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
        ResultHeader header;
        std::memcpy(&header, w.receive.data(), sizeof header);
        // Results come back in the order chunks went out (MPI does not overtake).
        const InFlight f = w.in_flight.front();
        w.in_flight.pop_front();
        if (f.seq != header.seq || f.job->id != header.job) {
            throw Error("mproc: internal error: rank " + std::to_string(w.rank) +
                        " answered chunk " + std::to_string(header.seq) + " of job " +
                        std::to_string(header.job) + " out of order");
        }
        --f.job->in_flight;
        handle_result(*f.job, header, f.first, w.receive.data() + sizeof header,
                      w.receive.size() - sizeof header);
    }
    return any;
}

void Engine::handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
                           const char* payload, std::size_t size) {
    if (!job.failed && !job.cancelled) {
        try {
            switch (header.status) {
                case ResultStatus::ok: {
                    const double per_item =
                        static_cast<double>(header.busy_ns) / std::max(header.count, 1u);
                    job.ns_per_item =
                        job.ns_per_item < 0 ? per_item : 0.7 * job.ns_per_item + 0.3 * per_item;
                    job.sink->deliver(header.seq, first, header.count, payload, size);
                    break;
                }
                case ResultStatus::task_failed:
                    job.sink->fail(header.seq, first, header.count,
                                   remote_error(job.task_name, payload, size));
                    if (job.sink->fails_whole_job()) job.failed = true;
                    break;
                case ResultStatus::unknown_task:
                    throw Error("task '" + job.task_name + "' (id " + std::to_string(job.task) +
                                ") is not registered on every rank: is each rank running the "
                                "same program build?");
            }
        } catch (...) {
            // A result that cannot be unpacked (or an unknown task) fails the whole job.
            job.sink->fail(header.seq, first, header.count, std::current_exception());
            job.failed = true;
        }
    }
    retire_if_done(job);
}

void Engine::retire_if_done(Job& job) {
    if (job.in_flight > 0) return;
    if (!(job.input_done || job.failed || job.cancelled)) return;
    if (!job.failed && !job.cancelled) job.sink->finish(job.next_seq);
    if (auto it = pools_.find(job.pool_id); it != pools_.end()) std::erase(it->second.queue, &job);
    jobs_.erase(&job);  // may destroy the job: nothing touches it after this
}

}  // namespace mproc::detail
