#include "engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <iostream>
#include <limits>
#include <sstream>

#include "execute.hpp"
#include "runtime_state.hpp"
#include "window.hpp"

namespace mproc::detail {

std::atomic<Engine*> Engine::current_{nullptr};

namespace {

// A chunk should take about this long on a worker: long enough that per-chunk overhead
// vanishes, short enough that the tail of a map stays balanced.
constexpr double kTargetChunkNs = 1e6;
constexpr std::uint32_t kMaxChunkItems = 1u << 20;
// Work kept in hand per worker, and the most chunks that may be out on one worker.
constexpr double kTargetInFlightNs = 200e3;
constexpr std::size_t kMaxInFlight = 16;

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

std::shared_ptr<PoolState> open_pool(int processes) {
    return engine().open_pool(processes);
}
void release_pool(const std::shared_ptr<PoolState>& pool) {
    engine().release_pool(pool);
}
void submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job) {
    engine().submit(pool, std::move(job));
}
void cancel(std::shared_ptr<Job> job) {
    if (Engine* e = Engine::current()) e->cancel(std::move(job));
}
void terminate(const std::shared_ptr<PoolState>& pool) {
    engine().terminate(pool);
}
std::vector<std::pair<int, double>> quiet_workers(const PoolState& pool, double at_least) {
    return engine().quiet_workers(pool, at_least);
}
void post_callback(std::function<void()> fn) {
    engine().post_callback(std::move(fn));
}
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

Engine::Engine(const Communicator& comm)
    : comm_(comm),
      workers_(comm.size() - 1),
      // Across nodes (osc/pt2pt) a one-sided operation aimed at rank 0's arena completes only
      // when rank 0 enters MPI: there the engine never sleeps long, or every shared-object
      // operation from a worker waits out its sleep (measured: ~1 ms each with 1 ms sleeps).
      idle_sleep_(shared_window_needs_target_progress() ? std::chrono::microseconds(50)
                                                        : Backoff::kMaxSleep) {
    for (int r = 1; r < comm.size(); ++r) workers_[r - 1].rank = r;
    current_.store(this, std::memory_order_release);
}

Engine::~Engine() {
    current_.store(nullptr, std::memory_order_release);
}

void Engine::post(std::function<void()> command) {
    enqueue(commands_, has_commands_, std::move(command));
}

// Appends to one of the engine's two queues (commands, calls) and wakes the engine.
void Engine::enqueue(std::vector<std::function<void()>>& queue, std::atomic<bool>& pending,
                     std::function<void()> fn) {
    {
        std::lock_guard lock(commands_mutex_);
        queue.push_back(std::move(fn));
        pending.store(true, std::memory_order_release);
    }
    commands_cv_.notify_one();
}

// Runs everything in one of those queues; true if there was anything.
bool Engine::drain(std::vector<std::function<void()>>& queue, std::atomic<bool>& pending) {
    if (!pending.load(std::memory_order_acquire)) return false;
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(commands_mutex_);
        batch.swap(queue);
        pending.store(false, std::memory_order_release);
    }
    for (auto& c : batch) c();
    return true;
}

void Engine::call(const std::function<void()>& fn) {
    std::promise<void> done;
    post_call([&] {
        try {
            fn();
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    done.get_future().get();
}

std::vector<std::pair<int, double>> Engine::quiet_workers(const PoolState& pool, double at_least) {
    std::vector<std::pair<int, double>> quiet;
    call([&] {
        const auto now = std::chrono::steady_clock::now();
        for (const Worker& w : workers_) {
            if (w.pool != pool.id || w.out.empty()) continue;
            const double owed = std::chrono::duration<double>(now - w.owed_since).count();
            if (owed >= at_least) quiet.emplace_back(w.rank, owed);
        }
    });
    return quiet;
}

void Engine::post_call(std::function<void()> fn) {
    enqueue(calls_, has_calls_, std::move(fn));
}

bool Engine::run_calls() {
    return drain(calls_, has_calls_);
}

void Engine::nudge() {
    if (!sleeping_.load(std::memory_order_acquire)) return;
    {
        // Under the mutex, so the flag cannot be set between the engine's check and its wait.
        std::lock_guard lock(commands_mutex_);
        nudged_ = true;
    }
    commands_cv_.notify_one();
}

bool Engine::run_commands() {
    return drain(commands_, has_commands_);
}

void Engine::wait(std::chrono::microseconds d) {
    std::unique_lock lock(commands_mutex_);
    sleeping_.store(true, std::memory_order_release);
    commands_cv_.wait_for(lock, d,
                          [this] { return has_commands_.load() || has_calls_.load() || nudged_; });
    nudged_ = false;
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
                    msg << "Pool(" << processes << "): " << free.size() << " of " << workers_.size()
                        << " worker ranks are free";
                    if (want > static_cast<int>(workers_.size()))
                        msg << "; start at least " << want + 1 << " ranks (mpirun -np " << want + 1
                            << ")";
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
        // A task seen before starts from what its items cost last time (apply_async in a loop).
        if (auto known = task_ns_.find(job->task); known != task_ns_.end())
            job->ns_per_item = known->second;
        auto it = pools_.find(pool->id);
        if (it == pools_.end()) {
            job->sink->abort(std::make_exception_ptr(PoolClosed("the pool was released")));
            return;
        }
        it->second.queue.push_back(job);
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
        bool progressed = run_calls();
        progressed |= run_commands();
        progressed |= queues_.poll_remote(comm_.get());
        queues_.expire();
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
            wait(until_queue_deadline(idle_sleep_));
            backoff.reset();
            continue;
        }
        // Workers hold a second message of chunks while they run the first, so rank 0 may
        // sleep for about half of a message's run time without any worker running dry. When
        // results come faster than a sleep can be timed, it polls, yielding the core between
        // polls. A message far over its estimate falls back to ordinary backoff.
        const auto budget = *expected / 2;
        backoff.mark_idle();
        const bool overdue = backoff.idle_for() > std::max<std::chrono::nanoseconds>(
                                                      4 * *expected, std::chrono::milliseconds(1));
        if (budget < std::chrono::microseconds(50) && !overdue) {
            sched_yield();
            continue;
        }
        const auto cap = overdue ? until_queue_deadline(idle_sleep_)
                                 : std::chrono::duration_cast<std::chrono::microseconds>(budget);
        backoff.pause([this](std::chrono::microseconds d) { wait(d); }, cap);
    }
    stop_workers();
}

// `d`, or less if a queue request's deadline comes sooner.
std::chrono::microseconds Engine::until_queue_deadline(std::chrono::microseconds d) const {
    const auto deadline = queues_.next_deadline();
    if (!deadline) return d;
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        *deadline - std::chrono::steady_clock::now());
    return std::clamp(left, std::chrono::microseconds(0), d);
}

// How long until the next result message should arrive: the shortest estimated run time of
// the message at the head of a worker's queue. Zero when there is no estimate yet; nullopt
// with nothing out.
std::optional<std::chrono::nanoseconds> Engine::next_result_in() const {
    std::optional<std::chrono::nanoseconds> best;
    for (const Worker& w : workers_) {
        if (w.out.empty()) continue;
        double ns = 0;
        for (const InFlight& f : w.out.front()->chunks)
            ns += f.job->ns_per_item > 0 ? f.job->ns_per_item * f.count : 0;
        const auto d = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
        if (!best || d < *best) best = d;
    }
    return best;
}

void Engine::stop_workers() {
    std::vector<MPI_Request> requests;
    for (Worker& w : workers_) {
        for (auto& m : w.out)
            if (m->request != MPI_REQUEST_NULL) requests.push_back(m->request);
        requests.push_back(MPI_REQUEST_NULL);
        check(MPI_Isend(nullptr, 0, MPI_BYTE, w.rank, kTagControl, comm_.get(), &requests.back()),
              "MPI_Isend");
    }
    // Wait politely: a worker may still be finishing a long chunk whose result we drop.
    Backoff backoff(std::chrono::microseconds(20), std::chrono::microseconds(200));
    Buffer drop;
    for (;;) {
        int all = 0;
        check(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &all,
                          MPI_STATUSES_IGNORE),
              "MPI_Testall");
        if (all) break;
        // Results of cancelled chunks may still arrive; receive and drop them.
        if (try_receive(comm_.get(), MPI_ANY_SOURCE, kTagResult, drop)) continue;
        backoff.pause();
    }
}

// ---- Engine: dispatch ----------------------------------------------------------------------

Job* Engine::next_job(PoolEntry& pool, int rank) {
    for (auto it = pool.queue.begin(); it != pool.queue.end();) {
        Job* j = it->get();
        if (j->input_done || j->failed || j->cancelled) {
            it = pool.queue.erase(it);
            continue;
        }
        const bool pinned_ok = j->pinned_rank < 0 || j->pinned_rank == rank;
        const bool window_ok =
            j->next_seq - j->consumed.load(std::memory_order_acquire) < j->window &&
            j->next_index - j->consumed_items.load(std::memory_order_acquire) < j->window_items;
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
    // A bounded job (imap) may hold window_items in all: a few chunks' worth per worker.
    if (job.window_items != std::numeric_limits<std::uint64_t>::max()) {
        n = std::min(n, static_cast<double>(job.window_items) / (4.0 * workers));
    }
    return static_cast<std::uint32_t>(std::clamp(n, 1.0, static_cast<double>(kMaxChunkItems)));
}

// How many chunks a worker should hold for this job: enough to cover about 200 µs of work,
// so the worker never waits for rank 0, and few enough that slow chunks do not pile up on
// one worker while others idle at the end of a map.
std::size_t Engine::window_for(const Job& job, int workers) const {
    // Until a worker has reported how long items take, one chunk each: sending more (while
    // the chunk size is still doubling) once handed one worker three quarters of a job.
    if (job.ns_per_item < 0) return 1;
    const double chunk_ns = job.ns_per_item * chunk_items(job, workers);
    return static_cast<std::size_t>(std::clamp(kTargetInFlightNs / std::max(chunk_ns, 1.0), 2.0,
                                               static_cast<double>(kMaxInFlight)));
}

bool Engine::pack_chunk(Job& job, int workers, Buffer& out, InFlight& record) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(TaskHeader));
    const std::uint32_t want = chunk_items(job, workers);
    const std::uint32_t n = job.source->fill(want, out);
    auto left = job.source->remaining();
    if (n < want || (left && *left == 0)) job.input_done = true;
    if (job.ns_per_item < 0 && job.ramp < kMaxChunkItems) job.ramp *= 2;
    if (n == 0) {
        out.resize(at);
        retire_if_done(job);
        return false;
    }
    const TaskHeader header{
        job.id, job.next_seq, job.next_index, job.task, out.size() - at - sizeof(TaskHeader), n, 0};
    std::memcpy(out.data() + at, &header, sizeof header);
    record = InFlight{&job, header.seq, header.first, n};
    ++job.next_seq;
    job.next_index += n;
    ++job.in_flight;
    return true;
}

bool Engine::send_batch(PoolEntry& pool, Worker& w) {
    const int workers = static_cast<int>(pool.state->ranks.size());
    Job* job = next_job(pool, w.rank);
    if (job == nullptr) return false;
    const std::size_t window = window_for(*job, workers);
    if (w.chunks_out >= window) return false;
    // Half a window per message: one message runs while the next is on its way.
    const std::size_t batch = std::max<std::size_t>(1, window / 2);
    const std::size_t room = window - w.chunks_out;
    if (room < batch) return false;

    std::unique_ptr<Message> msg;
    if (w.spare.empty()) {
        msg = std::make_unique<Message>();
    } else {
        msg = std::move(w.spare.back());
        w.spare.pop_back();
    }
    msg->buffer.clear();
    msg->chunks.clear();
    while (job != nullptr && msg->chunks.size() < batch) {
        InFlight record;
        if (pack_chunk(*job, workers, msg->buffer, record)) msg->chunks.push_back(record);
        job = next_job(pool, w.rank);
    }
    if (msg->chunks.empty()) {
        w.spare.push_back(std::move(msg));
        return true;  // jobs ended while packing: the caller looks again
    }
    check(MPI_Isend(msg->buffer.data(), static_cast<int>(msg->buffer.size()), MPI_BYTE, w.rank,
                    kTagTask, comm_.get(), &msg->request),
          "MPI_Isend");
    w.chunks_out += msg->chunks.size();
    if (w.out.empty()) w.owed_since = std::chrono::steady_clock::now();
    w.out.push_back(std::move(msg));
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
        // One message per worker per pass, so the first worker does not take everything.
        for (bool sent = true; sent;) {
            sent = false;
            for (int rank : pool.state->ranks) sent |= send_batch(pool, workers_[rank - 1]);
            any |= sent;
        }
    }
    return any;
}

// With no worker ranks, rank 0 runs the chunk itself, one per loop turn so commands and
// cancellations are still seen between chunks.
bool Engine::dispatch_local(PoolEntry& pool) {
    Job* job = next_job(pool, 0);
    if (job == nullptr) return false;
    local_in_.clear();
    InFlight record;
    if (!pack_chunk(*job, 1, local_in_, record)) return true;
    TaskHeader header;
    std::memcpy(&header, local_in_.data(), sizeof header);
    local_out_.clear();
    execute_chunk(header, local_in_.data() + sizeof header, local_out_);
    ResultHeader result;
    std::memcpy(&result, local_out_.data(), sizeof result);
    --job->in_flight;
    handle_result(*job, result, record.first, local_out_.data() + sizeof result, result.size);
    return true;
}

// ---- Engine: results -----------------------------------------------------------------------

bool Engine::poll_results() {
    bool any = false;
    // Drain what has arrived, but not forever: dispatch must refill workers too.
    for (int i = 0; i < 64; ++i) {
        const auto arrival = try_receive(comm_.get(), MPI_ANY_SOURCE, kTagResult, receive_);
        if (!arrival) break;
        any = true;
        Worker& w = workers_[arrival->source - 1];
        // Each task message is answered by one result message, in order (MPI does not
        // overtake), so this answers the oldest message out, whose send has completed.
        std::unique_ptr<Message> msg = std::move(w.out.front());
        w.out.pop_front();
        w.owed_since = std::chrono::steady_clock::now();
        check(MPI_Wait(&msg->request, MPI_STATUS_IGNORE), "MPI_Wait");
        std::size_t part = 0;
        for_each_part<ResultHeader>(
            receive_.data(), receive_.size(), "result",
            [&](const ResultHeader& header, const char* payload) {
                if (part >= msg->chunks.size())
                    throw Error("mproc: internal error: rank " + std::to_string(w.rank) +
                                " answered more chunks than it was sent");
                const InFlight& f = msg->chunks[part++];
                if (f.seq != header.seq || f.job->id != header.job) {
                    throw Error("mproc: internal error: rank " + std::to_string(w.rank) +
                                " answered chunk " + std::to_string(header.seq) + " of job " +
                                std::to_string(header.job) + " out of order");
                }
                --w.chunks_out;
                --f.job->in_flight;
                handle_result(*f.job, header, f.first, payload, header.size);
            });
        if (part != msg->chunks.size())
            throw Error("mproc: internal error: rank " + std::to_string(w.rank) + " answered " +
                        std::to_string(part) + " of the " + std::to_string(msg->chunks.size()) +
                        " chunks it was sent");
        w.spare.push_back(std::move(msg));
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
                    task_ns_[job.task] = job.ns_per_item;
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
    jobs_.erase(&job);  // may destroy the job: nothing touches it after this
}

}  // namespace mproc::detail
