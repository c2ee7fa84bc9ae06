#include "scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <sstream>

#include "execute.hpp"
#include "task_child.hpp"
#include "wait.hpp"

namespace mproc::detail {

namespace {

// A chunk should take about this long on a worker: long enough that per-chunk overhead
// vanishes, short enough that the tail of a map stays balanced.
constexpr double kTargetChunkNs = 1e6;
constexpr std::uint32_t kMaxChunkItems = 1u << 20;
// Work kept in hand per worker, and the most chunks that may be out on one worker.
constexpr double kTargetInFlightNs = 200e3;
constexpr std::size_t kMaxInFlight = 16;
// How often dispatch looks at every worker even if nothing said it should (Scheduler,
// answered_): a change no code path flags would cost a worker at most this long. Never
// oftener than 4 µs per worker, so that with 10^5 workers it costs rank 0 about 1% (a
// look takes some 40 ns per worker).
constexpr std::chrono::milliseconds kLookAtAllEvery{10};
constexpr std::chrono::nanoseconds kLookAtAllPerWorker{4000};

}  // namespace

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

// ---- Scheduler: construction and commands ----------------------------------------------

Scheduler::Scheduler(const Communicator& comm, const GroupLayout& groups, MpiThread& mpi_thread,
                     Trace& trace)
    : comm_(comm),
      mpi_thread_(mpi_thread),
      trace_(trace),
      workers_(comm.size() - 1),
      look_at_all_every_(std::max<std::chrono::steady_clock::duration>(
          kLookAtAllEvery, kLookAtAllPerWorker * (comm.size() - 1))) {
    for (int r = 1; r < comm.size(); ++r) {
        Worker& w = workers_[r - 1];
        w.rank = r;
        const auto& members = groups.members[static_cast<std::size_t>(r)];
        if (members.empty()) continue;
        w.leads = true;
        for (int m : members) workers_[m - 1].route = static_cast<int>(routes_.size());
        routes_.emplace_back().leader = r;
    }
}

std::vector<std::pair<int, double>> Scheduler::quiet_workers(const PoolState& pool,
                                                             double at_least) {
    std::vector<std::pair<int, double>> quiet;
    mpi_thread_.call([&] {
        const auto now = std::chrono::steady_clock::now();
        for (const Worker& w : workers_) {
            if (w.pool != pool.id || w.out.empty()) continue;
            const double owed = std::chrono::duration<double>(now - w.owed_since).count();
            if (owed >= at_least) quiet.emplace_back(w.rank, owed);
        }
    });
    return quiet;
}

std::shared_ptr<PoolState> Scheduler::open_pool(int processes) {
    std::promise<std::shared_ptr<PoolState>> result;
    mpi_thread_.post([&] {
        try {
            auto state = std::make_shared<PoolState>();
            state->id = next_pool_id_++;
            if (!workers_.empty()) {
                std::vector<int> free;
                int runners = 0;  // ranks that run tasks: not the group leaders
                for (const Worker& w : workers_) {
                    if (w.leads) continue;
                    ++runners;
                    if (w.pool == 0) free.push_back(w.rank);
                }
                const int want = processes > 0 ? processes : static_cast<int>(free.size());
                if (want == 0 || want > static_cast<int>(free.size())) {
                    std::ostringstream msg;
                    msg << "Pool(" << processes << "): " << free.size() << " of " << runners
                        << " worker ranks are free";
                    if (want > runners && routes_.empty())
                        msg << "; start at least " << want + 1 << " ranks (mpirun -np " << want + 1
                            << ")";
                    else if (want > runners)
                        msg << " (" << routes_.size()
                            << " more lead node groups and run no tasks: MPROC_GROUP_SIZE); "
                               "start more ranks, or MPROC_GROUP_SIZE=flat";
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

void Scheduler::release_pool(const std::shared_ptr<PoolState>& pool) {
    mpi_thread_.post([this, pool] {
        for (int r : pool->ranks) workers_[r - 1].pool = 0;
        pools_.erase(pool->id);
    });
}

void Scheduler::submit(const std::shared_ptr<PoolState>& pool, std::shared_ptr<Job> job) {
    bool first;
    {
        std::lock_guard lock(submitted_mutex_);
        first = submitted_.empty();
        submitted_.emplace_back(pool, std::move(job));
    }
    if (first) mpi_thread_.post([this] { take_submitted(); });
}

void Scheduler::take_submitted() {
    std::vector<std::pair<std::shared_ptr<PoolState>, std::shared_ptr<Job>>> batch;
    {
        std::lock_guard lock(submitted_mutex_);
        batch.swap(submitted_);
    }
    for (auto& [pool, job] : batch) {
        job->id = next_job_id_++;
        job->pool_id = pool->id;
        // A task seen before starts from what its items cost last time (apply_async in a loop).
        if (auto known = task_ns_.find(job->task); known != task_ns_.end())
            job->ns_per_item = known->second;
        auto it = pools_.find(pool->id);
        if (it == pools_.end()) {
            job->sink->abort(std::make_exception_ptr(PoolClosed("the pool was released")));
            continue;
        }
        it->second.queue.push_back(job);
        look_at_all_.store(true, std::memory_order_relaxed);
        job->slot = jobs_.size();
        jobs_.push_back(std::move(job));
    }
}

void Scheduler::cancel(std::shared_ptr<Job> job) {
    mpi_thread_.post([this, job = std::move(job)] {
        if (live(*job))
            cancel_job(*job, std::make_exception_ptr(PoolClosed("the imap reader went away")));
    });
}

void Scheduler::terminate(const std::shared_ptr<PoolState>& pool) {
    std::promise<void> done;
    mpi_thread_.post([&] {
        std::vector<std::shared_ptr<Job>> victims;
        for (const auto& job : jobs_)
            if (job->pool_id == pool->id) victims.push_back(job);
        for (const auto& j : victims)
            cancel_job(*j, std::make_exception_ptr(PoolClosed("the pool was terminated")));
        done.set_value();
    });
    done.get_future().get();
}

void Scheduler::cancel_job(Job& job, std::exception_ptr error) {
    if (!job.cancelled && !job.failed) job.sink->abort(std::move(error));
    job.cancelled = true;
    look_at_all_.store(true, std::memory_order_relaxed);  // the jobs behind it move up
    retire_if_done(job);
}

// ---- Scheduler: what the MPI thread's loop asks --------------------------------------------

bool Scheduler::poll() {
    bool progressed = poll_results();
    progressed |= dispatch();
    return progressed;
}

// Workers hold a second message of chunks while they run the first, so the loop may leave
// the scheduler alone until a worker's head message is due (sent, or started, at owed_since;
// run for its estimate) and half an estimate more, without any worker running dry. Chunks
// with no estimate yet give zero: poll hot. (A result far later than this is the loop's
// business: it backs off.)
std::pair<std::chrono::steady_clock::duration, std::chrono::steady_clock::duration>
Scheduler::patience_for(const Worker& w) const {
    double ns = 0;
    for (const InFlight& f : w.out.front()->chunks)
        ns += f.job->ns_per_item > 0 ? f.job->ns_per_item * f.count : 0;
    const auto expected = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
    // A worker in a group answers through its leader, which sends a batch about once a
    // message's time: rank 0 allows itself a quarter of that (at most half a hold), so it
    // takes a batch soon after it comes, and the members hold more chunks (kRelayCover).
    const auto slack = w.route < 0
                           ? MpiThread::Clock::duration(expected / 2)
                           : std::min<MpiThread::Clock::duration>(expected / 4, kMaxRelayHold / 2);
    return {expected, slack};
}

Scheduler::Due Scheduler::due_of(const Worker& w) const {
    const auto [expected, slack] = patience_for(w);
    return Due{w.owed_since + expected + slack, w.rank, w.stamp};
}

void Scheduler::note_due(Worker& w) {
    ++w.stamp;
    if (w.out.empty()) return;
    // Stale entries leave the heap as poll_again_in meets them; a loop that never goes idle
    // never meets them, so past a few per worker the heap is built afresh.
    if (dues_.size() > 4 * workers_.size() + 64) {
        decltype(dues_) fresh;
        for (const Worker& o : workers_)
            if (!o.out.empty() && &o != &w) fresh.push(due_of(o));
        dues_.swap(fresh);
    }
    dues_.push(due_of(w));
}

std::optional<MpiThread::Patience> Scheduler::poll_again_in() const {
    // The earliest entry decides; it is worked out again here, since the estimates it was
    // made with have moved since.
    while (!dues_.empty()) {
        const Due& d = dues_.top();
        const Worker& w = workers_[static_cast<std::size_t>(d.rank - 1)];
        if (d.stamp != w.stamp || w.out.empty()) {
            dues_.pop();
            continue;
        }
        const auto [expected, slack] = patience_for(w);
        const auto wait = std::max(w.owed_since + expected - MpiThread::Clock::now(),
                                   MpiThread::Clock::duration::zero()) +
                          slack;
        return MpiThread::Patience{wait, true};
    }
    return std::nullopt;
}

void Scheduler::stop() {
    mpi_thread_.post([this] { stopping_ = true; });
}

void Scheduler::stop_workers() {
    std::vector<std::unique_ptr<Send>> stops;
    for (Worker& w : workers_) {
        if (w.route >= 0) continue;  // its leader tells it
        stops.push_back(std::make_unique<Send>());
        stops.back()->start(comm_.get(), w.rank, kTagControl);
    }
    // Wait politely: a worker may still be finishing a long chunk whose result is dropped;
    // results of cancelled chunks may still arrive, and are received and dropped.
    Buffer drop;
    const auto all_taken = [&] {
        while (try_receive(comm_.get(), MPI_ANY_SOURCE, kTagResult, drop)) {
        }
        for (Worker& w : workers_)
            for (auto& m : w.out)
                if (!m->send.done()) return false;
        for (auto& stop : stops)
            if (!stop->done()) return false;
        for (Route& r : routes_)
            for (auto& s : r.sending)
                if (!s->done()) return false;
        return true;
    };
    wait_until(all_taken);
}

// ---- Scheduler: dispatch ----------------------------------------------------------------------

Job* Scheduler::next_job(PoolEntry& pool, int rank) {
    for (auto it = pool.queue.begin(); it != pool.queue.end();) {
        Job* j = it->get();
        if (j->input_done || j->failed || j->cancelled) {
            it = pool.queue.erase(it);
            continue;
        }
        const bool pinned_ok = j->pinned_rank < 0 || j->pinned_rank == rank;
        const bool bound_ok =
            j->next_seq - j->consumed.load(std::memory_order_acquire) < j->bound_chunks &&
            j->next_index - j->consumed_items.load(std::memory_order_acquire) < j->bound_items;
        if (pinned_ok && bound_ok) return j;
        ++it;
    }
    return nullptr;
}

std::uint32_t Scheduler::chunk_items(const Job& job, int workers) const {
    if (job.chunksize > 0) return job.chunksize;
    double n = job.ns_per_item > 0 ? kTargetChunkNs / job.ns_per_item : job.ramp;
    // Guided: never more than a quarter of each worker's share of what is left, so chunks
    // shrink towards the end and the last ones finish together.
    if (auto left = job.source->remaining()) {
        n = std::min(n, std::ceil(static_cast<double>(*left) / (4.0 * workers)));
    }
    // A bounded job (imap) may hold bound_items in all: a few chunks' worth per worker.
    if (job.bound_items != std::numeric_limits<std::uint64_t>::max()) {
        n = std::min(n, static_cast<double>(job.bound_items) / (4.0 * workers));
    }
    return static_cast<std::uint32_t>(std::clamp(n, 1.0, static_cast<double>(kMaxChunkItems)));
}

// How many chunks a worker should hold for this job: enough to cover about 200 µs of work,
// so the worker never waits for rank 0, and few enough that slow chunks do not pile up on
// one worker while others idle at the end of a map.
std::size_t Scheduler::in_flight_budget(const Job& job, int workers, bool routed) const {
    // Until a worker has reported how long items take, one chunk each: sending more (while
    // the chunk size is still doubling) once handed one worker three quarters of a job.
    if (job.ns_per_item < 0) return 1;
    const double chunk_ns = job.ns_per_item * chunk_items(job, workers);
    // Through a leader a refill comes up to two of its holds and rank 0's sleep later (its
    // results wait for a batch, rank 0 for the batch, the refill for the leader's turn): a
    // worker there keeps, besides the chunk it runs, enough to cover kRelayCover. With less, on
    // a loaded host, late wake-ups let workers run dry (129 ranks on 2 cores, 2 ms tasks in
    // groups of 16, holds of at most 1 ms, alternating runs: a median of 92% of the ideal rate
    // over 12 runs with four chunks, 75% over 9 with three).
    double least = 2.0;
    if (routed) {
        const double cover_ns = std::chrono::duration<double, std::nano>(kRelayCover).count();
        least = std::min(1.0 + std::ceil(cover_ns / std::max(chunk_ns, 1.0)),
                         static_cast<double>(kMaxInFlight));
    }
    return static_cast<std::size_t>(std::clamp(kTargetInFlightNs / std::max(chunk_ns, 1.0), least,
                                               static_cast<double>(kMaxInFlight)));
}

bool Scheduler::pack_chunk(Job& job, int workers, Buffer& out, InFlight& record) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(TaskHeader));
    const std::uint32_t want = chunk_items(job, workers);
    std::uint32_t n = 0;
    try {
        n = job.source->fill(want, out);
    } catch (...) {
        // The input threw: the job's caller gets the exception (map at once; imap after the
        // results of the items before it), and the job takes no more input.
        out.resize(at);
        if (!job.failed && !job.cancelled) {
            job.sink->fail(job.next_seq, job.next_index, 0, std::current_exception());
            if (job.sink->fails_whole_job()) job.failed = true;
        }
        ++job.next_seq;  // the failure stands in the stream as a chunk of its own
        job.input_done = true;
        retire_if_done(job);
        return false;
    }
    auto left = job.source->remaining();
    if ((n < want || (left && *left == 0)) && !job.source->error_pending()) job.input_done = true;
    if (job.ns_per_item < 0 && job.ramp < kMaxChunkItems) job.ramp *= 2;
    if (n == 0) {
        out.resize(at);
        retire_if_done(job);
        return false;
    }
    const TaskHeader header{
        job.id, job.next_seq,   job.next_index, job.task, out.size() - at - sizeof(TaskHeader),
        n,      job.child_tasks};
    std::memcpy(out.data() + at, &header, sizeof header);
    record = InFlight{&job, header.seq, header.first, n};
    ++job.next_seq;
    job.next_index += n;
    ++job.in_flight;
    return true;
}

bool Scheduler::send_batch(PoolEntry& pool, Worker& w) {
    const int workers = static_cast<int>(pool.state->ranks.size());
    Job* job = next_job(pool, w.rank);
    if (job == nullptr) return false;
    // A job submitted before its task's first results came (apply_async in a loop) takes
    // what they say now, rather than starting from one chunk per message.
    if (job->ns_per_item < 0)
        if (auto known = task_ns_.find(job->task); known != task_ns_.end())
            job->ns_per_item = known->second;
    const std::size_t budget = in_flight_budget(*job, workers, w.route >= 0);
    if (w.chunks_out >= budget) return false;
    // Half the budget per message: one message runs while the next is on its way. A worker in
    // a group gets a third of it per message, since its refills wait for its leader's batch.
    const std::size_t batch = std::max<std::size_t>(1, budget / (w.route < 0 ? 2 : 3));
    const std::size_t room = budget - w.chunks_out;
    if (room < batch) return false;

    std::unique_ptr<Message> msg;
    if (w.spare.empty()) {
        msg = std::make_unique<Message>();
    } else {
        msg = std::move(w.spare.back());
        w.spare.pop_back();
    }
    msg->send.buffer.clear();
    msg->chunks.clear();
    while (job != nullptr && msg->chunks.size() < batch) {
        InFlight record;
        if (pack_chunk(*job, workers, msg->send.buffer, record)) msg->chunks.push_back(record);
        job = next_job(pool, w.rank);
    }
    if (msg->chunks.empty()) {
        w.spare.push_back(std::move(msg));
        return true;  // jobs ended while packing: the caller looks again
    }
    // Through a leader the message travels behind a RouteHeader.
    if (msg->send.buffer.size() > kMaxMessageBytes - (w.route < 0 ? 0 : sizeof(RouteHeader))) {
        // Inputs too large for one message: their jobs fail, saying so; the rest go on.
        const auto error = std::make_exception_ptr(
            Error("the inputs of one chunk take " + std::to_string(msg->send.buffer.size()) +
                  " bytes, more than one MPI message carries (" + std::to_string(kMaxMessageBytes) +
                  "): pass smaller inputs, or a smaller "
                  "chunksize"));
        for (const InFlight& f : msg->chunks) {
            --f.job->in_flight;
            if (!f.job->failed && !f.job->cancelled)
                f.job->sink->fail(f.seq, f.first, f.count, error);
            f.job->failed = true;
            retire_if_done(*f.job);
        }
        msg->send.buffer = Buffer{};  // gigabytes: not kept for the next message
        w.spare.push_back(std::move(msg));
        return true;
    }
    if (w.route < 0) {
        msg->send.start(comm_.get(), w.rank, kTagTask);
    } else {
        // Gathered with the other messages for the group; send_routes() sends them as one.
        Route& route = routes_[static_cast<std::size_t>(w.route)];
        const std::size_t adds = sizeof(RouteHeader) + msg->send.buffer.size();
        if (route.open && route.open->buffer.size() + adds > kMaxMessageBytes) {
            // One MPI message carries at most kMaxMessageBytes: send what is gathered.
            route.open->start(comm_.get(), route.leader, kTagTask);
            route.sending.push_back(std::move(route.open));
        }
        if (!route.open) {
            if (route.spare.empty()) {
                route.open = std::make_unique<Send>();
            } else {
                route.open = std::move(route.spare.back());
                route.spare.pop_back();
            }
            route.open->buffer.clear();
        }
        Buffer& out = route.open->buffer;
        const RouteHeader header{w.rank, 0, msg->send.buffer.size()};
        const std::size_t at = out.size();
        out.resize(at + sizeof header + msg->send.buffer.size());
        std::memcpy(out.data() + at, &header, sizeof header);
        std::memcpy(out.data() + at + sizeof header, msg->send.buffer.data(),
                    msg->send.buffer.size());
    }
    w.chunks_out += msg->chunks.size();
    const bool first = w.out.empty();
    if (first) w.owed_since = std::chrono::steady_clock::now();
    w.out.push_back(std::move(msg));
    if (first) note_due(w);
    return true;
}

bool Scheduler::dispatch() {
    const auto now = std::chrono::steady_clock::now();
    bool all = look_at_all_.exchange(false, std::memory_order_acq_rel);
    if (all || now - looked_at_all_ >= look_at_all_every_) {
        all = true;
        looked_at_all_ = now;
    }
    bool any = false;
    for (auto& [id, pool] : pools_) {
        if (pool.queue.empty()) continue;
        if (pool.state->ranks.empty()) {
            any |= dispatch_local(pool);
            continue;
        }
        // One message per worker per pass, so the first worker does not take everything.
        const auto pass = [&](const std::vector<int>& ranks) {
            bool sent = false;
            for (int rank : ranks) {
                Worker& w = workers_[static_cast<std::size_t>(rank - 1)];
                if (w.pool == id) sent |= send_batch(pool, w);
            }
            return sent;
        };
        const std::vector<int>& ranks = all ? pool.state->ranks : answered_;
        while (pass(ranks)) any = true;
    }
    for (int rank : answered_) workers_[static_cast<std::size_t>(rank - 1)].answered = false;
    answered_.clear();
    send_routes();
    return any;
}

void Scheduler::send_routes() {
    for (Route& route : routes_) {
        while (!route.sending.empty() && route.sending.front()->done()) {
            route.spare.push_back(std::move(route.sending.front()));
            route.sending.pop_front();
        }
        if (!route.open) continue;
        route.open->start(comm_.get(), route.leader, kTagTask);
        route.sending.push_back(std::move(route.open));
    }
}

// With no worker ranks, rank 0 runs the chunk itself, one per loop turn so commands and
// cancellations are still seen between chunks.
bool Scheduler::dispatch_local(PoolEntry& pool) {
    Job* job = next_job(pool, 0);
    if (job == nullptr) return false;
    local_in_.clear();
    InFlight record;
    if (!pack_chunk(*job, 1, local_in_, record)) return true;
    TaskHeader header;
    std::memcpy(&header, local_in_.data(), sizeof header);
    local_out_.clear();
    if (header.child_tasks != 0) {
        local_child_.run(header, local_in_.data() + sizeof header, local_out_);
    } else {
        local_child_.stop();  // a child forked from now on sees what this chunk changes
        execute_chunk(header, local_in_.data() + sizeof header, local_out_);
    }
    ResultHeader result;
    std::memcpy(&result, local_out_.data(), sizeof result);
    --job->in_flight;
    handle_result(*job, result, record.first, local_out_.data() + sizeof result, result.size, 0);
    return true;
}

// ---- Scheduler: results -----------------------------------------------------------------------

bool Scheduler::poll_results() {
    // Not forever: dispatch must refill workers too.
    return receive_arrived(comm_.get(), kTagResult, receive_, 64, [&](Arrival arrival) {
        Worker& from = workers_[arrival.source - 1];
        if (!from.leads) {
            answer(from, receive_.data(), receive_.size());
            return;
        }
        // A leader's batch: result messages of its members, each as the member sent it.
        for_each_part<RouteHeader>(
            receive_.data(), receive_.size(), "routed result",
            [&](const RouteHeader& route, const char* message) {
                Worker* w = route.rank > 0 && route.rank < comm_.size() ? &workers_[route.rank - 1]
                                                                        : nullptr;
                if (w == nullptr || w->route < 0 ||
                    routes_[static_cast<std::size_t>(w->route)].leader != from.rank)
                    throw Error("mproc: internal error: group leader rank " +
                                std::to_string(from.rank) + " relayed results from rank " +
                                std::to_string(route.rank) + ", which is not in its group");
                answer(*w, message, route.size);
            });
    });
}

void Scheduler::answer(Worker& w, const char* data, std::size_t size) {
    if (w.out.empty())
        throw Error("mproc: internal error: rank " + std::to_string(w.rank) +
                    " sent results it did not owe");
    // Each task message is answered by one result message, in order (MPI does not
    // overtake), so this answers the oldest message out, whose send has completed.
    std::unique_ptr<Message> msg = std::move(w.out.front());
    w.out.pop_front();
    w.owed_since = std::chrono::steady_clock::now();
    note_due(w);
    if (!w.answered) {
        w.answered = true;
        answered_.push_back(w.rank);
    }
    msg->send.wait();
    std::size_t part = 0;
    for_each_part<ResultHeader>(
        data, size, "result", [&](const ResultHeader& header, const char* payload) {
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
            handle_result(*f.job, header, f.first, payload, header.size, w.rank);
        });
    if (part != msg->chunks.size())
        throw Error("mproc: internal error: rank " + std::to_string(w.rank) + " answered " +
                    std::to_string(part) + " of the " + std::to_string(msg->chunks.size()) +
                    " chunks it was sent");
    w.spare.push_back(std::move(msg));
}

void Scheduler::handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
                              const char* payload, std::size_t size, int rank) {
    trace_.chunk(rank, first, header.start_ns, header.busy_ns, header.count,
                 header.status == ResultStatus::ok, job.task_name);
    if (!job.failed && !job.cancelled) {
        try {
            switch (header.status) {
                case ResultStatus::ok: {
                    const double per_item =
                        static_cast<double>(header.busy_ns) / std::max(header.count, 1u);
                    // The first estimate sets every worker's budget (one chunk before it).
                    if (job.ns_per_item < 0) look_at_all_.store(true, std::memory_order_relaxed);
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

void Scheduler::retire_if_done(Job& job) {
    if (job.in_flight > 0) return;
    if (!(job.input_done || job.failed || job.cancelled)) return;
    if (!live(job)) return;  // retired already
    if (!job.failed && !job.cancelled) job.sink->finish(job.next_seq);
    // Swap the last job into this one's place; this may destroy the job, so nothing touches
    // it after this.
    std::shared_ptr<Job> last = std::move(jobs_.back());
    jobs_.pop_back();
    if (last.get() != &job) {
        last->slot = job.slot;
        jobs_[job.slot] = std::move(last);
    }
}

}  // namespace mproc::detail
