#include "engine/dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>

namespace mproc::detail {

namespace {

// A chunk should take about this long on a worker: long enough that per-chunk overhead
// vanishes, short enough that the tail of a map stays balanced.
constexpr double kTargetChunkNs = 1e6;
constexpr std::uint32_t kMaxChunkItems = 1u << 20;
// Work kept in hand per worker, and the most chunks that may be out on one worker.
constexpr double kTargetInFlightNs = 200e3;
constexpr std::size_t kMaxInFlight = 16;
// How often dispatch looks at every worker even if nothing said it should (answered_): a
// change no code path flags would cost a worker at most this long. Never oftener than 4 µs
// per worker, so that with 10^5 workers it costs rank 0 about 1% (a look takes some 40 ns
// per worker).
constexpr std::chrono::milliseconds kLookAtAllEvery{10};
constexpr std::chrono::nanoseconds kLookAtAllPerWorker{4000};
// A group its leader feeds holds this many times what its members would hold if rank 0 fed
// them one by one: the rest waits in the leader's queue, for whichever member is free first,
// and covers rank 0's refill. (129 ranks on 2 cores in groups of 16, 2 ms tasks, alternating
// runs: with 1, the queue ran dry between refills and the runs reached 87-89% of the ideal
// rate against the per-member feed's 95-96%, the host spending 24-26 µs of CPU per task
// against 16-19; with 2, 95-97% against 95-97%.)
constexpr std::size_t kGroupBudgetScale = 2;
// What rank 0 spends on a message to a group and its answer, beyond the chunks in them: two
// messages, the pass that sends one and the walk that takes the other (the scale simulator,
// 10^5 ranks with spans of 21 chunks: about 2 µs of Dispatcher calls and two messages of
// 0.5-0.8 µs each on this machine, a span's chunks costing nearly nothing more). A pool's
// groups together may ask for at most half of rank 0's time this way, so with many groups
// each message carries more: 10^5 ranks with 10 ms tasks, 75 chunks a message instead of 21.
constexpr double kRank0MessageNs = 4000;

std::string rank_text(int rank) {
    return "rank " + std::to_string(rank);
}

}  // namespace

Dispatcher::Dispatcher(const GroupLayout& layout, Outbox& outbox, const Clock& clock,
                       Trace& trace, ChunkRunner& local, Limits limits)
    : outbox_(outbox),
      clock_(clock),
      trace_(trace),
      local_(local),
      limits_(limits),
      workers_(layout.master.size() - 1),
      look_at_all_every_(std::max<Clock::duration>(
          kLookAtAllEvery, kLookAtAllPerWorker * static_cast<std::int64_t>(workers_.size()))) {
    for (std::size_t r = 1; r < layout.master.size(); ++r) {
        Worker& w = workers_[r - 1];
        w.rank = static_cast<int>(r);
        const auto& members = layout.members[r];
        if (members.empty()) continue;
        w.leads = true;
        w.led = static_cast<int>(routes_.size());
        for (int m : members) worker(m).route = w.led;
        Route& route = routes_.emplace_back();
        route.leader = w.rank;
        route.members = members;
    }
}

// ---- Commands ---------------------------------------------------------------------------

Dispatcher::Opened Dispatcher::open_pool(int processes) {
    Opened opened{next_pool_id_, {}};
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
                msg << "; start at least " << want + 1 << " ranks (mpirun -np " << want + 1 << ")";
            else if (want > runners)
                msg << " (" << routes_.size()
                    << " more lead node groups and run no tasks: MPROC_GROUP_SIZE); "
                       "start more ranks, or MPROC_GROUP_SIZE=flat";
            else
                msg << "; the others are held by other pools";
            throw ResourceError(msg.str());
        }
        free.resize(static_cast<std::size_t>(want));
        for (int r : free) worker(r).pool = opened.id;
        opened.ranks = std::move(free);
    }
    ++next_pool_id_;
    Pool& pool = pools_[opened.id];
    pool.ranks = opened.ranks;
    pool.targets = opened.ranks;
    // The groups it holds whole are fed by their leaders.
    for (const Route& r : routes_) {
        const bool whole = std::all_of(r.members.begin(), r.members.end(),
                                       [&](int m) { return worker(m).pool == opened.id; });
        if (!whole) continue;
        worker(r.leader).pool = opened.id;
        for (int m : r.members) worker(m).fed = true;
        pool.targets.push_back(r.leader);
    }
    return opened;
}

void Dispatcher::release_pool(int pool) {
    const auto it = pools_.find(pool);
    if (it == pools_.end()) return;
    for (int r : it->second.targets) {
        Worker& w = worker(r);
        w.pool = 0;
        w.fed = false;
        w.quiet_since = Clock::time_point::max();
    }
    pools_.erase(it);
}

void Dispatcher::submit(int pool, std::shared_ptr<Job> job) {
    job->id = next_job_id_++;
    job->pool_id = pool;
    // A task seen before starts from what its items cost last time (apply_async in a loop).
    if (auto known = task_ns_.find(job->task); known != task_ns_.end())
        job->ns_per_item = known->second;
    const auto it = pools_.find(pool);
    if (it == pools_.end()) {
        job->sink->abort(std::make_exception_ptr(PoolClosed("the pool was released")));
        return;
    }
    it->second.queue.push_back(job);
    look_at_all_ = true;
    job->slot = jobs_.size();
    jobs_.push_back(std::move(job));
}

void Dispatcher::cancel(Job& job, std::exception_ptr error) {
    if (!live(job)) return;
    if (!job.cancelled && !job.failed) job.sink->abort(std::move(error));
    job.cancelled = true;
    look_at_all_ = true;  // the jobs behind it move up
    retire_if_done(job);
}

void Dispatcher::terminate(int pool) {
    std::vector<std::shared_ptr<Job>> victims;
    for (const auto& job : jobs_)
        if (job->pool_id == pool) victims.push_back(job);
    for (const auto& j : victims)
        cancel(*j, std::make_exception_ptr(PoolClosed("the pool was terminated")));
}

std::vector<std::pair<int, double>> Dispatcher::quiet_workers(int pool, double at_least) const {
    std::vector<std::pair<int, double>> quiet;
    const auto now = clock_.now();
    for (const Worker& w : workers_) {
        if (w.pool != pool) continue;
        if (w.leads) {
            if (w.group_out.empty()) continue;
            const double silent =
                std::chrono::duration<double>(now - std::max(w.owed_since, w.heard)).count();
            if (silent >= at_least) quiet.emplace_back(w.rank, silent);
            continue;
        }
        // What a fed member owes, only its leader knows: it tells when that is long.
        Clock::time_point since = w.fed && now - w.quiet_heard < 3 * kQuietReport
                                      ? w.quiet_since
                                      : Clock::time_point::max();
        if (!w.out.empty()) since = std::min(since, w.owed_since);
        if (since == Clock::time_point::max()) continue;
        const double owed = std::chrono::duration<double>(now - since).count();
        if (owed >= at_least) quiet.emplace_back(w.rank, owed);
    }
    return quiet;
}

std::vector<int> Dispatcher::direct_ranks() const {
    std::vector<int> ranks;
    for (const Worker& w : workers_)
        if (w.route < 0) ranks.push_back(w.rank);
    return ranks;
}

// ---- When to look again ---------------------------------------------------------------------

// Workers hold a second message of chunks while they run the first, so the caller may leave
// the dispatcher alone until a worker's head message is due (sent, or started, at owed_since;
// run for its estimate) and half an estimate more, without any worker running dry. Chunks
// with no estimate yet give zero: poll hot. (A result far later than this is the caller's
// business: it backs off.)
std::pair<Clock::duration, Clock::duration> Dispatcher::patience_for(
    const Worker& w) const {
    const auto estimate = [](const InFlight& f) {
        return f.job->ns_per_item > 0 ? f.job->ns_per_item * f.count : 0.0;
    };
    double ns = 0;
    if (!w.out.empty()) {
        for (const InFlight& f : w.out.front()->chunks) ns += estimate(f);
    } else {
        // A leader sends its group's results once they answer a third of the chunks out on
        // the group (GroupDispatcher::flush_due): that many chunks' time, spread over its
        // members.
        const GroupOut& oldest = w.group_out.front();
        const double thirds = static_cast<double>(w.chunks_out) / (3.0 * width_of(w));
        ns = estimate(InFlight{oldest.span.job, 0, 0, oldest.each}) * std::max(1.0, thirds);
    }
    const auto expected = Clock::duration(std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
    // A group its leader feeds: an eighth of a batch's time, so that rank 0 takes the batch
    // soon after it comes. (Half of it, at the same runs as kGroupBudgetScale's: rank 0 came
    // late, the leaders' queues ran low, and the runs reached 91-95% against 95-97%.)
    if (w.leads) return {expected, std::min<Clock::duration>(expected / 8, kRelayCover / 2)};
    // A worker in a group answers through its leader, which sends a batch about once a
    // message's time: rank 0 allows itself a quarter of that (at most half a hold), so it
    // takes a batch soon after it comes, and the members hold more chunks (kRelayCover).
    const auto slack = w.route >= 0 ? std::min<Clock::duration>(expected / 4, kMaxRelayHold / 2)
                                    : Clock::duration(expected / 2);
    return {expected, slack};
}

Dispatcher::Due Dispatcher::due_of(const Worker& w) const {
    const auto [expected, slack] = patience_for(w);
    return Due{w.owed_since + expected + slack, w.rank, w.stamp};
}

void Dispatcher::note_due(Worker& w) {
    ++w.stamp;
    if (!owes(w)) return;
    // Stale entries leave the heap as poll_again_in meets them; a loop that never goes idle
    // never meets them, so past a few per worker the heap is built afresh.
    if (dues_.size() > 4 * workers_.size() + 64) {
        decltype(dues_) fresh;
        for (const Worker& o : workers_)
            if (owes(o) && &o != &w) fresh.push(due_of(o));
        dues_.swap(fresh);
    }
    dues_.push(due_of(w));
}

std::optional<Clock::duration> Dispatcher::poll_again_in() const {
    // The earliest entry decides; it is worked out again here, since the estimates it was
    // made with have moved since.
    while (!dues_.empty()) {
        const Due& d = dues_.top();
        const Worker& w = worker(d.rank);
        if (d.stamp != w.stamp || !owes(w)) {
            dues_.pop();
            continue;
        }
        const auto [expected, slack] = patience_for(w);
        return std::max(w.owed_since + expected - clock_.now(), Clock::duration::zero()) + slack;
    }
    return std::nullopt;
}

// ---- Dispatch -----------------------------------------------------------------------------------

Job* Dispatcher::next_job(Pool& pool, int rank, bool fed) {
    for (auto it = pool.queue.begin(); it != pool.queue.end();) {
        Job* j = it->get();
        if (j->input_done || j->failed || j->cancelled) {
            it = pool.queue.erase(it);
            continue;
        }
        const bool pinned_ok = j->pinned_rank < 0 ? !fed : j->pinned_rank == rank;
        const bool bound_ok = !j->bound || j->bound->has_room(j->next_seq, j->next_index);
        if (pinned_ok && bound_ok) return j;
        ++it;
    }
    return nullptr;
}

std::uint32_t Dispatcher::chunk_items(const Job& job, int workers) const {
    if (job.chunksize > 0) return job.chunksize;
    double n = job.ns_per_item > 0 ? kTargetChunkNs / job.ns_per_item : job.ramp;
    // Guided: never more than a quarter of each worker's share of what is left, so chunks
    // shrink towards the end and the last ones finish together.
    if (auto left = job.source->remaining()) {
        n = std::min(n, std::ceil(static_cast<double>(*left) / (4.0 * workers)));
    }
    // A bounded job (imap) may hold bound->items in all: a few chunks' worth per worker.
    if (job.bound) n = std::min(n, static_cast<double>(job.bound->items) / (4.0 * workers));
    return static_cast<std::uint32_t>(std::clamp(n, 1.0, static_cast<double>(kMaxChunkItems)));
}

// How many chunks a worker should hold for this job: enough to cover about 200 µs of work,
// so the worker never waits for rank 0, and few enough that slow chunks do not pile up on
// one worker while others idle at the end of a map.
std::size_t Dispatcher::in_flight_budget(const Job& job, int workers, bool routed) const {
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

std::uint32_t Dispatcher::take_inputs(Job& job, std::uint32_t want, Buffer& out,
                                      std::size_t at) {
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
        return 0;
    }
    auto left = job.source->remaining();
    if ((n < want || (left && *left == 0)) && !job.source->error_pending()) job.input_done = true;
    if (job.ns_per_item < 0 && job.ramp < kMaxChunkItems) job.ramp *= 2;
    if (n == 0) {
        out.resize(at);
        retire_if_done(job);
    }
    return n;
}

bool Dispatcher::pack_chunk(Job& job, std::uint32_t items, Buffer& out, InFlight& record) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(TaskHeader));
    const std::uint32_t n = take_inputs(job, items, out, at);
    if (n == 0) return false;
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

std::uint32_t Dispatcher::span_item_bytes(const Job& job, std::uint32_t each) const {
    const std::uint32_t item_bytes = job.source->item_bytes();
    const bool spans = item_bytes > 0 && !trace_.enabled() && job.sink->joins_chunks() &&
                       std::size_t{item_bytes} * each <= limits_.max_message_bytes / 2;
    return spans ? item_bytes : 0;
}

std::uint32_t Dispatcher::pack_span(Job& job, std::uint32_t each, std::uint32_t item_bytes,
                                    std::size_t chunks, Buffer& out, GroupOut& record) {
    constexpr std::size_t kHeaders = sizeof(RouteHeader) + sizeof(SpanHeader) + sizeof(TaskHeader);
    // No more than one message carries (a chunk fits: span_item_bytes), nor a count's range.
    const std::size_t fit =
        (limits_.max_message_bytes - kHeaders) / (std::size_t{each} * item_bytes);
    chunks = std::max<std::size_t>(1, std::min<std::size_t>({chunks, fit, kMaxChunkItems / each}));
    const std::size_t at = out.size();
    const std::size_t inputs = at + sizeof(SpanHeader) + sizeof(TaskHeader);
    out.resize(inputs);
    const std::uint32_t n =
        take_inputs(job, static_cast<std::uint32_t>(chunks * each), out, at);
    if (n == 0) return 0;
    if (out.size() - inputs != std::size_t{n} * item_bytes)
        throw Error("mproc: internal error: the inputs of task '" + job.task_name + "' packed to " +
                    std::to_string(out.size() - inputs) + " bytes for " + std::to_string(n) +
                    " items, not " + std::to_string(item_bytes) + " each");
    const SpanHeader span{each, item_bytes};
    const TaskHeader header{job.id,        job.next_seq, job.next_index, job.task,
                            out.size() - inputs, n,       job.child_tasks};
    std::memcpy(out.data() + at, &span, sizeof span);
    std::memcpy(out.data() + at + sizeof span, &header, sizeof header);
    const auto k = static_cast<std::uint32_t>((n + each - 1) / each);
    record = GroupOut{InFlight{&job, header.seq, header.first, n}, k, each, k};
    job.next_seq += k;
    job.next_index += n;
    job.in_flight += k;
    return k;
}

void Dispatcher::take_known_estimate(Job& job) {
    if (job.ns_per_item < 0)
        if (auto known = task_ns_.find(job.task); known != task_ns_.end())
            job.ns_per_item = known->second;
}

bool Dispatcher::send_batch(Pool& pool, Worker& w) {
    if (w.leads) return send_group(pool, w);
    const int workers = static_cast<int>(pool.ranks.size());
    Job* job = next_job(pool, w.rank, w.fed);
    if (job == nullptr) return false;
    take_known_estimate(*job);
    const bool routed = w.route >= 0;
    const std::size_t budget = in_flight_budget(*job, workers, routed);
    if (w.chunks_out >= budget) return false;
    // Half the budget per message: one message runs while the next is on its way. A worker in
    // a group gets a third of it per message, since its refills wait for its leader's batch.
    const std::size_t batch = std::max<std::size_t>(1, budget / (routed ? 3 : 2));
    const std::size_t room = budget - w.chunks_out;
    if (room < batch) return false;

    std::unique_ptr<Message> msg;
    if (w.spare.empty()) {
        msg = std::make_unique<Message>();
    } else {
        msg = std::move(w.spare.back());
        w.spare.pop_back();
    }
    msg->chunks.clear();
    // A member's message is packed apart, then appended to its leader's behind a RouteHeader.
    Buffer out = routed ? std::move(member_) : outbox_.take_buffer();
    out.clear();
    while (job != nullptr && msg->chunks.size() < batch) {
        InFlight record;
        if (pack_chunk(*job, chunk_items(*job, workers), out, record))
            msg->chunks.push_back(record);
        job = next_job(pool, w.rank, w.fed);
    }
    const std::size_t limit = limits_.max_message_bytes - (routed ? sizeof(RouteHeader) : 0);
    if (msg->chunks.empty() || out.size() > limit) {
        // Inputs too large for one message: their jobs fail, saying so; the rest go on. (Or
        // the jobs ended while packing: the caller looks again.)
        if (!msg->chunks.empty()) fail_oversized(msg->chunks, out.size());
        w.spare.push_back(std::move(msg));
        if (out.capacity() <= (1u << 20)) member_ = std::move(out);  // not gigabytes
        return true;
    }
    if (routed) {
        route(w.route, w.rank, kRouteMember, out);
        member_ = std::move(out);
    } else {
        outbox_.send(w.rank, std::move(out));
    }
    w.chunks_out += msg->chunks.size();
    const bool first = w.out.empty();
    if (first) w.owed_since = clock_.now();
    w.out.push_back(std::move(msg));
    if (first) note_due(w);
    return true;
}

// The group's share: what each member would hold, times its members and kGroupBudgetScale, so
// a group is kept at least as busy as its members would be if rank 0 fed them one by one; the
// leader keeps what its members do not hold yet for whichever is free first. A third of it per
// message, as for a member.
bool Dispatcher::send_group(Pool& pool, Worker& leader) {
    const int workers = static_cast<int>(pool.ranks.size());
    Job* job = next_job(pool, leader.rank, false);
    if (job == nullptr) return false;
    take_known_estimate(*job);
    std::size_t budget =
        in_flight_budget(*job, workers, true) * width_of(leader) * kGroupBudgetScale;
    std::size_t batch = std::max<std::size_t>(1, budget / 3);
    if (job->ns_per_item > 0) {
        // The pool's workers answer workers / chunk_ns chunks a second; in messages of
        // `batch` chunks and their answers rank 0 spends kRank0MessageNs on each.
        const double chunk_ns = job->ns_per_item * chunk_items(*job, workers);
        const double least = std::ceil(2 * kRank0MessageNs * workers / chunk_ns);
        if (least > static_cast<double>(batch)) {
            batch = static_cast<std::size_t>(std::min(least, double{kMaxChunkItems}));
            budget = 3 * batch;
        }
    }
    if (leader.chunks_out >= budget || budget - leader.chunks_out < batch) return false;
    const bool first = leader.group_out.empty();
    const std::size_t limit = limits_.max_message_bytes - sizeof(RouteHeader);
    std::size_t packed = 0;
    bool failed = false;
    // Plain values go as spans, packed and later taken as one piece; others a chunk a part.
    // Either way the leader hands out chunks one by one.
    while (job != nullptr && packed < batch) {
        member_.clear();
        const std::uint32_t each = chunk_items(*job, workers);
        if (const std::uint32_t item_bytes = span_item_bytes(*job, each)) {
            GroupOut record;
            if (const std::uint32_t k =
                    pack_span(*job, each, item_bytes, batch - packed, member_, record)) {
                route(leader.led, leader.rank, kRouteSpan, member_);
                leader.group_out.push_back(record);
                packed += k;
            }
        } else if (InFlight record; pack_chunk(*job, each, member_, record)) {
            if (member_.size() > limit) {
                fail_oversized({record}, member_.size());
                failed = true;
            } else {
                route(leader.led, leader.rank, kRouteGroup, member_);
                leader.group_out.push_back(GroupOut{record, 1, record.count, 1});
                ++packed;
            }
        }
        job = next_job(pool, leader.rank, false);
    }
    if (member_.capacity() > (1u << 20)) member_ = Buffer();  // not gigabytes
    leader.chunks_out += packed;
    if (packed > 0 && first) {
        leader.owed_since = clock_.now();
        note_due(leader);
    }
    return packed > 0 || failed;
}

void Dispatcher::fail_oversized(const std::vector<InFlight>& chunks, std::size_t bytes) {
    const auto error = std::make_exception_ptr(
        Error("the inputs of one chunk take " + std::to_string(bytes) +
              " bytes, more than one MPI message carries (" +
              std::to_string(limits_.max_message_bytes) +
              "): pass smaller inputs, or a smaller chunksize"));
    for (const InFlight& f : chunks) {
        --f.job->in_flight;
        if (!f.job->failed && !f.job->cancelled) f.job->sink->fail(f.seq, f.first, f.count, error);
        f.job->failed = true;
        retire_if_done(*f.job);
    }
}

void Dispatcher::route(int index, int rank, RouteFlags flags, const Buffer& message) {
    Route& r = routes_[static_cast<std::size_t>(index)];
    const std::size_t adds = sizeof(RouteHeader) + message.size();
    if (!r.has_open) open_routes_.push_back(index);
    if (r.has_open && r.open.size() + adds > limits_.max_message_bytes) {
        // One message carries at most max_message_bytes: send what is gathered.
        outbox_.send(r.leader, std::move(r.open));
        r.has_open = false;
    }
    if (!r.has_open) {
        r.open = outbox_.take_buffer();
        r.open.clear();
        r.has_open = true;
    }
    const RouteHeader header{rank, flags, message.size()};
    const std::size_t at = r.open.size();
    r.open.resize(at + adds);
    std::memcpy(r.open.data() + at, &header, sizeof header);
    std::memcpy(r.open.data() + at + sizeof header, message.data(), message.size());
}

bool Dispatcher::dispatch() {
    const auto now = clock_.now();
    bool all = std::exchange(look_at_all_, false);
    if (all || now - looked_at_all_ >= look_at_all_every_) {
        all = true;
        looked_at_all_ = now;
    }
    bool any = false;
    for (auto& [id, pool] : pools_) {
        if (pool.queue.empty()) continue;
        if (pool.ranks.empty()) {
            any |= dispatch_local(pool);
            continue;
        }
        // One message per worker per pass, so the first worker does not take everything.
        const auto pass = [&, id = id](const std::vector<int>& ranks) {
            bool sent = false;
            for (int rank : ranks) {
                Worker& w = worker(rank);
                if (w.pool == id) sent |= send_batch(pool, w);
            }
            return sent;
        };
        const std::vector<int>& ranks = all ? pool.targets : answered_;
        while (pass(ranks)) any = true;
    }
    for (int rank : answered_) worker(rank).answered = false;
    answered_.clear();
    send_routes();
    return any;
}

void Dispatcher::send_routes() {
    for (int i : open_routes_) {
        Route& r = routes_[static_cast<std::size_t>(i)];
        outbox_.send(r.leader, std::move(r.open));
        r.has_open = false;
    }
    open_routes_.clear();
}

// With no worker ranks, the chunk runs here, one per call so that commands and cancellations
// are still seen between chunks.
bool Dispatcher::dispatch_local(Pool& pool) {
    Job* job = next_job(pool, 0, false);
    if (job == nullptr) return false;
    local_in_.clear();
    InFlight record;
    if (!pack_chunk(*job, chunk_items(*job, 1), local_in_, record)) return true;
    TaskHeader header;
    std::memcpy(&header, local_in_.data(), sizeof header);
    local_out_.clear();
    local_.run(header, local_in_.data() + sizeof header, local_out_);
    ResultHeader result;
    std::memcpy(&result, local_out_.data(), sizeof result);
    --job->in_flight;
    handle_result(*job, result, record.first, local_out_.data() + sizeof result, result.size, 0);
    return true;
}

// ---- Results ------------------------------------------------------------------------------------

void Dispatcher::on_results(int source, const char* data, std::size_t size) {
    if (source < 1 || source > static_cast<int>(workers_.size()))
        throw Error("mproc: internal error: results from " + rank_text(source) +
                    ", which is not a worker");
    Worker& from = worker(source);
    if (!from.leads) {
        answer(from, data, size);
        return;
    }
    // A leader's batch: result messages of its members, each as the member sent it, and
    // word of members that owe results for long.
    from.heard = clock_.now();
    for_each_part<RouteHeader>(
        data, size, "routed result", [&](const RouteHeader& route, const char* message) {
            if (route.flags == kRouteSpan && route.rank == from.rank) {
                answer_span(from, message, route.size);
                return;
            }
            Worker* w = route.rank > 0 && route.rank <= static_cast<int>(workers_.size())
                            ? &worker(route.rank)
                            : nullptr;
            if (w == nullptr || w->route != from.led)
                throw Error("mproc: internal error: group leader " + rank_text(from.rank) +
                            " relayed results from " + rank_text(route.rank) +
                            ", which is not in its group");
            if (route.flags == kRouteMember) {
                answer(*w, message, route.size);
            } else if (route.flags == kRouteGroup) {
                answer_group(from, *w, message, route.size);
            } else if (route.flags == kRouteQuiet && route.size == sizeof(std::int64_t)) {
                std::int64_t owed_ns = 0;
                std::memcpy(&owed_ns, message, sizeof owed_ns);
                if (w->fed) {
                    w->quiet_heard = clock_.now();
                    w->quiet_since = w->quiet_heard - std::chrono::nanoseconds(owed_ns);
                }
            } else {
                throw Error("mproc: internal error: group leader " + rank_text(from.rank) +
                            " sent a part marked " + std::to_string(route.flags) + " of " +
                            std::to_string(route.size) + " bytes, which rank 0 does not know");
            }
        });
}

void Dispatcher::answer_group(Worker& leader, Worker& m, const char* data, std::size_t size) {
    m.quiet_since = Clock::time_point::max();
    for_each_part<ResultHeader>(
        data, size, "result", [&](const ResultHeader& header, const char* payload) {
            // Members finish in any order; most often it is among the oldest. A chunk of a
            // span comes alone when one of the span failed.
            const auto it = std::find_if(
                leader.group_out.begin(), leader.group_out.end(), [&](const GroupOut& g) {
                    return header.seq - g.span.seq < g.chunks && g.span.job->id == header.job;
                });
            if (it == leader.group_out.end())
                throw Error("mproc: internal error: " + rank_text(m.rank) + " answered chunk " +
                            std::to_string(header.seq) + " of job " + std::to_string(header.job) +
                            ", which its group leader " + rank_text(leader.rank) +
                            " was not sent");
            Job& job = *it->span.job;
            const std::uint64_t first = it->span.first + (header.seq - it->span.seq) * it->each;
            if (--it->left == 0) leader.group_out.erase(it);
            --leader.chunks_out;
            --job.in_flight;
            handle_result(job, header, first, payload, header.size, m.rank);
        });
    answered_by(leader);
}

void Dispatcher::answer_span(Worker& leader, const char* data, std::size_t size) {
    for_each_part<ResultHeader>(
        data, size, "result", [&](const ResultHeader& header, const char* payload) {
            const auto it = std::find_if(
                leader.group_out.begin(), leader.group_out.end(), [&](const GroupOut& g) {
                    return g.span.seq == header.seq && g.span.job->id == header.job;
                });
            if (it == leader.group_out.end() || it->left != it->chunks ||
                it->span.count != header.count)
                throw Error("mproc: internal error: group leader " + rank_text(leader.rank) +
                            " joined the results of a span at chunk " +
                            std::to_string(header.seq) + " of job " +
                            std::to_string(header.job) + " that does not match what it was sent");
            const GroupOut g = *it;
            leader.group_out.erase(it);
            leader.chunks_out -= g.chunks;
            g.span.job->in_flight -= g.chunks;
            handle_result(*g.span.job, header, g.span.first, payload, header.size, leader.rank);
        });
    answered_by(leader);
}

void Dispatcher::answered_by(Worker& leader) {
    leader.owed_since = clock_.now();
    note_due(leader);
    if (!leader.answered) {
        leader.answered = true;
        answered_.push_back(leader.rank);
    }
}

void Dispatcher::answer(Worker& w, const char* data, std::size_t size) {
    if (w.out.empty())
        throw Error("mproc: internal error: " + rank_text(w.rank) + " sent results it did not owe");
    // Each task message is answered by one result message, in order (MPI does not
    // overtake), so this answers the oldest message out.
    std::unique_ptr<Message> msg = std::move(w.out.front());
    w.out.pop_front();
    w.owed_since = clock_.now();
    note_due(w);
    if (!w.answered) {
        w.answered = true;
        answered_.push_back(w.rank);
    }
    std::size_t part = 0;
    for_each_part<ResultHeader>(
        data, size, "result", [&](const ResultHeader& header, const char* payload) {
            if (part >= msg->chunks.size())
                throw Error("mproc: internal error: " + rank_text(w.rank) +
                            " answered more chunks than it was sent");
            const InFlight& f = msg->chunks[part++];
            if (f.seq != header.seq || f.job->id != header.job) {
                throw Error("mproc: internal error: " + rank_text(w.rank) + " answered chunk " +
                            std::to_string(header.seq) + " of job " + std::to_string(header.job) +
                            " out of order");
            }
            --w.chunks_out;
            --f.job->in_flight;
            handle_result(*f.job, header, f.first, payload, header.size, w.rank);
        });
    if (part != msg->chunks.size())
        throw Error("mproc: internal error: " + rank_text(w.rank) + " answered " +
                    std::to_string(part) + " of the " + std::to_string(msg->chunks.size()) +
                    " chunks it was sent");
    w.spare.push_back(std::move(msg));
}

void Dispatcher::handle_result(Job& job, const ResultHeader& header, std::uint64_t first,
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
                    if (job.ns_per_item < 0) look_at_all_ = true;
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

void Dispatcher::retire_if_done(Job& job) {
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
