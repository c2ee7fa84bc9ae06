#include "simulator.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/execute.hpp"
#include "base/groups.hpp"
#include "base/protocol.hpp"
#include "base/trace.hpp"
#include "engine/dispatcher.hpp"
#include "engine/group_dispatcher.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/sinks.hpp"
#include "mproc/task.hpp"

namespace mproc::model {

int model_task(int x) {
    return x;
}
MPROC_TASK(model_task);

namespace {

using namespace mproc::detail;
using Time = double;  // µs since the simulation began

// This thread's CPU time in µs: what a call into the Dispatcher costs rank 0, without the
// time another process held the core meanwhile (the suite runs tests side by side).
double thread_cpu_us() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// The engine's waiting rules, in µs (transport/wait.hpp, transport/mpi_thread.cpp,
// runtime_state.cpp, protocol.hpp): re-stated here because they are timing, not code the
// simulator can call with a simulated clock.
constexpr double kSpin = 20, kYield = 200, kFirstSleep = 20, kMaxSleep = 1000;
constexpr double kShortestSleep = 50;  // below it a loop yields and polls instead
constexpr double kSureSleep = 200;     // a sure wait this long is slept in one piece
constexpr double kWorkerYield = 1000;  // a dry worker yields this long before it sleeps
constexpr double kSeveralNodesSleep = 50;  // rank 0's longest sleep when ranks span nodes
// Rank 0's longest sure sleep on one node (kRelayCover).
constexpr double kRank0Longest = std::chrono::duration<double, std::micro>(kRelayCover).count();
constexpr double kMaxHold = std::chrono::duration<double, std::micro>(kMaxRelayHold).count();
constexpr int kTurnMessages = 64;      // result messages rank 0 takes a turn (pool_service.cpp)

// The dispatcher's clock: the simulated time.
class SimClock final : public Clock {
  public:
    time_point now() const override {
        return time_point(std::chrono::duration_cast<duration>(
            std::chrono::duration<double, std::micro>(t + 3.6e9)));
    }
    Time t = 0;
};

class SimOutbox final : public Outbox {
  public:
    Buffer take_buffer() override { return {}; }
    void send(int rank, Buffer message) override { sent.emplace_back(rank, std::move(message)); }
    std::vector<std::pair<int, Buffer>> sent;
};

// The map's results, as a map's sink keeps them (in place by index), and when each came.
class CountingSink final : public ResultSink {
  public:
    CountingSink(std::uint64_t n, const SimClock& clock) : values_(n), clock_(clock) {}
    void deliver(std::uint64_t, std::uint64_t first, std::uint32_t count, const char* data,
                 std::size_t size) override {
        if (first + count > values_.size())
            throw std::logic_error("simulator: a result beyond the input");
        if (size == count * sizeof(int)) std::memcpy(values_.data() + first, data, size);
        done.emplace_back(clock_.t, count);
    }
    void fail(std::uint64_t, std::uint64_t first, std::uint32_t, std::exception_ptr) override {
        throw std::logic_error("simulator: chunk at " + std::to_string(first) + " failed");
    }
    void finish(std::uint64_t) override { finished = true; }
    void abort(std::exception_ptr) override { throw std::logic_error("simulator: map aborted"); }
    bool joins_chunks() const override { return true; }  // as a map's of plain values

    std::vector<std::pair<Time, std::uint32_t>> done;  // (when, items)
    bool finished = false;

  private:
    std::vector<int> values_;
    const SimClock& clock_;
};

// A loop of the engine's MPI thread (rank 0's or a leader's): its turns, its sleeps by
// MpiThread::loop's rules, its CPU.
struct Loop {
    enum class Mode { turning, polling, sleeping } mode = Mode::turning;
    std::uint32_t gen = 0;       // the live Turn event carries this
    Time since = 0;              // polling or sleeping since
    bool idle = false;           // Backoff: idle since idle_since
    Time idle_since = 0;
    double nap = kFirstSleep;
    double idle_sleep = kMaxSleep;  // Sleeps::idle: the sleep when nothing is expected
    double longest = kMaxSleep;     // Sleeps::longest
    std::deque<std::pair<int, int>> inbox;  // (from, message) arrived, not yet taken
    double cpu = 0;
    std::uint64_t wakes = 0;

    void reset() {
        idle = false;
        nap = kFirstSleep;
    }
};

// A group leader: its loop, and its real GroupDispatcher, whose messages (kept here as a call
// makes them) become events.
struct Leader final : GroupDispatcher::Links {
    Leader(int rank, const std::vector<int>& members, const Clock& clock)
        : decide(rank, members, *this, clock, kRelayInlineBytes) {}
    void to_member(int rank, const char* message, std::size_t size) override {
        down.emplace_back(rank, Buffer(message, message + size));
    }
    void to_rank0(Buffer batch) override { up.push_back(std::move(batch)); }
    Buffer take_buffer() override { return {}; }

    Loop loop;
    GroupDispatcher decide;
    std::vector<std::pair<int, Buffer>> down;
    std::vector<Buffer> up;
};

struct Worker {
    std::deque<int> queue;  // task messages
    bool running = false;
    int result = -1;        // while running: the result message it will send
    Time dry_since = 0;
    int master = 0;         // 0, or its leader
};

enum class Kind { turn, turn_end, arrive, worker_free };

struct Event {
    Time at;
    std::uint64_t order;
    Kind kind;
    int rank;
    std::uint32_t gen;  // turn: the loop's; turn_end: 1 if the turn progressed
    int message;        // arrive: the message; -1 none
    int from;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : order > o.order; }
};

class Simulation {
  public:
    Simulation(const Setup& s, const Costs& c)
        : setup_(s), costs_(c), layout_(plan_groups(nodes(s), s.group_size > 0 ? s.group_size : kGroupsFlat)),
          local_(Place{0, "node0"}), dispatcher_(layout_, outbox_, clock_, trace_, local_),
          rng_(s.seed) {
        workers_.resize(static_cast<std::size_t>(s.ranks));
        leaders_.resize(static_cast<std::size_t>(s.ranks));
        for (int r = 1; r < s.ranks; ++r) {
            workers_[static_cast<std::size_t>(r)].master = layout_.master[static_cast<std::size_t>(r)];
            if (layout_.leader(r)) {
                auto& l = leaders_[static_cast<std::size_t>(r)];
                l = std::make_unique<Leader>(r, layout_.members[static_cast<std::size_t>(r)], clock_);
                l->loop.longest = kMaxHold;
            }
        }
        // Rank 0's loop over several nodes never sleeps past 50 µs, so that one-sided
        // operations aimed at it progress (runtime_state.cpp); on one node it naps up to 1 ms
        // when nothing is expected and sleeps up to kRelayCover when it is sure.
        const bool several_nodes = s.node_ranks > 0 && s.ranks > s.node_ranks;
        rank0_.idle_sleep = several_nodes ? kSeveralNodesSleep : kMaxSleep;
        rank0_.longest = several_nodes ? kSeveralNodesSleep : kRank0Longest;
        // What reading the clock twice costs, taken from every timed call.
        std::vector<double> empty;
        for (int i = 0; i < 2001; ++i) {
            const double a = thread_cpu_us();
            const double b = thread_cpu_us();
            empty.push_back(b - a);
        }
        std::nth_element(empty.begin(), empty.begin() + 1000, empty.end());
        clock_cost_ = empty[1000];
    }

    Outcome run();

  private:
    // Tasks per worker: 25, or four times what a worker of a group its leader feeds may have
    // out at once (twice the chunk it runs and kRelayCover), if that is more: the middle half
    // of the results, where efficiency is read, must come after rank 0 has handed out the
    // first budgets, not while it still does.
    std::uint64_t per_worker() const {
        const double cover_ms = std::chrono::duration<double, std::milli>(kRelayCover).count();
        const double out = 2 * (1 + std::ceil(cover_ms / (setup_.task_ms * setup_.chunksize)));
        return std::max<std::uint64_t>(25, static_cast<std::uint64_t>(4 * out));
    }
    static std::vector<int> nodes(const Setup& s) {
        std::vector<int> node(static_cast<std::size_t>(s.ranks), 0);
        if (s.node_ranks > 0)
            for (int r = 0; r < s.ranks; ++r) node[static_cast<std::size_t>(r)] = r / s.node_ranks;
        return node;
    }
    int node_of(int rank) const { return setup_.node_ranks > 0 ? rank / setup_.node_ranks : 0; }
    double flight(int a, int b, std::size_t bytes) const {
        return node_of(a) == node_of(b) ? costs_.latency_node
                                        : costs_.latency_net + static_cast<double>(bytes) / costs_.bandwidth;
    }
    void push(Time at, Kind kind, int rank, std::uint32_t gen = 0, int message = -1, int from = -1) {
        events_.push({at, order_++, kind, rank, gen, message, from});
    }
    int store(Buffer b) {
        if (free_.empty()) {
            slab_.push_back(std::move(b));
            return static_cast<int>(slab_.size() - 1);
        }
        const int i = free_.back();
        free_.pop_back();
        slab_[static_cast<std::size_t>(i)] = std::move(b);
        return i;
    }
    Buffer take(int i) {
        free_.push_back(i);
        return std::move(slab_[static_cast<std::size_t>(i)]);
    }
    // A call into the Dispatcher at `now`, timed: its CPU.
    template <class F>
    double timed(Time now, F&& call) {
        clock_.t = now;
        const double a = thread_cpu_us();
        call();
        const double b = thread_cpu_us();
        return std::max(0.0, b - a - clock_cost_);
    }

    Loop& loop_of(int rank) { return rank == 0 ? rank0_ : leaders_[static_cast<std::size_t>(rank)]->loop; }
    void arrive(int rank, int message, int from, Time at);
    void turn(int rank, Time t);
    void rank0_turn(Time start, double& cpu, bool& progressed);
    void leader_turn(int rank, Time start, double& cpu, bool& progressed);
    void turn_end(int rank, Time e, bool progressed);
    std::optional<double> patience(int rank, Time e);
    void schedule(Loop& l, int rank, Time at, Loop::Mode mode, Time since);
    void worker_arrive(int rank, int message, Time at);
    void worker_start(int rank, Time at);
    void worker_free(int rank, Time at);

    Setup setup_;
    Costs costs_;
    GroupLayout layout_;
    SimClock clock_;
    SimOutbox outbox_;
    Trace trace_;
    ChunkRunner local_;
    Dispatcher dispatcher_;
    std::mt19937_64 rng_;
    double clock_cost_ = 0;

    std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
    std::uint64_t order_ = 0;
    std::vector<Buffer> slab_;
    std::vector<int> free_;
    Loop rank0_;
    std::vector<std::unique_ptr<Leader>> leaders_;
    std::vector<Worker> workers_;

    // Rank 0's counts as time goes, at the start of each of its turns: CPU so far, of it in the
    // Dispatcher, wake-ups, messages and turns.
    struct Mark {
        Time at;
        double cpu, dispatcher;
        std::uint64_t wakes, messages, turns;
    };
    std::vector<Mark> marks_;
    double dispatcher_cpu_ = 0;
    std::uint64_t rank0_messages_ = 0;
    std::uint64_t rank0_turns_ = 0;
    // Every message a worker ran: (began, ended), for the share of the workers' time in tasks.
    std::vector<std::pair<Time, Time>> runs_;
};

void Simulation::schedule(Loop& l, int rank, Time at, Loop::Mode mode, Time since) {
    l.mode = mode;
    l.since = since;
    push(at, Kind::turn, rank, ++l.gen);
}

void Simulation::arrive(int rank, int message, int from, Time at) {
    if (rank != 0 && !layout_.leader(rank)) return worker_arrive(rank, message, at);
    Loop& l = loop_of(rank);
    l.inbox.emplace_back(from, message);
    // A polling loop sees it on its next poll; a sleeping one when its sleep ends; a turning
    // one when its turn ends.
    if (l.mode == Loop::Mode::polling) schedule(l, rank, at, Loop::Mode::polling, l.since);
}

void Simulation::turn(int rank, Time t) {
    Loop& l = loop_of(rank);
    double cpu = 0;
    if (l.mode == Loop::Mode::sleeping) {
        cpu += costs_.wake;  // the wake-up's CPU, before the turn can start
        ++l.wakes;
    } else if (l.mode == Loop::Mode::polling) {
        cpu += t - l.since;  // polling is the core's time
    }
    l.cpu += cpu;
    if (rank == 0)
        marks_.push_back({t, rank0_.cpu, dispatcher_cpu_, rank0_.wakes, rank0_messages_, rank0_turns_});
    const Time start = t + (l.mode == Loop::Mode::sleeping ? costs_.wake : 0);
    l.mode = Loop::Mode::turning;
    double work = 0;
    bool progressed = false;
    if (rank == 0)
        rank0_turn(start, work, progressed);
    else
        leader_turn(rank, start, work, progressed);
    work += costs_.turn;
    if (rank == 0) ++rank0_turns_;
    l.cpu += work;
    push(start + work, Kind::turn_end, rank, progressed ? 1 : 0);
}

void Simulation::rank0_turn(Time start, double& cpu, bool& progressed) {
    for (int n = 0; n < kTurnMessages && !rank0_.inbox.empty(); ++n) {
        auto [from, message] = rank0_.inbox.front();
        rank0_.inbox.pop_front();
        const Buffer b = take(message);
        const double d = timed(start + cpu, [&] { dispatcher_.on_results(from, b.data(), b.size()); });
        dispatcher_cpu_ += d;
        cpu += d + costs_.message;
        ++rank0_messages_;
        progressed = true;
    }
    const double d = timed(start + cpu, [&] { progressed |= dispatcher_.dispatch(); });
    dispatcher_cpu_ += d;
    cpu += d;
    for (auto& [rank, message] : std::exchange(outbox_.sent, {})) {
        cpu += costs_.message;
        ++rank0_messages_;
        const double at = start + cpu + flight(0, rank, message.size());
        push(at, Kind::arrive, rank, 0, store(std::move(message)), 0);
    }
}

void Simulation::leader_turn(int rank, Time start, double& cpu, bool& progressed) {
    Leader& l = *leaders_[static_cast<std::size_t>(rank)];
    // A call into the leader's GroupDispatcher, timed like rank 0's; what it sent leaves
    // after it, each message at its cost.
    const auto call = [&](auto&& f) {
        cpu += timed(start + cpu, f);
        for (auto& [member, message] : std::exchange(l.down, {})) {
            cpu += costs_.ring;
            push(start + cpu + costs_.latency_node, Kind::arrive, member, 0, store(std::move(message)), rank);
        }
        for (Buffer& batch : std::exchange(l.up, {})) {
            cpu += costs_.message;
            const std::size_t size = batch.size();
            push(start + cpu + flight(rank, 0, size), Kind::arrive, 0, 0, store(std::move(batch)), rank);
        }
    };
    while (!l.loop.inbox.empty()) {
        auto [from, message] = l.loop.inbox.front();
        l.loop.inbox.pop_front();
        const Buffer b = take(message);
        progressed = true;
        if (from == 0) {
            cpu += costs_.message;
            call([&] { l.decide.from_rank0(b.data(), b.size()); });
        } else {
            cpu += costs_.ring;
            call([&] { l.decide.from_member(from, b.data(), b.size()); });
        }
    }
    call([&] { l.decide.tick(); });
}

std::optional<double> Simulation::patience(int rank, Time e) {
    if (rank == 0) {
        std::optional<Clock::duration> wait;
        const double d = timed(e, [&] { wait = dispatcher_.poll_again_in(); });
        dispatcher_cpu_ += d;
        rank0_.cpu += d;
        if (!wait) return std::nullopt;
        return std::chrono::duration<double, std::micro>(*wait).count();
    }
    clock_.t = e;
    const auto wait = leaders_[static_cast<std::size_t>(rank)]->decide.poll_again_in();
    if (!wait) return std::nullopt;
    return std::chrono::duration<double, std::micro>(*wait).count();
}

// MpiThread::loop after a turn that ended at `e`.
void Simulation::turn_end(int rank, Time e, bool progressed) {
    Loop& l = loop_of(rank);
    if (progressed || !l.inbox.empty()) {
        l.reset();
        return schedule(l, rank, e, Loop::Mode::turning, e);
    }
    const std::optional<double> wait = patience(rank, e);
    if (!wait) {
        l.reset();
        return schedule(l, rank, e + l.idle_sleep, Loop::Mode::sleeping, e);
    }
    if (!l.idle) {
        l.idle = true;
        l.idle_since = e;
    }
    const double idle_for = e - l.idle_since;
    const double cap = std::min(l.longest, *wait);
    // Backoff::pause: the caller's poll spins, then yields, then sleeps in growing naps.
    const auto pause = [&](double longest) {
        if (idle_for < kSpin) return schedule(l, rank, l.idle_since + kSpin, Loop::Mode::polling, e);
        if (idle_for < kYield) return schedule(l, rank, l.idle_since + kYield, Loop::Mode::polling, e);
        const double nap = std::min(l.nap, longest);
        l.nap = std::min(l.nap * 2, kMaxSleep);
        schedule(l, rank, e + nap, Loop::Mode::sleeping, e);
    };
    if (idle_for > std::max(4 * *wait, 1000.0)) return pause(l.idle_sleep);
    if (cap < kShortestSleep)
        // Yields and polls until something comes (an arrival ends the poll at once); looked
        // at again every 10 µs, which only re-reads the patience.
        return schedule(l, rank, e + std::max(cap, 10.0), Loop::Mode::polling, e);
    if (cap >= kSureSleep) return schedule(l, rank, e + cap, Loop::Mode::sleeping, e);
    pause(cap);
}

void Simulation::worker_arrive(int rank, int message, Time at) {
    Worker& w = workers_[static_cast<std::size_t>(rank)];
    w.queue.push_back(message);
    if (w.running) return;
    w.running = true;
    // A dry worker yields for a while, then sleeps: a member on its ring (a write wakes it),
    // a flat worker in growing naps.
    const double dry = at - w.dry_since;
    Time start = at;
    if (dry >= kWorkerYield) {
        if (w.master != 0) {
            start = at + costs_.wake;
        } else {
            Time nap_end = w.dry_since + kWorkerYield;
            for (double nap = kFirstSleep; nap_end < at; nap = std::min(nap * 2, kMaxSleep)) nap_end += nap;
            start = nap_end + costs_.wake;
        }
    }
    worker_start(rank, start);
}

void Simulation::worker_start(int rank, Time at) {
    Worker& w = workers_[static_cast<std::size_t>(rank)];
    const int message = w.queue.front();
    w.queue.pop_front();
    const Buffer task = take(message);
    Buffer result;
    double busy = 0;
    std::uniform_real_distribution<double> spread(1 - setup_.spread, 1 + setup_.spread);
    for_each_part<TaskHeader>(task.data(), task.size(), "task", [&](const TaskHeader& h, const char* args) {
        const std::size_t start = result.size();
        execute_chunk(h, args, result, Place{rank, "node" + std::to_string(node_of(rank))});
        double took = 0;
        for (std::uint32_t i = 0; i < h.count; ++i) took += setup_.task_ms * 1000 * spread(rng_);
        ResultHeader r;
        std::memcpy(&r, result.data() + start, sizeof r);
        r.busy_ns = static_cast<std::uint64_t>(took * 1000);
        std::memcpy(result.data() + start, &r, sizeof r);
        busy += took;
    });
    const double hop = w.master == 0 ? costs_.message : costs_.ring;
    const Time done = at + hop + busy;
    runs_.emplace_back(at + hop, done);
    w.result = store(std::move(result));
    push(done, Kind::worker_free, rank);
}

void Simulation::worker_free(int rank, Time at) {
    Worker& w = workers_[static_cast<std::size_t>(rank)];
    const int result = w.result;
    const std::size_t size = slab_[static_cast<std::size_t>(result)].size();
    const double hop = w.master == 0 ? costs_.message : costs_.ring;
    push(at + hop + (w.master == 0 ? flight(rank, 0, size) : costs_.latency_node), Kind::arrive,
         w.master, 0, result, rank);
    if (w.queue.empty()) {
        w.running = false;
        w.dry_since = at + hop;
    } else {
        worker_start(rank, at + hop);
    }
}

Outcome Simulation::run() {
    const int workers = layout_.workers();
    if (workers < 1) throw std::invalid_argument("simulator: no rank runs tasks");
    const std::uint64_t n =
        setup_.tasks > 0 ? setup_.tasks : std::max<std::uint64_t>(20'000, per_worker() * static_cast<std::uint64_t>(workers));

    const TaskEntry& entry = lookup_task(model_task, "simulator");
    auto job = std::make_shared<Job>();
    job->task = entry.id;
    job->task_name = entry.name;
    using Pack = task_traits<std::decay_t<decltype(model_task)>>::pack;
    job->source = make_source<Pack>(std::views::iota(std::uint64_t{0}, n),
                                    [](std::uint64_t i) { return Pack(static_cast<int>(i)); });
    auto sink = std::make_unique<CountingSink>(n, clock_);
    CountingSink& results = *sink;
    job->sink = std::move(sink);
    job->chunksize = setup_.chunksize;
    const auto pool = dispatcher_.open_pool(0);
    dispatcher_.submit(pool.id, job);
    schedule(rank0_, 0, 0, Loop::Mode::turning, 0);
    for (int r = 1; r < setup_.ranks; ++r)
        if (layout_.leader(r)) schedule(leaders_[static_cast<std::size_t>(r)]->loop, r, 0, Loop::Mode::turning, 0);

    Time now = 0;
    while (!results.finished) {
        if (events_.empty()) throw std::logic_error("simulator: nothing left to happen, the map unfinished");
        const Event e = events_.top();
        events_.pop();
        now = e.at;
        switch (e.kind) {
            case Kind::turn:
                if (e.gen == loop_of(e.rank).gen) turn(e.rank, e.at);
                break;
            case Kind::turn_end:
                turn_end(e.rank, e.at, e.gen != 0);
                break;
            case Kind::arrive:
                arrive(e.rank, e.message, e.from, e.at);
                break;
            case Kind::worker_free:
                worker_free(e.rank, e.at);
                break;
        }
    }
    marks_.push_back({now, rank0_.cpu, dispatcher_cpu_, rank0_.wakes, rank0_messages_, rank0_turns_});

    // The steady state: from a quarter of the results to three quarters.
    std::uint64_t count = 0;
    Time from = 0, to = 0;
    std::uint64_t in_window = 0;
    for (const auto& [at, items] : results.done) {
        count += items;
        if (from == 0) {
            if (count >= n / 4) from = at;  // the results after this one are the window's
        } else if (count <= 3 * n / 4) {
            in_window += items;
            to = at;
        }
    }
    const auto mark_at = [&](Time t) {
        const auto it = std::ranges::upper_bound(marks_, t, {}, &Mark::at);
        return it == marks_.begin() ? marks_.front() : *std::prev(it);
    };
    const Mark a = mark_at(from), b = mark_at(to);
    const double span = to - from;
    Outcome o;
    o.workers = workers;
    o.tasks = n;
    // The share of the workers' time spent in tasks over the span: the rate over the ideal
    // rate (workers ÷ a task's mean length) without the granularity of counting whole tasks,
    // whose ends come in waves.
    double in_tasks = 0;
    for (const auto& [began, ended] : runs_) in_tasks += std::max(0.0, std::min(ended, to) - std::max(began, from));
    o.efficiency = span > 0 ? in_tasks / (span * workers) : 0;
    const auto per_task = [&](double x) { return in_window > 0 ? x / static_cast<double>(in_window) : 0; };
    o.rank0_us_per_task = per_task(b.cpu - a.cpu);
    o.dispatcher_us_per_task = per_task(b.dispatcher - a.dispatcher);
    o.wakes_per_task = per_task(static_cast<double>(b.wakes - a.wakes));
    o.messages_per_task = per_task(static_cast<double>(b.messages - a.messages));
    o.turns_per_task = per_task(static_cast<double>(b.turns - a.turns));
    // A turn that began inside the span counts whole, so a saturated rank 0 may show a little
    // over the span; it is busy all of it.
    o.rank0_busy = span > 0 ? std::min(1.0, (b.cpu - a.cpu) / span) : 0;
    o.simulated_seconds = now / 1e6;
    return o;
}

}  // namespace

Outcome simulate(const Setup& setup, const Costs& costs) {
    if (setup.ranks < 2) throw std::invalid_argument("simulator: at least 2 ranks");
    Simulation s(setup, costs);
    return s.run();
}

}  // namespace mproc::model
