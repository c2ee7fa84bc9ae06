// Every Pool member, at whatever rank count the test runs with (1, 2, 3 and 5).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <list>
#include <map>
#include <mproc/mproc.hpp>
#include <numeric>
#include <ranges>
#include <set>
#include <thread>

#include "test_tasks.hpp"

using namespace test_tasks;

namespace {

std::vector<int> expected_squares(int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i * i;
    return v;
}

int forty_two() {
    return 42;
}
MPROC_TASK(forty_two);

}  // namespace

TEST(Pool, MapSquaresInInputOrder) {
    mproc::Pool pool;
    EXPECT_EQ(pool.map(square, mproc::range(10)), expected_squares(10));
}

TEST(Pool, ProcessesIsTheWorkerCount) {
    mproc::Pool pool;
    EXPECT_EQ(pool.processes(), std::max(1, mproc::worker_count()));
}

TEST(Pool, MapEveryChunksize) {
    mproc::Pool pool;
    for (std::size_t chunksize : {0, 1, 3, 7, 64, 1000, 5000}) {
        EXPECT_EQ(pool.map(square, mproc::range(2000), chunksize), expected_squares(2000))
            << "chunksize " << chunksize;
    }
}

TEST(Pool, MapEmptyInput) {
    mproc::Pool pool;
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
    EXPECT_TRUE(pool.map(square, mproc::range(0)).empty());
}

TEST(Pool, MapContainersAndUnsizedViews) {
    mproc::Pool pool;
    std::list<int> list{5, 3, 1};
    EXPECT_EQ(pool.map(square, list), (std::vector<int>{25, 9, 1}));
    // A filter view has no size: the engine learns the end only by reaching it.
    auto odd = mproc::range(100) | std::views::filter([](int x) { return x % 2 == 1; });
    std::vector<int> want;
    for (int x : odd) want.push_back(x * x);
    EXPECT_EQ(pool.map(square, odd), want);
}

TEST(Pool, MapSerializedTypes) {
    mproc::Pool pool;
    std::vector<std::string> words{"a", "bc", "", "déjà vu"};
    EXPECT_EQ(pool.map(shout, words), (std::vector<std::string>{"a!", "bc!", "!", "déjà vu!"}));
    std::vector<Point> points{{1.5, "p", {1, 2}}, {-2, "", {}}};
    auto scaled = pool.map(scale, points, 1);
    ASSERT_EQ(scaled.size(), 2u);
    EXPECT_EQ(scaled[0], (Point{3.0, "p", {1, 2, 2}}));
    EXPECT_EQ(scaled[1], (Point{-4.0, "", {0}}));
}

// A task with no arguments, as Python's apply(f) (CPython's _TestPool.test_apply).
TEST(Pool, ApplyATaskWithNoArguments) {
    mproc::Pool pool;
    EXPECT_EQ(pool.apply(forty_two), 42);
    auto r = pool.apply_async(forty_two);
    EXPECT_EQ(r.get(), 42);
}

TEST(Pool, MapAsyncWithCallback) {
    mproc::Pool pool;
    std::atomic<long> seen{-1};
    auto r = pool.map_async(square, mproc::range(100), 0, [&](const std::vector<int>& v) {
        seen = std::accumulate(v.begin(), v.end(), 0L);
    });
    EXPECT_EQ(r.get(), expected_squares(100));
    EXPECT_TRUE(r.ready());
    EXPECT_TRUE(r.successful());
    pool.close();
    pool.join();  // callbacks have run once join returns
    const auto want = expected_squares(100);
    EXPECT_EQ(seen.load(), std::accumulate(want.begin(), want.end(), 0L));
}

// As in Python, a callback has run before its result is visible: get() and wait() return
// after it, whatever the callback thread's pace.
TEST(Pool, CallbacksHaveRunBeforeGetReturns) {
    mproc::Pool pool;
    for (int round = 0; round < 20; ++round) {
        std::atomic<int> seen{-1};
        auto r = pool.apply_async(square, mproc::args(round), [&](const int& v) {
            std::this_thread::sleep_for(std::chrono::microseconds(300));
            seen = v;
        });
        EXPECT_EQ(r.get(), round * round);
        EXPECT_EQ(seen.load(), round * round) << "round " << round;
        std::atomic<bool> failed{false};
        auto e = pool.apply_async(
            fails_on_7, mproc::args(7), [](const int&) {},
            [&](const mproc::Error&) {
                std::this_thread::sleep_for(std::chrono::microseconds(300));
                failed = true;
            });
        e.wait();
        EXPECT_TRUE(failed.load()) << "round " << round;
    }
}

// As in Python, close() + join() hands the workers back: the next Pool gets them.
TEST(Pool, JoinedPoolFreesItsWorkers) {
    mproc::Pool first;
    EXPECT_EQ(first.map(square, std::vector<int>{2}), std::vector<int>{4});
    first.close();
    first.join();
    mproc::Pool second;  // every free worker: all of them again
    EXPECT_EQ(second.processes(), first.processes());
    EXPECT_EQ(second.apply(square, 3), 9);
}

TEST(Pool, MapAsyncOwnsACopyOfItsInput) {
    mproc::Pool pool;
    auto make = [&] {
        std::vector<int> local{1, 2, 3};
        return pool.map_async(square, local);  // local dies before the work is done
    };
    auto r = make();
    EXPECT_EQ(r.get(), (std::vector<int>{1, 4, 9}));
}

TEST(Pool, ImapKeepsInputOrder) {
    mproc::Pool pool;
    for (std::size_t chunksize : {1, 5, 100}) {
        std::vector<int> got;
        for (int y : pool.imap(square, mproc::range(500), chunksize)) got.push_back(y);
        EXPECT_EQ(got, expected_squares(500)) << "chunksize " << chunksize;
    }
}

TEST(Pool, ImapUnorderedDeliversEverythingOnce) {
    mproc::Pool pool;
    std::vector<int> got;
    for (int y : pool.imap_unordered(square, mproc::range(500), 3)) got.push_back(y);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, expected_squares(500));
}

TEST(Pool, ImapStoppedEarlyLeavesThePoolUsable) {
    mproc::Pool pool;
    {
        auto results = pool.imap(square, mproc::range(1'000'000));
        int n = 0;
        for (int y : results) {
            EXPECT_EQ(y, n * n);
            if (++n == 10) break;
        }
    }  // the rest is cancelled here
    EXPECT_EQ(pool.map(square, mproc::range(5)), expected_squares(5));
}

TEST(Pool, Starmap) {
    mproc::Pool pool;
    std::vector<std::tuple<int, int>> pairs{{1, 2}, {3, 4}, {-5, 5}};
    EXPECT_EQ(pool.starmap(add, pairs), (std::vector<int>{3, 7, 0}));
    std::vector<std::pair<int, int>> as_pairs{{10, 1}, {20, 2}};
    EXPECT_EQ(pool.starmap_async(add, as_pairs).get(), (std::vector<int>{11, 22}));
    // Enough pairs for a group's leader to be sent them in spans, cut at 8 bytes a pair.
    std::vector<std::tuple<int, int>> many;
    std::vector<int> sums;
    for (int i = 0; i < 2000; ++i) {
        many.emplace_back(i, 3 * i);
        sums.push_back(4 * i);
    }
    EXPECT_EQ(pool.starmap(add, many, 1), sums);
}

TEST(Pool, ApplyAndApplyAsync) {
    mproc::Pool pool;
    EXPECT_EQ(pool.apply(add, 2, 3), 5);
    EXPECT_EQ(pool.apply(shout, std::string("hey")), "hey!");
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 50; ++i) results.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), i * i);
}

TEST(Pool, ApplyAsyncCallbacks) {
    mproc::Pool pool;
    std::atomic<int> value{0};
    std::atomic<int> errors{0};
    std::string error_text;
    auto ok = pool.apply_async(square, mproc::args(9), [&](const int& v) { value = v; });
    auto bad = pool.apply_async(
        fails_on_7, mproc::args(7), [&](const int&) { value = -1; },
        [&](const mproc::Error& e) {
            error_text = e.what();
            ++errors;
        });
    pool.close();
    pool.join();
    EXPECT_EQ(value.load(), 81);
    EXPECT_EQ(errors.load(), 1);
    EXPECT_NE(error_text.find("seven is not allowed"), std::string::npos) << error_text;
    EXPECT_FALSE(bad.successful());
    EXPECT_TRUE(ok.successful());
}

TEST(Pool, VoidTasks) {
    mproc::Pool pool;
    mproc::AsyncResult<void> r = pool.apply_async(note, 1);
    r.get();
    EXPECT_TRUE(r.successful());
    pool.map(note, mproc::range(100));
    auto all = pool.map_async(note, mproc::range(10));
    all.wait();
    EXPECT_TRUE(all.successful());
}

TEST(Pool, Initializer) {
    mproc::Pool pool(0, set_init_value, 42);
    auto values = pool.map(init_value, mproc::range(4 * pool.processes()), 1);
    for (int v : values) EXPECT_EQ(v, 42);
}

TEST(Pool, DynamicSchedulingUsesEveryWorker) {
    mproc::Pool pool;
    auto ranks = pool.map(worker_rank,
                          std::vector<int>(static_cast<std::size_t>(8 * pool.processes()), 10), 1);
    std::set<int> distinct(ranks.begin(), ranks.end());
    if (mproc::worker_count() == 0) {
        EXPECT_EQ(distinct, std::set<int>{0});
    } else {
        EXPECT_EQ(static_cast<int>(distinct.size()), pool.processes());
        EXPECT_EQ(distinct.count(0), 0u) << "rank 0 is the master, never a worker";
        // The ranks that ran tasks are exactly the ones worker_count() counts. On one host
        // with MPROC_GROUP_SIZE=g, ranks 1, 2, ... fall in blocks of g whose first rank
        // leads the block and runs nothing; a block of one is a worker.
        EXPECT_EQ(static_cast<int>(distinct.size()), mproc::worker_count());
        const int world = mproc::rank_count();
        const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
        if (local != nullptr && std::atoi(local) != world) return;  // several hosts
        const char* g_text = std::getenv("MPROC_GROUP_SIZE");
        const int g = g_text != nullptr ? std::atoi(g_text) : 0;
        std::set<int> runners;
        for (int r = 1; r < world; ++r)
            if (g < 2 || (r - 1) % g != 0 || r == world - 1) runners.insert(r);
        EXPECT_EQ(distinct, runners);
        EXPECT_EQ(mproc::worker_count(), static_cast<int>(runners.size()));
    }
}

TEST(Pool, AutomaticChunksShareEqualWorkEvenly) {
    mproc::Pool pool;
    const int w = pool.processes();
    const int n = 100 * w;
    // Equal 2 ms tasks from a lazy input of unknown size, chunk size chosen by the engine:
    // every worker should do about n / w. (Without a size there is no guided cap, so handing
    // out growing chunks before any timing is known would show here.)
    auto tens = mproc::range(n) | std::views::transform([](int) { return 2; }) |
                std::views::filter([](int) { return true; });
    std::map<int, int> per_rank;
    for (int r : pool.imap_unordered(worker_rank, tens, 0)) ++per_rank[r];
    for (const auto& [rank, count] : per_rank)
        EXPECT_GE(count, 7 * n / (10 * w)) << "rank " << rank << " did " << count << " of " << n;
    EXPECT_EQ(static_cast<int>(per_rank.size()), w);
}

TEST(Pool, SeveralPoolsShareTheWorkers) {
    if (mproc::worker_count() < 2) GTEST_SKIP() << "needs two worker ranks";
    mproc::Pool a(1);
    mproc::Pool b(mproc::worker_count() - 1);
    auto ra = a.map_async(square, mproc::range(100));
    auto rb = b.map_async(square, mproc::range(200));
    EXPECT_EQ(ra.get(), expected_squares(100));
    EXPECT_EQ(rb.get(), expected_squares(200));
}

TEST(Pool, DestructorFinishesSubmittedWork) {
    auto r = [] {
        mproc::Pool pool;
        return pool.apply_async(sleep_ms, 200);
    }();  // the pool is gone here, and waited for its work
    EXPECT_TRUE(r.ready());
    EXPECT_EQ(r.get(), 200);
}

TEST(Pool, CloseAndJoin) {
    mproc::Pool pool;
    EXPECT_THROW(pool.join(), mproc::Error);  // Python: join before close is an error
    auto r = pool.map_async(sleep_ms, std::vector<int>{50, 50, 50});
    pool.close();
    EXPECT_THROW((void)pool.apply_async(square, 1), mproc::PoolClosed);
    pool.join();
    EXPECT_TRUE(r.ready());
}

// Messages of every size keep their order: under node groups a small one goes through the
// leader's shared-memory ring, a large one by MPI with a marker in the ring, and a ring that
// is full makes the leader hold what follows. (Flat, this is every size over MPI.)
TEST(Pool, InputsAndResultsOfMixedSizesKeepTheirOrder) {
    mproc::Pool pool;
    const std::size_t sizes[] = {1, 30'000, 70'000, 300'000, 60'000, 5};
    std::vector<std::string> in;
    for (int i = 0; i < 240; ++i)
        in.emplace_back(sizes[static_cast<std::size_t>(i * 7 + i / 6) % 6],
                        static_cast<char>('a' + i % 26));
    const auto out = pool.map(shout, in, 1);
    ASSERT_EQ(out.size(), in.size());
    for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i] + "!") << "item " << i;
    // And in chunks of several, so one message carries many of them.
    EXPECT_EQ(pool.map(shout, in, 7), out);
}
