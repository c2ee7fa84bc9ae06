// mproc::ThreadPool at 1, 2, 3 and 5 ranks: the cases of CPython's _TestPool that its
// ThreadPool runs too (map, starmap, apply, imap and imap_unordered, errors, callbacks,
// initializer, terminate, close and join), on threads of rank 0 and of a worker rank.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mproc/mproc.hpp>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

thread_local int t_initialized = 0;

// The iota of [0, n) whose reading throws at `bad` (an input that throws, as Python's
// generator raising inside pool.map / imap).
struct ThrowingRange {
    int n, bad;
    struct iterator {
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        int at = 0, bad = -1;
        int operator*() const {
            if (at == bad) throw std::runtime_error("the input broke at " + std::to_string(at));
            return at;
        }
        iterator& operator++() {
            ++at;
            return *this;
        }
        void operator++(int) { ++at; }
        bool operator==(const iterator& o) const { return at == o.at; }
    };
    iterator begin() const { return {0, bad}; }
    iterator end() const { return {n, bad}; }
};

// A ThreadPool inside a pool task, on whatever rank runs it: plain computing only.
int squares_on_threads(int n) {
    mproc::ThreadPool threads(3);
    const auto squares = threads.map([](int x) { return x * x; }, mproc::range(n));
    return std::accumulate(squares.begin(), squares.end(), 0);
}
MPROC_TASK(squares_on_threads);

}  // namespace

TEST(ThreadPool, MapStarmapApplyAsInPython) {
    mproc::ThreadPool pool(4);
    EXPECT_EQ(pool.processes(), 4);
    const int offset = 100;  // captured: tasks are any callables
    const auto add = [offset](int x) { return x + offset; };
    for (std::size_t chunksize : {0u, 1u, 7u, 1000u}) {
        const auto got = pool.map(add, mproc::range(50), chunksize);
        std::vector<int> want(50);
        std::iota(want.begin(), want.end(), offset);
        EXPECT_EQ(got, want) << "chunksize " << chunksize;
    }
    EXPECT_TRUE(pool.map(add, std::vector<int>{}).empty());
    const std::vector<std::pair<int, int>> pairs{{1, 2}, {3, 4}, {5, 6}};
    EXPECT_EQ(pool.starmap([](int a, int b) { return a * b; }, pairs),
              (std::vector<int>{2, 12, 30}));
    EXPECT_EQ(pool.apply([](const std::string& s, int n) { return s + std::to_string(n); },
                         std::string("x"), 7),
              "x7");
    auto r = pool.apply_async([] { return 42; });
    EXPECT_EQ(r.get(), 42);
    EXPECT_TRUE(r.ready());
    EXPECT_TRUE(r.successful());
    std::atomic<int> calls{0};
    pool.map([&calls](int) { calls.fetch_add(1); }, mproc::range(30), 4);  // void tasks
    EXPECT_EQ(calls.load(), 30);
}

TEST(ThreadPool, ImapKeepsOrderImapUnorderedGivesEveryResultAndBothReadLazily) {
    mproc::ThreadPool pool(3);
    std::vector<int> got;
    for (int y : pool.imap([](int x) { return 2 * x; }, mproc::range(1000), 7)) got.push_back(y);
    ASSERT_EQ(got.size(), 1000u);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], 2 * i);

    std::multiset<int> unordered;
    for (int y : pool.imap_unordered(
             [](int x) {
                 if (x % 10 == 0) std::this_thread::sleep_for(1ms);  // finish out of order
                 return x;
             },
             mproc::range(200)))
        unordered.insert(y);
    std::multiset<int> want;
    for (int i = 0; i < 200; ++i) want.insert(i);
    EXPECT_EQ(unordered, want);

    // An input far too long to read whole: imap reads a few chunks ahead of the reader.
    std::atomic<long> read{0};
    auto counted = mproc::range(1'000'000'000) | std::views::transform([&read](long x) {
                       read.fetch_add(1);
                       return x;
                   });
    long seen = 0;
    for (long y : pool.imap([](long x) { return x; }, counted, 10)) {
        if (y != seen) break;
        if (++seen == 100) break;
    }
    EXPECT_EQ(seen, 100);
    EXPECT_LE(read.load(), 100 + 2 * 3 * 10 + 10);
}

TEST(ThreadPool, ATaskThatThrowsIsARemoteErrorAndThePoolStaysUsable) {
    mproc::ThreadPool pool(2);
    const auto fails_on_7 = [](int x) {
        if (x == 7) throw std::invalid_argument("seven is not allowed");
        return x;
    };
    try {
        (void)pool.map(fails_on_7, mproc::range(20), 3);
        FAIL() << "map did not throw";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.index(), 7u);
        EXPECT_NE(e.type_name().find("invalid_argument"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "seven is not allowed");
        EXPECT_EQ(e.rank(), mproc::current_process().rank());
    }
    // imap: the results before, the error at the failed chunk, then the rest.
    std::vector<int> got;
    int errors = 0;
    auto results = pool.imap(fails_on_7, mproc::range(12), 1);
    for (auto it = results.begin(); it != results.end(); ++it) {
        try {
            got.push_back(*it);
        } catch (const mproc::RemoteError&) {
            ++errors;
        }
    }
    EXPECT_EQ(errors, 1);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11}));
    EXPECT_EQ(pool.apply([] { return 1; }), 1);
}

TEST(ThreadPool, AnInputThatThrowsReachesTheCaller) {
    mproc::ThreadPool pool(2);
    const auto same = [](int x) { return x; };
    EXPECT_THROW((void)pool.map(same, ThrowingRange{10, 4}), std::runtime_error);
    std::vector<int> got;
    bool threw = false;
    try {
        for (int y : pool.imap(same, ThrowingRange{10, 4}, 3)) got.push_back(y);
    } catch (const std::runtime_error& e) {
        threw = std::string(e.what()) == "the input broke at 4";
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(pool.map(same, mproc::range(3)), (std::vector<int>{0, 1, 2}));
}

TEST(ThreadPool, CallbacksHaveRunBeforeTheResultIsVisible) {
    mproc::ThreadPool pool(4);
    for (int round = 0; round < 50; ++round) {
        std::atomic<int> value{0};
        auto r = pool.apply_async([](int x) { return x * 3; }, mproc::args(round),
                                  [&value](const int& v) {
                                      std::this_thread::sleep_for(100us);
                                      value = v + 1;
                                  });
        ASSERT_EQ(r.get(), round * 3);
        ASSERT_EQ(value.load(), round * 3 + 1);
    }
    std::atomic<bool> error_seen{false};
    auto failed = pool.apply_async(
        [](int) -> int { throw std::runtime_error("no"); }, mproc::args(1), nullptr,
        [&](const mproc::Error& e) {
            error_seen = dynamic_cast<const mproc::RemoteError*>(&e) != nullptr;
        });
    failed.wait();
    EXPECT_TRUE(error_seen.load());
    EXPECT_FALSE(failed.successful());
    EXPECT_THROW(failed.get(), mproc::RemoteError);
    std::vector<int> list;
    auto all = pool.map_async([](int x) { return x; }, mproc::range(5), 2,
                              [&list](const std::vector<int>& v) { list = v; });
    all.wait();
    EXPECT_EQ(list, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(ThreadPool, InitializerRunsOnEveryThreadFirst) {
    std::atomic<int> inits{0};
    mproc::ThreadPool pool(
        3,
        [&inits](int v) {
            t_initialized = v;
            inits.fetch_add(1);
        },
        5);
    EXPECT_EQ(inits.load(), 3);
    for (int v : pool.map([](int) { return t_initialized; }, mproc::range(30), 1)) EXPECT_EQ(v, 5);
    EXPECT_THROW(mproc::ThreadPool(2, [] { throw std::runtime_error("init failed"); }),
                 std::runtime_error);
}

TEST(ThreadPool, TerminateFailsWhatHasNotStartedCloseAndJoinAsInPython) {
    EXPECT_THROW(mproc::ThreadPool(-1), mproc::ValueError);
    EXPECT_EQ(mproc::ThreadPool().processes(), mproc::cpu_count());

    mproc::ThreadPool pool(2);
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 10; ++i)
        results.push_back(pool.apply_async(
            [](int x) {
                std::this_thread::sleep_for(100ms);
                return x;
            },
            i));
    std::this_thread::sleep_for(20ms);  // the first two are running
    pool.terminate();
    pool.join();
    int closed = 0, done = 0;
    for (auto& r : results) {
        try {
            (void)r.get();
            ++done;
        } catch (const mproc::PoolClosed&) {
            ++closed;
        }
    }
    EXPECT_EQ(done + closed, 10);
    EXPECT_GE(closed, 6);
    EXPECT_THROW(pool.apply([] { return 0; }), mproc::PoolClosed);

    mproc::ThreadPool other(2);
    EXPECT_THROW(other.join(), mproc::Error);  // close() first
    auto late = other.apply_async([] {
        std::this_thread::sleep_for(50ms);
        return 9;
    });
    other.close();
    EXPECT_THROW(other.apply([] { return 0; }), mproc::PoolClosed);
    other.join();  // waits for what was submitted
    EXPECT_TRUE(late.ready());
    EXPECT_EQ(late.get(), 9);
}

TEST(ThreadPool, ThreadsOfRankZeroShareObjectsAndWorkersRunThreadPoolsToo) {
    mproc::ThreadPool pool(4);
    mproc::Value<std::int64_t> counter(0);
    mproc::Lock lock;
    pool.map(
        [counter, lock](int) mutable {
            for (int i = 0; i < 50; ++i) {
                std::lock_guard hold(lock);
                counter.store(counter.load() + 1);
            }
        },
        mproc::range(8), 1);
    EXPECT_EQ(counter.load(), 400);

    mproc::Pool ranks;
    int want = 0;
    for (int i = 0; i < 40; ++i) want += i * i;
    for (int total : ranks.map(squares_on_threads, std::vector<int>(6, 40), 1))
        EXPECT_EQ(total, want);
}
