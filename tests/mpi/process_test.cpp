// Process, Queue, JoinableQueue and Pipe at 1, 2, 3 and 5 ranks: the seeds' examples and
// stress around them. With fewer worker ranks than processes, the rest run on threads of
// rank 0, so every test means the same at every rank count.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mproc/mproc.hpp>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using Text = mproc::Queue<std::string>;

namespace {

// ---- Targets ------------------------------------------------------------------------------

void say_hello(Text q) {
    const auto me = mproc::current_process();
    q.put("hello from " + me.name() + " on rank " + std::to_string(me.rank()));
}
MPROC_TASK(say_hello);

void fail_loudly(int) {
    throw std::runtime_error("the target gave up");
}
MPROC_TASK(fail_loudly);

// Reads forever; only terminate() stops it.
void read_forever(Text q, mproc::Value<std::int64_t> seen) {
    for (;;) {
        (void)q.get();
        seen.fetch_add(1);
    }
}
MPROC_TASK(read_forever);

// The seeds' writer: puts under a lock shared with the parent.
void write_items(mproc::Queue<int> q, mproc::Lock lock, int n) {
    for (int i = 0; i < n; ++i) {
        std::lock_guard hold(lock);
        q.put(i);
    }
}
MPROC_TASK(write_items);

// The seeds' producer/consumer: (op, a, b) tasks until "STOP", results to the done queue.
struct Work {
    std::string op;
    int a = 0, b = 0;
    template <class Ar>
    void serialize(Ar& ar, unsigned) {
        ar& op& a& b;
    }
};
void calculate(mproc::Queue<Work> tasks, mproc::Queue<std::string> done) {
    for (;;) {
        Work w = tasks.get();
        if (w.op == "STOP") return;
        const int r = w.op == "mul" ? w.a * w.b : w.a + w.b;
        done.put(mproc::current_process().name() + " says that " + w.op + "(" +
                 std::to_string(w.a) + ", " + std::to_string(w.b) + ") = " + std::to_string(r));
    }
}
MPROC_TASK(calculate);

void put_big(mproc::Queue<std::string> q, std::size_t bytes) {
    q.put(std::string(bytes, 'x'));
}
MPROC_TASK(put_big);

void consume_joinable(mproc::JoinableQueue<int> q, mproc::Value<std::int64_t> sum) {
    for (;;) {
        const int x = q.get();
        if (x < 0) {
            q.task_done();
            return;
        }
        sum.fetch_add(x);
        q.task_done();
    }
}
MPROC_TASK(consume_joinable);

using Tagged = std::pair<int, int>;  // (producer, sequence number)
void produce_tagged(mproc::Queue<Tagged> q, int producer, int n) {
    for (int i = 0; i < n; ++i) q.put({producer, i});
}
MPROC_TASK(produce_tagged);

// Takes items until a (-1, -1) sentinel; reports any producer's numbers out of order.
void consume_tagged(mproc::Queue<Tagged> q, mproc::Queue<Tagged> seen) {
    std::map<int, int> last;
    for (;;) {
        const Tagged t = q.get();
        if (t.first < 0) return;
        auto it = last.find(t.first);
        if (it != last.end() && t.second <= it->second) seen.put({-2, t.first});  // disorder
        last[t.first] = t.second;
        seen.put(t);
    }
}
MPROC_TASK(consume_tagged);

void echo(mproc::Connection<std::string> end) {
    try {
        for (;;) end.send(end.recv() + "!");
    } catch (const mproc::EOFError&) {
        end.close();
    }
}
MPROC_TASK(echo);

// Reads one message and reports its size if every byte is 'y' (-1 if not).
void check_big(mproc::Connection<std::string> end, mproc::Value<std::int64_t> size) {
    const std::string got = end.recv();
    size.store(got.find_first_not_of('y') == std::string::npos
                   ? static_cast<std::int64_t>(got.size())
                   : -1);
}
MPROC_TASK(check_big);

// Sends `n` numbers, then closes its end.
void count_to(mproc::Connection<int> end, int n) {
    for (int i = 0; i < n; ++i) end.send(i);
    end.close();
}
MPROC_TASK(count_to);

// Python's idiom: the child closes its copy of the parent's end (the parent still holds it),
// answers, and ends, which lets go of its own end.
void talk_back(mproc::Connection<int> mine, mproc::Connection<int> parents) {
    parents.close();
    const int x = mine.recv();
    for (int i = 0; i < 3; ++i) mine.send(x + i);
}
MPROC_TASK(talk_back);

void sleep_long(int) {
    mproc::sleep(60s);
}
MPROC_TASK(sleep_long);

void no_arguments() {}
MPROC_TASK(no_arguments);

// Handles beside an argument that is not trivially copyable, and inside a container.
int put_labelled(mproc::Queue<std::string> q, std::string label) {
    q.put(label + "!");
    return 0;
}
MPROC_TASK(put_labelled);
int bump_each(std::vector<mproc::Value<std::int32_t>> values) {
    for (auto& v : values) v.fetch_add(1);
    return static_cast<int>(values.size());
}
MPROC_TASK(bump_each);

void compute_only(int x) {
    if (x != 7) throw std::runtime_error("wrong argument");
}
MPROC_TASK(compute_only);

// A target that tries to make a Pool of its own, and says what happened.
void make_pool(Text q) {
    try {
        mproc::Pool inner;
        q.put("made a pool");
    } catch (const mproc::Error& e) {
        q.put(std::string("refused: ") + e.what());
    }
}
MPROC_TASK(make_pool);

int pool_in_task(int) {
    mproc::Pool inner;
    return inner.processes();
}
MPROC_TASK(pool_in_task);

// A target that starts a Process of its own, joins it, and says how it went.
void start_child(Text q) {
    mproc::Process child(compute_only, 7);
    child.start();
    child.join();
    q.put("child exit " + std::to_string(child.exitcode().value_or(99)));
}
MPROC_TASK(start_child);

}  // namespace

// ---- Process ------------------------------------------------------------------------------

TEST(Process, RunsItsTargetAndJoins) {
    Text q;
    mproc::Process p(say_hello, q);
    EXPECT_FALSE(p.exitcode().has_value());
    EXPECT_EQ(p.rank(), -1);
    p.start();
    const std::string got = q.get(30s);
    EXPECT_NE(got.find("hello from " + p.name()), std::string::npos) << got;
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
    EXPECT_EQ(p.name().rfind("Process-", 0), 0u);
    if (mproc::worker_count() > 0) {
        EXPECT_GE(p.rank(), 1);
        EXPECT_NE(got.find("on rank " + std::to_string(p.rank())), std::string::npos) << got;
    }
    EXPECT_EQ(mproc::current_process().name(), "MainProcess");
}

TEST(Process, ATargetThatThrowsExitsWithOne) {
    mproc::Process p(fail_loudly, 0);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
}

TEST(Process, TerminateStopsAReaderBlockedInGet) {
    Text q;
    mproc::Value<std::int64_t> seen(0);
    mproc::Process reader(read_forever, q, seen);
    reader.start();
    for (int i = 0; i < 5; ++i) q.put("item");
    while (seen.load() < 5) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(reader.is_alive());
    EXPECT_FALSE(reader.join(50ms));  // still blocked in get
    reader.terminate();
    EXPECT_TRUE(reader.join(30s));
    EXPECT_EQ(reader.exitcode(), -15);
    EXPECT_EQ(seen.load(), 5);
}

TEST(Process, TerminateInterruptsSleep) {
    mproc::Process p(sleep_long, 0);
    p.start();
    std::this_thread::sleep_for(20ms);
    const auto t0 = std::chrono::steady_clock::now();
    p.terminate();
    p.join();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    EXPECT_EQ(p.exitcode(), -15);
}

// As in Python (CPython's _TestProcess): join with a negative timeout returns at once.
TEST(Process, JoinWithANegativeTimeoutReturnsAtOnce) {
    mproc::Process p(sleep_long, 0);
    p.start();
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(p.join(-1s));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
    EXPECT_TRUE(p.is_alive());
    p.terminate();
    p.join();
}

// A Process started from a Process works at every rank count (on a worker rank the child runs
// on a thread of that rank, as the top level falls back to a thread of rank 0).
TEST(Process, AProcessStartsAProcess) {
    Text q;
    mproc::Process parent(start_child, q);
    parent.start();
    EXPECT_EQ(q.get(30s), "child exit 0");
    parent.join();
    EXPECT_EQ(parent.exitcode(), 0);
}

// Python's pid, name, daemon, kill, active_children and cpu_count (CPython's _TestProcess).
TEST(Process, PidNameDaemonAndActiveChildrenAsInPython) {
    EXPECT_GE(mproc::cpu_count(), 1);
    EXPECT_TRUE(mproc::active_children().empty());
    Text q;
    mproc::Process p(say_hello, q);
    p.set_name("greeter");
    EXPECT_FALSE(p.pid().has_value());
    p.start();
    EXPECT_THROW(p.set_name("late"), mproc::Error);
    const std::string got = q.get(30s);
    EXPECT_EQ(got.rfind("hello from greeter on rank ", 0), 0u) << got;
    ASSERT_TRUE(p.pid().has_value());
    EXPECT_GT(*p.pid(), 0);
    p.join();
    EXPECT_TRUE(mproc::active_children().empty());

    const auto t0 = std::chrono::steady_clock::now();
    {
        mproc::Process d(sleep_long, 0);  // a minute, unless ended
        d.set_daemon(true);
        EXPECT_TRUE(d.daemon());
        d.start();
        const auto kids = mproc::active_children();
        ASSERT_EQ(kids.size(), 1u);
        EXPECT_EQ(kids[0].name(), d.name());
        EXPECT_EQ(kids[0].rank(), d.rank());
    }  // a daemon is terminated here, not waited for
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
    EXPECT_TRUE(mproc::active_children().empty());

    mproc::Process k(sleep_long, 0);
    k.start();
    k.kill();
    k.join();
    EXPECT_EQ(k.exitcode(), -15);
}

// A Pool inside a Process target, or inside a Pool task, is refused the same documented way
// at every rank count, one included (where it would otherwise run on rank 0 after all).
TEST(Process, APoolInsideATargetOrATaskIsRefusedAtEveryRankCount) {
    Text q;
    mproc::Process p(make_pool, q);
    p.start();
    const std::string got = q.get(30s);
    EXPECT_EQ(got.rfind("refused: mproc: a Pool is made by the main function on rank 0", 0), 0u)
        << got;
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    mproc::Pool pool;
    try {
        (void)pool.apply(pool_in_task, 0);
        FAIL() << "a Pool was made inside a task";
    } catch (const mproc::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("a Pool is made by the main function"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Process, ATargetWithNoArguments) {
    mproc::Process p(no_arguments);
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, MoreProcessesThanWorkersStillRun) {
    Text q;
    const int n = mproc::worker_count() + 2;
    std::vector<mproc::Process> ps;
    for (int i = 0; i < n; ++i) ps.emplace_back(say_hello, q);
    for (auto& p : ps) p.start();
    std::set<std::string> got;
    for (int i = 0; i < n; ++i) got.insert(q.get(30s));
    for (auto& p : ps) p.join();
    EXPECT_EQ(got.size(), static_cast<std::size_t>(n));
    for (auto& p : ps) EXPECT_EQ(p.exitcode(), 0);
}

// ---- The seeds' examples ------------------------------------------------------------------

TEST(Seeds, WriterAndReaderShareAQueueUnderALock) {
    mproc::Queue<int> q;
    mproc::Lock lock;
    mproc::Process writer(write_items, q, lock, 50);
    writer.start();
    std::vector<int> got;
    for (int i = 0; i < 50; ++i) {
        const int x = q.get(30s);
        std::lock_guard hold(lock);  // the seeds print under the lock
        got.push_back(x);
    }
    writer.join();
    std::vector<int> want(50);
    for (int i = 0; i < 50; ++i) want[i] = i;
    EXPECT_EQ(got, want);
    EXPECT_EQ(writer.exitcode(), 0);
}

TEST(Seeds, ProducerConsumerWithStopSentinels) {
    mproc::Queue<Work> tasks;
    mproc::Queue<std::string> done;
    const int workers = 4, n = 20;
    for (int i = 0; i < n; ++i) tasks.put(Work{i % 2 ? "plus" : "mul", i, 7});
    std::vector<mproc::Process> ps;
    for (int i = 0; i < workers; ++i) ps.emplace_back(calculate, tasks, done);
    for (auto& p : ps) p.start();
    std::multiset<std::string> results;
    for (int i = 0; i < n; ++i) results.insert(done.get(30s));
    for (int i = 0; i < workers; ++i) tasks.put(Work{"STOP"});
    for (auto& p : ps) p.join();
    ASSERT_EQ(results.size(), static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        const std::string tail = (i % 2 ? "plus(" : "mul(") + std::to_string(i) +
                                 ", 7) = " + std::to_string(i % 2 ? i + 7 : i * 7);
        const bool found = std::any_of(results.begin(), results.end(), [&](const std::string& r) {
            return r.size() >= tail.size() &&
                   r.compare(r.size() - tail.size(), tail.size(), tail) == 0;
        });
        EXPECT_TRUE(found) << tail;
    }
    EXPECT_TRUE(tasks.empty());
}

TEST(Seeds, JoinBeforeGetWithAOneMegabyteItem) {
    mproc::Queue<std::string> q;
    mproc::Process p(put_big, q, std::size_t{1} << 20);
    p.start();
    p.join();  // in Python this can deadlock; here the item waits on rank 0
    EXPECT_EQ(q.get(30s).size(), std::size_t{1} << 20);
    EXPECT_EQ(p.exitcode(), 0);
}

// ---- Queues -------------------------------------------------------------------------------

// f(Queue<T>, std::string) and f(std::vector<Value<T>>), which Python passes as any other
// arguments: the handles travel as their bytes inside what Boost serializes.
TEST(Queue, HandlesTravelBesideStringsAndInsideContainers) {
    mproc::Pool pool;
    Text q;
    std::vector<std::tuple<Text, std::string>> args;
    for (int i = 0; i < 6; ++i) args.emplace_back(q, "item " + std::to_string(i));
    (void)pool.starmap(put_labelled, args, 1);
    std::set<std::string> got;
    for (int i = 0; i < 6; ++i) got.insert(q.get(30s));
    EXPECT_EQ(got.size(), 6u);
    EXPECT_EQ(got.count("item 3!"), 1u);

    std::vector<mproc::Value<std::int32_t>> values(4);  // four of them
    const std::vector<std::vector<mproc::Value<std::int32_t>>> batches(5, values);
    int total = 0;
    for (int n : pool.map(bump_each, batches, 1)) total += n;
    EXPECT_EQ(total, 20);
    for (auto& v : values) EXPECT_EQ(v.load(), 5);

    mproc::Process p(put_labelled, q, std::string("from a Process"));
    p.start();
    EXPECT_EQ(q.get(30s), "from a Process!");
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Queue, TimeoutsNowaitAndSizes) {
    mproc::Queue<int> q(2);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(q.get_nowait(), mproc::Empty);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_THROW(q.get(50ms), mproc::Empty);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
    q.put(1);
    q.put_nowait(2);
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_THROW(q.put_nowait(3), mproc::Full);
    EXPECT_THROW(q.put(3, 30ms), mproc::Full);
    EXPECT_EQ(q.get(), 1);
    q.put(3, 1s);  // room again
    EXPECT_EQ(q.get(), 2);
    EXPECT_EQ(q.get(), 3);
    mproc::Queue<int> closed;
    closed.close();
    EXPECT_THROW(closed.put(1), mproc::Error);
}

TEST(Queue, MaxsizeHoldsProducersBack) {
    mproc::Queue<Tagged> q(3);
    mproc::Process producer(produce_tagged, q, 0, 30);
    producer.start();
    std::this_thread::sleep_for(50ms);
    EXPECT_LE(q.qsize(), 3u);  // the producer waits for room
    for (int i = 0; i < 30; ++i) EXPECT_EQ(q.get(30s).second, i);
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);
}

TEST(Queue, ManyProducersAndConsumersLoseAndRepeatNothing) {
    mproc::Queue<Tagged> q, seen;
    const int producers = 3, consumers = 3, n = 300;
    std::vector<mproc::Process> ps;
    for (int p = 0; p < producers; ++p) ps.emplace_back(produce_tagged, q, p, n);
    for (int c = 0; c < consumers; ++c) ps.emplace_back(consume_tagged, q, seen);
    for (auto& p : ps) p.start();
    std::set<Tagged> got;
    int disorder = 0;
    for (int i = 0; i < producers * n; ++i) {
        const Tagged t = seen.get(60s);
        if (t.first == -2) {
            ++disorder;
            --i;
            continue;
        }
        EXPECT_TRUE(got.insert(t).second) << "delivered twice: " << t.first << "/" << t.second;
    }
    for (int c = 0; c < consumers; ++c) q.put({-1, -1});
    for (auto& p : ps) p.join();
    EXPECT_EQ(got.size(), static_cast<std::size_t>(producers * n));
    EXPECT_EQ(disorder, 0);
    for (auto& p : ps) EXPECT_EQ(p.exitcode(), 0);
}

TEST(Queue, JoinableQueueJoinsWhenEveryItemIsDone) {
    mproc::JoinableQueue<int> q;
    mproc::Value<std::int64_t> sum(0);
    mproc::Process consumer(consume_joinable, q, sum);
    consumer.start();
    for (int i = 1; i <= 100; ++i) q.put(i);
    q.join();
    EXPECT_EQ(sum.load(), 5050);
    q.put(-1);
    consumer.join();
    EXPECT_THROW(q.task_done(), mproc::Error);
}

// ---- Pipes --------------------------------------------------------------------------------

TEST(Pipe, EchoesAndEndsWithEOF) {
    auto [mine, theirs] = mproc::Pipe<std::string>();
    mproc::Process p(echo, theirs);
    p.start();
    EXPECT_FALSE(mine.poll(20ms));
    for (int i = 0; i < 100; ++i) {
        mine.send("ping " + std::to_string(i));
        EXPECT_EQ(mine.recv(), "ping " + std::to_string(i) + "!");
    }
    mine.send("last");
    EXPECT_TRUE(mine.poll(30s));
    mine.close();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    auto [a, b] = mproc::Pipe<int>();
    a.send(1);
    a.send(2);
    a.close();
    EXPECT_EQ(b.recv(), 1);  // what was sent before close is still read
    EXPECT_EQ(b.recv(), 2);
    EXPECT_THROW(b.recv(), mproc::EOFError);
}

TEST(Pipe, OneWayAndAHundredMegabytes) {
    auto [reader, writer] = mproc::Pipe<std::string>(false);
    EXPECT_THROW(reader.send("x"), mproc::Error);
    EXPECT_THROW(writer.recv(), mproc::Error);
    EXPECT_THROW((void)writer.poll(), mproc::Error);  // as Python's: not a readable end
    mproc::Process p(put_big, mproc::Queue<std::string>(), std::size_t{1});  // traffic alongside
    p.start();
    mproc::Value<std::int64_t> size(0);
    mproc::Process r(check_big, reader, size);
    r.start();
    // The reader drains as this sends: on one node the pipe holds a few hundred KiB, and a
    // send waits for room as Python's does.
    writer.send(std::string(100u << 20, 'y'));
    r.join();
    EXPECT_EQ(r.exitcode(), 0);
    EXPECT_EQ(size.load(), std::int64_t{100} << 20);
    p.join();
}

TEST(Pipe, ManySmallMessagesInOrderThenEOF) {
    auto [mine, theirs] = mproc::Pipe<int>(false);
    mproc::Process p(count_to, theirs, 100000);
    p.start();
    theirs.close();  // this process's copy; the child's closes the end
    for (int i = 0; i < 100000; ++i) ASSERT_EQ(mine.recv(), i);
    EXPECT_THROW(mine.recv(), mproc::EOFError);
    p.join();
}

// An end closes only when every process holding it has closed it or ended, as a pipe's
// descriptor in Python: closing one process's copy leaves the others' working.
TEST(Pipe, AnEndClosesWhenEveryProcessHoldingItHas) {
    for (int round = 0; round < 3; ++round) {
        auto [parent_conn, child_conn] = mproc::Pipe<int>();
        mproc::Process p(talk_back, child_conn, parent_conn);
        p.start();
        child_conn.close();    // the parent's copy: the child's still holds the end open
        parent_conn.send(10);  // the child closed its copy of this end: it still works
        for (int i = 0; i < 3; ++i) EXPECT_EQ(parent_conn.recv(), 10 + i);
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
        EXPECT_THROW(parent_conn.recv(), mproc::EOFError);  // its last holder has ended
    }
    auto [a, b] = mproc::Pipe<int>();
    mproc::Connection<int> copy = a;  // copies in one process are one hold
    copy.close();
    a.close();
    EXPECT_THROW(b.recv(), mproc::EOFError);
}

TEST(Pipe, TerminateStopsABlockedRecv) {
    auto [mine, theirs] = mproc::Pipe<std::string>();
    mproc::Process p(echo, theirs);
    p.start();
    mine.send("hello");
    EXPECT_EQ(mine.recv(), "hello!");
    p.terminate();  // echo is blocked in recv
    p.join();
    EXPECT_EQ(p.exitcode(), -15);
}

// ---- Everything at once -------------------------------------------------------------------

namespace {
int triple(int x) {
    return 3 * x;
}
MPROC_TASK(triple);
}  // namespace

TEST(Together, APoolMapsWhileAProcessTalksThroughAQueue) {
    Text q;
    mproc::Process p(say_hello, q);
    p.start();  // holds a worker rank when one is free
    const int free = mproc::worker_count() - (p.rank() > 0 ? 1 : 0);
    if (mproc::worker_count() > 0 && free == 0) {
        EXPECT_THROW(mproc::Pool(1), mproc::ResourceError);  // the Process holds the only one
    } else {
        mproc::Pool pool(mproc::worker_count() > 0 ? free : 1);
        const auto r = pool.map(triple, mproc::range(100));
        EXPECT_EQ(r[99], 297);
    }
    EXPECT_NE(q.get(30s).find("hello"), std::string::npos);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

// ---- Items a consumer takes ahead ---------------------------------------------------------

namespace {
// Takes `n` items in a tight loop (so it takes ahead), then ends or waits for `go`.
void take_some(mproc::Queue<int> q, int n, mproc::Event go, bool wait) {
    for (int i = 0; i < n; ++i) (void)q.get();
    if (wait) go.wait();
}
MPROC_TASK(take_some);
}  // namespace

TEST(Queue, ItemsTakenAheadGoBackWhenTheConsumerEnds) {
    mproc::Queue<int> q;
    for (int i = 0; i < 200; ++i) q.put(i);
    mproc::Process p(take_some, q, 10, mproc::Event(), false);
    p.start();
    p.join();
    // Whatever it took beyond its ten is back, at the front, in order.
    for (int i = 10; i < 200; ++i) ASSERT_EQ(q.get(10s), i);
    EXPECT_THROW(q.get_nowait(), mproc::Empty);
}

TEST(Queue, ItemsTakenAheadGoBackWhenTheConsumerWaitsElsewhere) {
    mproc::Queue<int> q;
    mproc::Event go;
    for (int i = 0; i < 200; ++i) q.put(i);
    mproc::Process p(take_some, q, 10, go, true);
    p.start();
    // The consumer waits for `go` while the rest must reach us (we race it for the first
    // ones): nothing may stay held away, or these gets would time out.
    std::set<int> rest;
    for (int i = 10; i < 200; ++i) EXPECT_TRUE(rest.insert(q.get(30s)).second);
    go.set();
    p.join();
    EXPECT_EQ(rest.size(), 190u);
    EXPECT_THROW(q.get_nowait(), mproc::Empty);
}
