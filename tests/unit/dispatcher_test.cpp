// Rank 0's scheduling policy (framework/src/engine/dispatcher.*), in-process and without MPI:
// a fake outbox takes the task messages, a hand-moved clock tells the time, and the tests
// answer the messages as workers would (each chunk run by execute_chunk, its busy time set by
// the test, so that the dispatcher's estimates are the test's). Each test is a behaviour a
// user of Pool relies on.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <numeric>
#include <ranges>
#include <set>
#include <string>
#include <vector>

#include "base/execute.hpp"
#include "base/groups.hpp"
#include "base/trace.hpp"
#include "engine/dispatcher.hpp"
#include "engine/group_dispatcher.hpp"
#include "fake_clock.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/sinks.hpp"
#include "mproc/task.hpp"

namespace {

using namespace mproc;
using namespace mproc::detail;
using mproc::detail::testing::FakeClock;
using namespace std::chrono_literals;

int square(int x) {
    return x * x;
}
MPROC_TASK(square);

std::size_t length(const std::string& s) {
    return s.size();
}
MPROC_TASK(length);

int fails_on_seven(int x) {
    if (x == 7) throw std::runtime_error("seven");
    return x;
}
MPROC_TASK(fails_on_seven);

// Keeps every message the dispatcher sends, in order.
class FakeOutbox final : public Outbox {
  public:
    struct Sent {
        int rank;
        Buffer message;
    };
    Buffer take_buffer() override { return {}; }
    void send(int rank, Buffer message) override { sent.push_back({rank, std::move(message)}); }
    std::vector<Sent> take() { return std::exchange(sent, {}); }

    std::vector<Sent> sent;
};

// What a sink was given, chunk by chunk.
class RecordingSink final : public ResultSink {
  public:
    struct Got {
        std::uint64_t seq, first;
        std::uint32_t count;
        std::vector<int> values;
        std::exception_ptr error;
    };
    explicit RecordingSink(bool whole = true, bool joins = false) : whole_(whole), joins_(joins) {}

    void deliver(std::uint64_t seq, std::uint64_t first, std::uint32_t count, const char* data,
                 std::size_t size) override {
        Got g{seq, first, count, std::vector<int>(count), nullptr};
        if (size == count * sizeof(int)) std::memcpy(g.values.data(), data, size);
        got.push_back(std::move(g));
    }
    void fail(std::uint64_t seq, std::uint64_t first, std::uint32_t count,
              std::exception_ptr e) override {
        got.push_back({seq, first, count, {}, e});
    }
    void finish(std::uint64_t chunks) override { finished = chunks; }
    void abort(std::exception_ptr e) override { aborted = e; }
    bool fails_whole_job() const override { return whole_; }
    bool joins_chunks() const override { return joins_; }

    // Every value delivered, by input index.
    std::map<std::uint64_t, int> values() const {
        std::map<std::uint64_t, int> v;
        for (const Got& g : got)
            for (std::uint32_t i = 0; i < g.values.size(); ++i) v[g.first + i] = g.values[i];
        return v;
    }
    std::exception_ptr first_error() const {
        for (const Got& g : got)
            if (g.error) return g.error;
        return nullptr;
    }

    std::vector<Got> got;
    std::optional<std::uint64_t> finished;
    std::exception_ptr aborted;

  private:
    bool whole_;
    bool joins_;
};

std::string message_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    }
    return "";
}

// A job of `task` over `input`. The job owns the sink: a test that reads the sink afterwards
// keeps the job.
template <class F, class Input>
std::shared_ptr<Job> make_job(F& task, Input input, std::unique_ptr<ResultSink> sink,
                              std::uint32_t chunksize) {
    using Pack = typename task_traits<F>::pack;
    const TaskEntry& entry = lookup_task(task, "test");
    auto job = std::make_shared<Job>();
    job->task = entry.id;
    job->task_name = entry.name;
    job->source = make_source<Pack>(std::move(input), [](const auto& x) { return Pack(x); });
    job->sink = std::move(sink);
    job->chunksize = chunksize;
    return job;
}

// The chunks of one task message, as (first index, item count).
std::vector<std::pair<std::uint64_t, std::uint32_t>> chunks_of(const Buffer& message) {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> chunks;
    for_each_part<TaskHeader>(message.data(), message.size(), "task",
                              [&](const TaskHeader& h, const char*) {
                                  chunks.emplace_back(h.first, h.count);
                              });
    return chunks;
}

// Answers a task message as worker `rank` would: every chunk run, each item taking `ns`.
Buffer run_message(const Buffer& message, int rank, double ns) {
    Buffer out;
    for_each_part<TaskHeader>(message.data(), message.size(), "task",
                              [&](const TaskHeader& h, const char* args) {
                                  const std::size_t at = out.size();
                                  execute_chunk(h, args, out, Place{rank, "node" + std::to_string(rank)});
                                  ResultHeader r;
                                  std::memcpy(&r, out.data() + at, sizeof r);
                                  r.busy_ns = static_cast<std::uint64_t>(ns * h.count);
                                  std::memcpy(out.data() + at, &r, sizeof r);
                              });
    return out;
}

struct Fixture {
    explicit Fixture(GroupLayout l, Dispatcher::Limits limits = {})
        : layout(std::move(l)), local(Place{0, "node0"}),
          d(layout, outbox, clock, trace, local, limits) {}

    // Answers every message sent so far, in order, each item taking `ns`; then dispatches.
    // How many messages were answered.
    std::size_t answer_all(double ns) {
        std::size_t n = 0;
        for (auto& s : outbox.take()) {
            const Buffer reply = run_message(s.message, s.rank, ns);
            d.on_results(s.rank, reply.data(), reply.size());
            ++n;
        }
        d.dispatch();
        return n;
    }

    // Submits a map of `task` over `input` at `chunksize` to `pool` and dispatches; its sink
    // (`whole`: a failed chunk fails the job; `joins`: it takes joined results), which the job
    // kept here owns.
    template <class F, class Input>
    RecordingSink& map(int pool, F& task, Input input, std::uint32_t chunksize, bool whole = true,
                       bool joins = false) {
        auto sink = std::make_unique<RecordingSink>(whole, joins);
        RecordingSink& got = *sink;
        jobs.push_back(make_job(task, std::move(input), std::move(sink), chunksize));
        d.submit(pool, jobs.back());
        d.dispatch();
        return got;
    }

    GroupLayout layout;
    FakeOutbox outbox;
    FakeClock clock;
    Trace trace;
    ChunkRunner local;
    Dispatcher d;
    std::vector<std::shared_ptr<Job>> jobs;
};

GroupLayout flat(int ranks) {
    return plan_groups(std::vector<int>(static_cast<std::size_t>(ranks), 0), kGroupsFlat);
}

TEST(Dispatcher, GuidedChunksShrinkTowardTheEnd) {
    Fixture f(flat(5));  // 4 workers
    auto pool = f.d.open_pool(0);
    const RecordingSink* got = &f.map(pool.id, square, std::views::iota(0, 10000), 0);
    std::vector<std::uint32_t> sizes;  // in the order chunks went out
    for (int round = 0; round < 10000 && !f.outbox.sent.empty(); ++round) {
        for (const auto& s : f.outbox.sent)
            for (auto [first, count] : chunks_of(s.message)) sizes.push_back(count);
        f.answer_all(1000);  // 1 µs an item: a chunk of 1 ms is 1000 items, more than a share
    }
    ASSERT_TRUE(got->finished.has_value());
    const auto values = got->values();
    ASSERT_EQ(values.size(), 10000u);
    for (auto [i, v] : values) EXPECT_EQ(v, static_cast<int>(i * i));
    // Before the first estimate chunks grow (1, 2, 4, ...); after it, none is more than a
    // quarter of a worker's share of what is left, so they only shrink, down to single items.
    const auto largest = std::max_element(sizes.begin(), sizes.end());
    EXPECT_LE(*largest, 625u);  // 10000 / (4 × 4 workers)
    EXPECT_TRUE(std::is_sorted(largest, sizes.end(), std::greater<>()));
    EXPECT_LE(sizes.back(), 2u);
    EXPECT_TRUE(f.d.idle());
}

TEST(Dispatcher, BudgetIsOneChunkUntilTheFirstEstimateThenAboutTwoHundredMicroseconds) {
    Fixture f(flat(3));  // 2 workers
    auto pool = f.d.open_pool(0);
    auto job = make_job(square, std::views::iota(0, 1000), std::make_unique<RecordingSink>(), 1);
    f.d.submit(pool.id, job);
    f.d.dispatch();
    auto first = f.outbox.take();
    ASSERT_EQ(first.size(), 2u);  // one message each, of one chunk
    for (const auto& s : first) EXPECT_EQ(chunks_of(s.message).size(), 1u);
    f.d.dispatch();
    EXPECT_TRUE(f.outbox.sent.empty());  // nothing more before an estimate

    // Rank 1 answers: 1 µs a chunk. A worker now holds 200 µs (16 chunks at most), sent half
    // at a time: rank 1 gets two messages of 8, rank 2 (still owing one) one of 8.
    const Buffer reply = run_message(first[0].message, first[0].rank, 1000);
    f.d.on_results(first[0].rank, reply.data(), reply.size());
    f.d.dispatch();
    std::map<int, std::vector<std::size_t>> per_rank;
    for (const auto& s : f.outbox.take()) per_rank[s.rank].push_back(chunks_of(s.message).size());
    EXPECT_EQ(per_rank[1], (std::vector<std::size_t>{8, 8}));
    EXPECT_EQ(per_rank[2], (std::vector<std::size_t>{8}));
}

TEST(Dispatcher, LongTasksKeepTwoChunksOnAWorker) {
    Fixture f(flat(2));
    auto pool = f.d.open_pool(0);
    auto job = make_job(square, std::views::iota(0, 100), std::make_unique<RecordingSink>(), 1);
    f.d.submit(pool.id, job);
    f.d.dispatch();
    f.answer_all(5e6);  // 5 ms a task: 200 µs of work is less than one chunk, yet it holds two
    std::vector<std::size_t> per_message;
    for (const auto& s : f.outbox.sent) per_message.push_back(chunks_of(s.message).size());
    EXPECT_EQ(per_message, (std::vector<std::size_t>{1, 1}));
    // It owes its first for 5 ms; the dispatcher need not look before that and half more.
    auto wait = f.d.poll_again_in();
    ASSERT_TRUE(wait.has_value());
    EXPECT_EQ(*wait, std::chrono::microseconds(7500));
    f.clock.advance(5ms);
    EXPECT_EQ(*f.d.poll_again_in(), std::chrono::microseconds(2500));
}

TEST(Dispatcher, AnImapBoundStopsDispatchAndAReaderResumesIt) {
    Fixture f(flat(2));
    auto pool = f.d.open_pool(0);
    auto sink = std::make_unique<RecordingSink>();
    auto* got = sink.get();
    auto job = make_job(square, std::views::iota(0, 100), std::move(sink), 1);
    job->bound = std::make_shared<ReadBound>(4, 1000);  // four chunks unread at most
    f.d.submit(pool.id, job);
    f.d.dispatch();
    for (int i = 0; i < 20; ++i) f.answer_all(1000);
    EXPECT_EQ(got->got.size(), 4u);  // then it stops: the reader has read nothing
    EXPECT_TRUE(f.outbox.sent.empty());

    job->bound->read_chunks += 3;  // the reader reads three, and says so
    job->bound->read_items += 3;
    f.d.look_at_all();
    f.d.dispatch();
    for (int i = 0; i < 20; ++i) f.answer_all(1000);
    EXPECT_EQ(got->got.size(), 7u);
    EXPECT_FALSE(got->finished.has_value());
}

TEST(Dispatcher, AnInitializerRunsOnlyOnItsRank) {
    Fixture f(flat(4));  // 3 workers
    auto pool = f.d.open_pool(0);
    for (int rank : {3, 1}) {
        auto job = make_job(square, std::views::iota(rank, rank + 1), std::make_unique<RecordingSink>(), 1);
        job->pinned_rank = rank;
        f.d.submit(pool.id, job);
    }
    f.d.dispatch();
    auto sent = f.outbox.take();
    ASSERT_EQ(sent.size(), 2u);
    for (const auto& s : sent) {
        auto chunks = chunks_of(s.message);
        ASSERT_EQ(chunks.size(), 1u);
        EXPECT_EQ(static_cast<int>(chunks[0].first), 0);
    }
    EXPECT_EQ(sent[0].rank, 1);  // the job pinned to rank 1 went there, and the other to 3
    EXPECT_EQ(sent[1].rank, 3);
}

TEST(Dispatcher, ACancelledOrTerminatedJobsLateResultsAreDropped) {
    Fixture f(flat(3));
    auto pool = f.d.open_pool(0);
    auto sink = std::make_unique<RecordingSink>();
    auto* got = sink.get();
    auto job = make_job(square, std::views::iota(0, 100), std::move(sink), 1);
    f.d.submit(pool.id, job);
    f.d.dispatch();
    auto out = f.outbox.take();
    ASSERT_EQ(out.size(), 2u);
    f.d.cancel(*job, std::make_exception_ptr(PoolClosed("the reader went away")));
    EXPECT_EQ(message_of(got->aborted), "the reader went away");
    for (const auto& s : out) {  // the results come after all: dropped, nothing thrown
        const Buffer reply = run_message(s.message, s.rank, 1000);
        f.d.on_results(s.rank, reply.data(), reply.size());
    }
    EXPECT_TRUE(got->got.empty());
    EXPECT_TRUE(f.d.idle());
    f.d.dispatch();
    EXPECT_TRUE(f.outbox.sent.empty());  // and no more of it goes out

    // terminate: every job of the pool, with PoolClosed.
    std::vector<RecordingSink*> sinks;
    std::vector<std::shared_ptr<Job>> jobs;  // kept: each owns its sink
    for (int i = 0; i < 2; ++i) {
        auto s = std::make_unique<RecordingSink>();
        sinks.push_back(s.get());
        jobs.push_back(make_job(square, std::views::iota(0, 50), std::move(s), 1));
        f.d.submit(pool.id, jobs.back());
    }
    f.d.dispatch();
    auto late = f.outbox.take();
    f.d.terminate(pool.id);
    for (auto* s : sinks) EXPECT_EQ(message_of(s->aborted), "the pool was terminated");
    for (const auto& s : late) {
        const Buffer reply = run_message(s.message, s.rank, 1000);
        f.d.on_results(s.rank, reply.data(), reply.size());
    }
    for (auto* s : sinks) EXPECT_TRUE(s->got.empty());
    EXPECT_TRUE(f.d.idle());
}

TEST(Dispatcher, AnOversizedMessageFailsOnlyItsOwnJob) {
    Fixture f(flat(2), Dispatcher::Limits{.max_message_bytes = 4096});
    auto pool = f.d.open_pool(0);
    auto big = std::make_unique<RecordingSink>();
    auto* big_got = big.get();
    std::vector<std::string> inputs{std::string(10000, 'x'), "short"};
    auto big_job = make_job(length, inputs, std::move(big), 1);  // kept: it owns the sink
    f.d.submit(pool.id, big_job);
    auto small = std::make_unique<RecordingSink>();
    auto* small_got = small.get();
    auto small_job = make_job(square, std::views::iota(0, 20), std::move(small), 1);
    f.d.submit(pool.id, small_job);
    for (int i = 0; i < 50 && !(big_got->got.size() && small_got->finished); ++i) {
        f.d.dispatch();
        f.answer_all(1000);
    }
    const std::string why = message_of(big_got->first_error());
    EXPECT_NE(why.find("more than one MPI message carries (4096)"), std::string::npos) << why;
    EXPECT_NE(why.find("smaller chunksize"), std::string::npos) << why;
    EXPECT_FALSE(big_got->finished.has_value());
    ASSERT_TRUE(small_got->finished.has_value());
    EXPECT_EQ(small_got->values().size(), 20u);
    EXPECT_TRUE(f.d.idle());
}

// An answer that does not match what was sent ends the run (the pool service lets the error
// out); each case here starts afresh.
TEST(Dispatcher, AnAnswerForChunksThatWereNotSentIsRefused) {
    // Two workers, each sent one chunk; returns the fixture and what each was sent.
    struct Sent {
        std::unique_ptr<Fixture> f = std::make_unique<Fixture>(flat(3));
        std::shared_ptr<Job> job;
        std::vector<FakeOutbox::Sent> out;
        Sent() {
            auto pool = f->d.open_pool(0);
            job = make_job(square, std::views::iota(0, 10), std::make_unique<RecordingSink>(), 1);
            f->d.submit(pool.id, job);
            f->d.dispatch();
            out = f->outbox.take();
        }
        void refused(int from, const Buffer& bytes, const std::string& says) {
            try {
                f->d.on_results(from, bytes.data(), bytes.size());
                ADD_FAILURE() << "results from rank " << from << " were taken";
            } catch (const Error& e) {
                EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
            }
        }
    };
    {
        Sent s;
        ASSERT_EQ(s.out.size(), 2u);
        const Buffer reply = run_message(s.out[0].message, 1, 1000);
        s.refused(9, reply, "results from rank 9, which is not a worker");
        s.f->d.on_results(1, reply.data(), reply.size());
        s.refused(1, reply, "rank 1 sent results it did not owe");
    }
    {
        Sent s;  // rank 2 answers with rank 1's chunk
        s.refused(2, run_message(s.out[0].message, 2, 1000),
                  "rank 2 answered chunk 0 of job 1 out of order");
    }
    {
        Sent s;  // rank 2 answers its chunk twice over in one message
        Buffer twice = run_message(s.out[1].message, 2, 1000);
        const Buffer again = twice;
        twice.insert(twice.end(), again.begin(), again.end());
        s.refused(2, twice, "rank 2 answered more chunks than it was sent");
    }
    {
        Sent s;  // a result message cut short
        Buffer cut = run_message(s.out[1].message, 2, 1000);
        cut.resize(cut.size() - 1);
        s.refused(2, cut, "a malformed result message");
    }
}

TEST(Dispatcher, AWorkerThatStopsAnsweringIsReportedByHowLongItOwes) {
    Fixture f(flat(3));
    auto pool = f.d.open_pool(0);
    f.d.submit(pool.id, make_job(square, std::views::iota(0, 100), std::make_unique<RecordingSink>(), 1));
    f.d.dispatch();
    auto out = f.outbox.take();
    f.clock.advance(5s);
    const Buffer reply = run_message(out[0].message, out[0].rank, 1000);
    f.d.on_results(out[0].rank, reply.data(), reply.size());  // rank 1 answers; rank 2 does not
    f.d.dispatch();
    f.clock.advance(30s);
    auto quiet = f.d.quiet_workers(pool.id, 32);
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].first, 2);
    EXPECT_DOUBLE_EQ(quiet[0].second, 35.0);
    EXPECT_EQ(f.d.quiet_workers(pool.id, 30).size(), 2u);  // rank 1 owes its refill for 30 s
    EXPECT_TRUE(f.d.quiet_workers(pool.id, 36).empty());
}

// A pool engine for the imap buffer: what the reader's room would wake.
class FakeEngine final : public Engine {
  public:
    std::shared_ptr<PoolState> open_pool(int) override { return nullptr; }
    void release_pool(const PoolState&) override {}
    void submit(const PoolState&, std::shared_ptr<Job>) override {}
    void cancel(std::shared_ptr<Job>) override {}
    void terminate(const PoolState&) override {}
    std::vector<QuietWorker> quiet_workers(const PoolState&, double) override { return {}; }
    void room() override { ++rooms; }
    int rooms = 0;
};

// imap's results, read after rank 2 answered before rank 1.
std::vector<int> read_imap(bool ordered) {
    Fixture f(flat(3));
    FakeEngine engine;
    CallbackThread callbacks;
    auto state = std::make_shared<PoolState>(&engine, callbacks);
    auto pool = f.d.open_pool(0);
    auto bound = std::make_shared<ReadBound>(1000, 1000);
    auto sink = std::make_unique<StreamSink<int>>(state, bound, ordered);
    auto* stream = sink.get();
    auto job = make_job(square, std::views::iota(1, 3), std::move(sink), 1);
    job->bound = bound;
    f.d.submit(pool.id, job);
    f.d.dispatch();
    auto out = f.outbox.take();
    EXPECT_EQ(out.size(), 2u);
    for (int i : {1, 0}) {
        const Buffer reply = run_message(out[i].message, out[i].rank, 1000);
        f.d.on_results(out[i].rank, reply.data(), reply.size());
    }
    std::vector<int> read;
    while (auto chunk = stream->next())
        for (int v : chunk->values) read.push_back(v);
    return read;
}

TEST(Dispatcher, ResultsComeInInputOrderWhenOrderedAndInArrivalOrderWhenNot) {
    EXPECT_EQ(read_imap(true), (std::vector<int>{1, 4}));
    EXPECT_EQ(read_imap(false), (std::vector<int>{4, 1}));
}

TEST(Dispatcher, SeveralPoolsShareTheWorkers) {
    Fixture f(flat(5));  // 4 workers
    auto a = f.d.open_pool(2);
    auto b = f.d.open_pool(0);  // the rest
    EXPECT_EQ(a.ranks, (std::vector<int>{1, 2}));
    EXPECT_EQ(b.ranks, (std::vector<int>{3, 4}));
    try {
        f.d.open_pool(1);
        ADD_FAILURE() << "a third pool found a free worker";
    } catch (const ResourceError& e) {
        EXPECT_NE(std::string(e.what()).find("0 of 4 worker ranks are free"), std::string::npos);
    }
    auto in_a = std::make_unique<RecordingSink>();
    auto in_b = std::make_unique<RecordingSink>();
    auto* got_a = in_a.get();
    auto* got_b = in_b.get();
    auto job_a = make_job(square, std::views::iota(0, 300), std::move(in_a), 1);
    auto job_b = make_job(fails_on_seven, std::views::iota(0, 5), std::move(in_b), 1);
    f.d.submit(a.id, job_a);
    f.d.submit(b.id, job_b);
    f.d.dispatch();
    std::map<int, int> chunks_by_rank_a, chunks_by_rank_b;
    for (int i = 0; i < 100 && !f.outbox.sent.empty(); ++i) {
        for (const auto& s : f.outbox.sent)
            for (auto [first, count] : chunks_of(s.message))
                (s.rank <= 2 ? chunks_by_rank_a : chunks_by_rank_b)[s.rank] += static_cast<int>(count);
        f.answer_all(1000);
    }
    EXPECT_EQ(got_a->values().size(), 300u);
    EXPECT_EQ(got_b->values().size(), 5u);
    EXPECT_EQ(chunks_by_rank_a[1] + chunks_by_rank_a[2], 300);  // a's items on a's ranks
    EXPECT_EQ(chunks_by_rank_b[3] + chunks_by_rank_b[4], 5);
    f.d.release_pool(a.id);
    EXPECT_EQ(f.d.open_pool(1).ranks, (std::vector<int>{1}));  // a's workers are free again
}

TEST(Dispatcher, AFailedChunkFailsAMapButOnlyItsOwnItemsInAnImap) {
    for (bool whole : {true, false}) {
        Fixture f(flat(2));
        auto pool = f.d.open_pool(0);
        const RecordingSink* got =
            &f.map(pool.id, fails_on_seven, std::views::iota(0, 10), 1, whole);
        for (int i = 0; i < 50 && !f.outbox.sent.empty(); ++i) f.answer_all(1000);
        const std::string why = message_of(got->first_error());
        EXPECT_NE(why.find("seven"), std::string::npos) << why;
        EXPECT_NE(why.find("rank 1"), std::string::npos) << why;  // where it failed
        if (whole) {
            EXPECT_FALSE(got->finished.has_value());
            EXPECT_LT(got->values().size(), 9u);  // the rest of a map is not sent
        } else {
            EXPECT_TRUE(got->finished.has_value());
            EXPECT_EQ(got->values().size(), 9u);  // every item but the one that threw
        }
        EXPECT_TRUE(f.d.idle());
    }
}

// A group leader as the tests play it (group_leader.cpp decides over MPI): it runs each
// member's own messages on that member, and hands the group's chunks to its members in turn,
// answered newest first, so that rank 0 sees them out of order.
struct FakeLeader {
    struct Part {
        RouteHeader route;
        Buffer bytes;
    };
    static std::vector<Part> parts(const Buffer& message) {
        std::vector<Part> got;
        for_each_part<RouteHeader>(message.data(), message.size(), "routed",
                                   [&](const RouteHeader& r, const char* m) {
                                       got.push_back({r, Buffer(m, m + r.size)});
                                   });
        return got;
    }
    static void append(Buffer& batch, int rank, RouteFlags flags, const Buffer& bytes) {
        const RouteHeader route{rank, flags, bytes.size()};
        const std::size_t at = batch.size();
        batch.resize(at + sizeof route + bytes.size());
        std::memcpy(batch.data() + at, &route, sizeof route);
        std::memcpy(batch.data() + at + sizeof route, bytes.data(), bytes.size());
    }
    // A leader's word that member `rank` has owed results for `owed`.
    static Buffer quiet(int rank, std::chrono::nanoseconds owed) {
        const std::int64_t ns = owed.count();
        Buffer word;
        const char* bytes = reinterpret_cast<const char*>(&ns);
        append(word, rank, kRouteQuiet, Buffer(bytes, bytes + sizeof ns));
        return word;
    }
    // The batch a leader sends back for `message`, its `members` sharing the group's chunks.
    static Buffer answer(const Buffer& message, const std::vector<int>& members, double ns) {
        Buffer batch;
        std::vector<Part> group;
        for (Part& p : parts(message)) {
            if (p.route.flags == kRouteGroup)
                group.push_back(std::move(p));
            else
                append(batch, p.route.rank, kRouteMember, run_message(p.bytes, p.route.rank, ns));
        }
        std::reverse(group.begin(), group.end());
        for (std::size_t i = 0; i < group.size(); ++i) {
            const int member = members[i % members.size()];
            append(batch, member, kRouteGroup, run_message(group[i].bytes, member, ns));
        }
        return batch;
    }
};

TEST(Dispatcher, APoolWithWholeGroupsSendsTheirChunksToTheLeadersWhoHandThemOut) {
    // 7 ranks in groups of 3: rank 1 leads 2 and 3, rank 4 leads 5 and 6.
    const std::map<int, std::vector<int>> members{{1, {2, 3}}, {4, {5, 6}}};
    Fixture f(plan_groups(std::vector<int>(7, 0), 3));
    auto pool = f.d.open_pool(0);
    EXPECT_EQ(pool.ranks, (std::vector<int>{2, 3, 5, 6}));  // leaders run no tasks
    const RecordingSink* got = &f.map(pool.id, square, std::views::iota(0, 300), 1);
    std::size_t most_parts = 0;
    for (int round = 0; round < 300 && !f.outbox.sent.empty(); ++round) {
        auto out = f.outbox.take();
        std::map<int, int> per_leader;
        for (const auto& s : out) {
            ASSERT_TRUE(members.count(s.rank)) << "rank 0 sent to rank " << s.rank;
            EXPECT_EQ(++per_leader[s.rank], 1) << "a pass sends each leader one message";
            const auto parts = FakeLeader::parts(s.message);
            most_parts = std::max(most_parts, parts.size());
            for (const auto& p : parts) {
                EXPECT_EQ(p.route.flags, kRouteGroup);
                EXPECT_EQ(p.route.rank, s.rank);
                EXPECT_EQ(chunks_of(p.bytes).size(), 1u) << "one chunk a part";
            }
            const Buffer batch = FakeLeader::answer(s.message, members.at(s.rank), 1e6);
            f.d.on_results(s.rank, batch.data(), batch.size());
        }
        f.d.dispatch();
    }
    ASSERT_TRUE(got->finished.has_value());
    const auto values = got->values();
    ASSERT_EQ(values.size(), 300u);
    for (int i = 0; i < 300; ++i) EXPECT_EQ(values.at(static_cast<std::uint64_t>(i)), i * i);
    // Once estimates came, a message carries work for both members and more.
    EXPECT_GT(most_parts, 2u);
    EXPECT_TRUE(f.d.idle());
}

// Rank 0 with real leaders: each leader's GroupDispatcher takes what rank 0 sends it, its
// members run what it hands them (round by round, in order), and its batches go back to rank
// 0. What each leader got from rank 0 is kept.
struct Leaders {
    struct Links final : GroupDispatcher::Links {
        void to_member(int rank, const char* message, std::size_t size) override {
            down.emplace_back(rank, Buffer(message, message + size));
        }
        void to_rank0(Buffer batch) override { up.push_back(std::move(batch)); }
        Buffer take_buffer() override { return {}; }
        std::vector<std::pair<int, Buffer>> down;
        std::vector<Buffer> up;
    };
    struct Leader {
        Links links;
        std::unique_ptr<GroupDispatcher> g;
    };

    explicit Leaders(Fixture& f) : f(f) {
        for (std::size_t r = 0; r < f.layout.members.size(); ++r) {
            if (f.layout.members[r].empty()) continue;
            Leader& l = leaders[static_cast<int>(r)];
            l.g = std::make_unique<GroupDispatcher>(static_cast<int>(r), f.layout.members[r],
                                                    l.links, f.clock, 1 << 16);
        }
    }
    // Runs until nothing moves; each round's chunks take `ns` an item.
    void run(double ns) {
        for (int round = 0; round < 10000; ++round) {
            bool moved = false;
            for (auto& s : f.outbox.take()) {
                from_rank0[s.rank].push_back(s.message);
                leaders.at(s.rank).g->from_rank0(s.message.data(), s.message.size());
                moved = true;
            }
            for (auto& [rank, l] : leaders) {
                l.g->tick();
                for (auto& [member, m] : std::exchange(l.links.down, {})) {
                    const Buffer reply = run_message(m, member, ns);
                    l.g->from_member(member, reply.data(), reply.size());
                    moved = true;
                }
                f.clock.advance(1ms);
                l.g->tick();
                for (Buffer& batch : std::exchange(l.links.up, {})) {
                    f.d.on_results(rank, batch.data(), batch.size());
                    moved = true;
                }
            }
            f.d.dispatch();
            if (!moved) return;
        }
        ADD_FAILURE() << "still moving after 10000 rounds";
    }
    // A map of `task` over 0 .. n - 1 at chunksize 1 on `pool`, its sink taking joined
    // results or not, run to its end; the sink (its job is kept here).
    template <class F>
    RecordingSink& map(int pool, F& task, int n, bool joins) {
        RecordingSink& got = f.map(pool, task, std::views::iota(0, n), 1, true, joins);
        run(1e6);
        return got;
    }
    // The flags of every part rank 0 sent to leaders.
    std::multiset<std::uint32_t> flags_sent() const {
        std::multiset<std::uint32_t> flags;
        for (const auto& [rank, messages] : from_rank0)
            for (const Buffer& m : messages)
                for (const auto& p : FakeLeader::parts(m)) flags.insert(p.route.flags);
        return flags;
    }

    Fixture& f;
    std::map<int, Leader> leaders;
    std::map<int, std::vector<Buffer>> from_rank0;
};

TEST(Dispatcher, PlainValuesGoToLeadersAsSpansAndComeBackJoined) {
    Fixture f(plan_groups(std::vector<int>(7, 0), 3));  // rank 1 leads 2 and 3, rank 4 5 and 6
    Leaders leaders(f);
    auto pool = f.d.open_pool(0);
    const RecordingSink& got = leaders.map(pool.id, square, 500, true);
    ASSERT_TRUE(got.finished.has_value());
    EXPECT_EQ(*got.finished, 500u) << "chunks of one item each, however they travelled";
    const auto values = got.values();
    ASSERT_EQ(values.size(), 500u);
    for (int i = 0; i < 500; ++i) EXPECT_EQ(values.at(static_cast<std::uint64_t>(i)), i * i);
    // Rank 0 packed spans and took them back joined: far fewer deliveries than chunks.
    const auto flags = leaders.flags_sent();
    EXPECT_GT(flags.count(kRouteSpan), 0u);
    EXPECT_EQ(flags.count(kRouteGroup), 0u);
    EXPECT_LT(got.got.size(), 500u / 4);
    EXPECT_TRUE(f.d.idle());

    // A sink that cannot take joined results gets its chunks one by one.
    leaders.from_rank0.clear();
    EXPECT_EQ(leaders.map(pool.id, square, 100, false).got.size(), 100u);
    EXPECT_EQ(leaders.flags_sent().count(kRouteSpan), 0u);
}

TEST(Dispatcher, AFailedChunkOfASpanFailsTheMapNamingTheMemberThatRanIt) {
    Fixture f(plan_groups(std::vector<int>(4, 0), 3));  // rank 1 leads 2 and 3
    Leaders leaders(f);
    auto pool = f.d.open_pool(0);
    const RecordingSink& got = leaders.map(pool.id, fails_on_seven, 40, true);
    const std::string why = message_of(got.first_error());
    EXPECT_NE(why.find("seven"), std::string::npos) << why;
    EXPECT_TRUE(why.find("rank 2") != std::string::npos || why.find("rank 3") != std::string::npos)
        << why;
    EXPECT_GT(leaders.flags_sent().count(kRouteSpan), 0u);
    EXPECT_TRUE(f.d.idle()) << "every chunk of the broken span was accounted for";
}

TEST(Dispatcher, AJoinedAnswerThatDoesNotMatchASpanIsRefused) {
    Fixture f(plan_groups(std::vector<int>(4, 0), 3));  // rank 1 leads 2 and 3
    auto pool = f.d.open_pool(0);
    auto job = make_job(square, std::views::iota(0, 40),
                        std::make_unique<RecordingSink>(true, true), 1);
    f.d.submit(pool.id, job);
    f.d.dispatch();
    ASSERT_EQ(FakeLeader::parts(f.outbox.take().at(0).message).at(0).route.flags, kRouteSpan);
    Buffer result, batch;
    const ResultHeader wrong{job->id, 0, 1000, 0, 0, 99, ResultStatus::ok};
    result.resize(sizeof wrong);
    std::memcpy(result.data(), &wrong, sizeof wrong);
    FakeLeader::append(batch, 1, kRouteSpan, result);
    try {
        f.d.on_results(1, batch.data(), batch.size());
        ADD_FAILURE() << "a joined answer of 99 items was taken";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("group leader rank 1 joined the results of a span "
                                             "at chunk 0 of job 1 that does not match"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Dispatcher, AGroupFedByItsLeaderNamesTheMemberInErrorsAndWhenItIsQuiet) {
    Fixture f(plan_groups(std::vector<int>(4, 0), 3));  // rank 1 leads 2 and 3
    auto pool = f.d.open_pool(0);
    const RecordingSink* got = &f.map(pool.id, fails_on_seven, std::views::iota(0, 10), 1);
    for (int i = 0; i < 50 && !f.outbox.sent.empty(); ++i) {
        for (auto& s : f.outbox.take()) {
            const Buffer batch = FakeLeader::answer(s.message, {3}, 1000);
            f.d.on_results(s.rank, batch.data(), batch.size());
        }
        f.d.dispatch();
    }
    const std::string why = message_of(got->first_error());
    EXPECT_NE(why.find("seven"), std::string::npos) << why;
    EXPECT_NE(why.find("rank 3"), std::string::npos) << why;  // the member that ran it
    EXPECT_TRUE(f.d.idle());

    // Only the leader knows what a member it feeds owes: it tells rank 0.
    f.d.submit(pool.id,
               make_job(square, std::views::iota(0, 100), std::make_unique<RecordingSink>(), 1));
    f.d.dispatch();
    (void)f.outbox.take();
    EXPECT_TRUE(f.d.quiet_workers(pool.id, 1).empty());
    const Buffer word = FakeLeader::quiet(2, 40s);
    f.d.on_results(1, word.data(), word.size());
    f.clock.advance(1s);
    auto quiet = f.d.quiet_workers(pool.id, 30);
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].first, 2);
    EXPECT_DOUBLE_EQ(quiet[0].second, 41.0);
    EXPECT_TRUE(f.d.quiet_workers(pool.id, 42).empty());
    // The leader says it again every half second while the member stays quiet; word it has
    // not repeated for three of those lapses (the member's answers may come joined, unnamed).
    f.clock.advance(1s);
    quiet = f.d.quiet_workers(pool.id, 1);
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].first, 1);  // now the leader itself, silent for 2 s
}

TEST(Dispatcher, ALeaderThatSendsNothingWhileItsGroupOwesIsNamed) {
    Fixture f(plan_groups(std::vector<int>(4, 0), 3));  // rank 1 leads 2 and 3
    auto pool = f.d.open_pool(0);
    f.d.submit(pool.id,
               make_job(square, std::views::iota(0, 100), std::make_unique<RecordingSink>(), 1));
    f.d.dispatch();
    (void)f.outbox.take();
    f.clock.advance(40s);  // not a word from rank 1
    auto quiet = f.d.quiet_workers(pool.id, 30);
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].first, 1);
    EXPECT_DOUBLE_EQ(quiet[0].second, 40.0);
    // Word from it (a member quiet for long) shows it alive: then the member is named instead.
    const Buffer word = FakeLeader::quiet(3, 40s);
    f.d.on_results(1, word.data(), word.size());
    quiet = f.d.quiet_workers(pool.id, 30);
    ASSERT_EQ(quiet.size(), 1u);
    EXPECT_EQ(quiet[0].first, 3);
}

TEST(Dispatcher, PartOfAGroupAndPinnedChunksGoToTheMemberThroughItsLeader) {
    // 7 ranks in groups of 3: rank 1 leads 2 and 3, rank 4 leads 5 and 6.
    Fixture f(plan_groups(std::vector<int>(7, 0), 3));
    auto alone = f.d.open_pool(1);  // a Process, say: rank 2
    ASSERT_EQ(alone.ranks, (std::vector<int>{2}));
    auto pool = f.d.open_pool(0);  // 3 without the rest of its group; 5 and 6 whole
    ASSERT_EQ(pool.ranks, (std::vector<int>{3, 5, 6}));
    // An initializer pinned to rank 5, which its leader otherwise feeds.
    auto pinned_sink = std::make_unique<RecordingSink>();
    auto* pinned_got = pinned_sink.get();
    auto pinned = make_job(square, std::views::iota(4, 5), std::move(pinned_sink), 1);
    pinned->pinned_rank = 5;
    f.d.submit(pool.id, pinned);
    const RecordingSink* got = &f.map(pool.id, square, std::views::iota(0, 60), 1);
    std::set<std::pair<int, std::uint32_t>> seen;  // (the part's rank, its flags)
    for (int round = 0; round < 100 && !f.outbox.sent.empty(); ++round) {
        for (auto& s : f.outbox.take()) {
            for (const auto& p : FakeLeader::parts(s.message))
                seen.insert({p.route.rank, p.route.flags});
            const std::vector<int> fed = s.rank == 4 ? std::vector<int>{5, 6} : std::vector<int>{};
            const Buffer batch = FakeLeader::answer(s.message, fed, 1000);
            f.d.on_results(s.rank, batch.data(), batch.size());
        }
        f.d.dispatch();
    }
    // Rank 2 is another pool's; rank 3 is fed by rank 0 through rank 1; the group of 4 by 4,
    // but for the chunk pinned to 5.
    EXPECT_EQ(seen, (std::set<std::pair<int, std::uint32_t>>{
                        {3, kRouteMember}, {4, kRouteGroup}, {5, kRouteMember}}));
    ASSERT_TRUE(pinned_got->finished.has_value());
    EXPECT_EQ(pinned_got->values(), (std::map<std::uint64_t, int>{{0, 16}}));
    ASSERT_TRUE(got->finished.has_value());
    EXPECT_EQ(got->values().size(), 60u);
}

TEST(Dispatcher, ALeaderRelayingForAnotherGroupOrAnUnknownPartIsRefused) {
    Fixture f(plan_groups(std::vector<int>(5, 0), 2));  // rank 1 leads 2, rank 3 leads 4
    f.d.open_pool(0);
    const auto refused = [&](int rank, std::uint32_t flags, const std::string& expected) {
        Buffer b(sizeof(RouteHeader));
        const RouteHeader r{rank, flags, 0};
        std::memcpy(b.data(), &r, sizeof r);
        try {
            f.d.on_results(1, b.data(), b.size());
            ADD_FAILURE() << "rank 1 relayed for rank " << rank << ", flags " << flags;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    };
    refused(4, kRouteMember, "relayed results from rank 4, which is not in its group");
    refused(2, 7, "sent a part marked 7 of 0 bytes, which rank 0 does not know");
}

TEST(Dispatcher, WithNoWorkerRanksChunksRunHere) {
    Fixture f(flat(1));
    auto pool = f.d.open_pool(0);
    EXPECT_TRUE(pool.ranks.empty());
    auto sink = std::make_unique<RecordingSink>();
    auto* got = sink.get();
    auto job = make_job(square, std::views::iota(0, 50), std::move(sink), 0);
    f.d.submit(pool.id, job);
    for (int i = 0; i < 100 && !f.d.idle(); ++i) f.d.dispatch();
    EXPECT_TRUE(f.outbox.sent.empty());
    ASSERT_TRUE(got->finished.has_value());
    EXPECT_EQ(got->values().size(), 50u);
    EXPECT_EQ(got->values().at(49), 49 * 49);
}

}  // namespace
