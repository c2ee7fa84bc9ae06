// What goes wrong, and how it is reported: a task that throws, timeouts, terminate(),
// unregistered tasks, tasks that differ between ranks, too few workers.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <mproc/mproc.hpp>
#include <ranges>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_tasks.hpp"

using namespace test_tasks;
using namespace std::chrono_literals;

namespace {

int not_registered(int x) {
    return x;
}

// Registered only on rank 0 (mpirun tells each process its rank before main), so workers
// receive a task id they do not know: what a mismatched build on some nodes looks like.
int rank0_only(int x) {
    return x + 1;
}
bool on_rank0() {
    const char* r = std::getenv("OMPI_COMM_WORLD_RANK");
    return r == nullptr || std::string(r) == "0";
}
[[maybe_unused]] const auto rank0_only_id =
    on_rank0() ? mproc::detail::register_task("rank0_only", rank0_only) : 0;

int expected_rank_floor() {
    return mproc::worker_count() > 0 ? 1 : 0;
}

}  // namespace

TEST(PoolErrors, TaskThrowSurfacesAsRemoteError) {
    mproc::Pool pool;
    try {
        pool.map(fails_on_7, mproc::range(20), 1);
        FAIL() << "map should have thrown";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.type_name(), "std::invalid_argument");
        EXPECT_EQ(e.message(), "seven is not allowed");
        EXPECT_EQ(e.task(), "fails_on_7");
        ASSERT_TRUE(e.index().has_value());
        EXPECT_EQ(*e.index(), 7u);
        EXPECT_GE(e.rank(), expected_rank_floor());
        EXPECT_FALSE(e.host().empty());
        const std::string what = e.what();
        EXPECT_NE(what.find("input index 7"), std::string::npos) << what;
        EXPECT_NE(what.find("std::invalid_argument"), std::string::npos) << what;
    }
    // The pool is still usable afterwards.
    EXPECT_EQ(pool.map(square, mproc::range(3)), (std::vector<int>{0, 1, 4}));
}

TEST(PoolErrors, IndexIsRightInsideLargeChunks) {
    mproc::Pool pool;
    try {
        pool.map(fails_on_7, mproc::range(100), 50);
        FAIL() << "map should have thrown";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.index(), std::optional<std::uint64_t>(7));
    }
}

TEST(PoolErrors, ApplyAsyncRethrowsAtGet) {
    mproc::Pool pool;
    auto r = pool.apply_async(fails_on_7, 7);
    EXPECT_THROW(r.get(), mproc::RemoteError);
    EXPECT_FALSE(r.successful());
    EXPECT_EQ(pool.apply(fails_on_7, 6), 6);
}

TEST(PoolErrors, ImapThrowsAtTheFailedItemAndGoesOn) {
    mproc::Pool pool;
    auto results = pool.imap(fails_on_7, mproc::range(12));
    std::vector<int> got;
    int errors = 0;
    for (auto it = results.begin(); it != results.end(); ++it) {
        try {
            got.push_back(*it);
        } catch (const mproc::RemoteError& e) {
            ++errors;
            EXPECT_EQ(e.index(), std::optional<std::uint64_t>(7));
        }
    }
    EXPECT_EQ(errors, 1);
    EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11}));
}

TEST(PoolErrors, GetWithTimeout) {
    mproc::Pool pool;
    auto r = pool.apply_async(sleep_ms, 1500);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(r.get(100ms), mproc::TimeoutError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
    EXPECT_FALSE(r.wait(10ms));
    EXPECT_THROW((void)r.successful(), mproc::Error);  // not ready yet
    EXPECT_EQ(r.get(30s), 1500);
}

TEST(PoolErrors, TerminateWithWorkOutstanding) {
    const auto start = std::chrono::steady_clock::now();
    {
        mproc::Pool pool;
        auto r = pool.map_async(sleep_ms, std::vector<int>(200, 100), 1);  // 20 s of work
        auto one = pool.apply_async(sleep_ms, 100);
        std::this_thread::sleep_for(150ms);
        pool.terminate();
        EXPECT_THROW(r.get(), mproc::PoolClosed);
        EXPECT_THROW(one.get(), mproc::PoolClosed);
        EXPECT_THROW((void)pool.apply_async(square, 1), mproc::PoolClosed);
    }
    // Nothing waited for the 20 s of work, and the next pool works.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    mproc::Pool again;
    EXPECT_EQ(again.map(square, mproc::range(4)), (std::vector<int>{0, 1, 4, 9}));
}

TEST(PoolErrors, UnregisteredTaskIsAClearError) {
    mproc::Pool pool;
    try {
        (void)pool.map(not_registered, mproc::range(3));
        FAIL() << "map should have thrown";
    } catch (const mproc::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("not registered"), std::string::npos) << what;
        EXPECT_NE(what.find("MPROC_TASK"), std::string::npos) << what;
    }
}

TEST(PoolErrors, TaskMissingOnWorkersIsAClearError) {
    mproc::Pool pool;
    if (mproc::worker_count() == 0) {
        EXPECT_EQ(pool.map(rank0_only, mproc::range(3)), (std::vector<int>{1, 2, 3}));
        return;
    }
    try {
        (void)pool.map(rank0_only, mproc::range(3));
        FAIL() << "map should have thrown";
    } catch (const mproc::Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("rank0_only"), std::string::npos) << what;
        EXPECT_NE(what.find("not registered on every rank"), std::string::npos) << what;
    }
    EXPECT_EQ(pool.map(square, mproc::range(3)), (std::vector<int>{0, 1, 4}));
}

TEST(PoolErrors, TooManyProcessesIsAResourceError) {
    if (mproc::worker_count() == 0) {
        mproc::Pool pool(8);  // one rank: everything runs on rank 0 whatever was asked
        EXPECT_EQ(pool.processes(), 1);
        return;
    }
    try {
        mproc::Pool pool(mproc::worker_count() + 1);
        FAIL() << "Pool should have thrown";
    } catch (const mproc::ResourceError& e) {
        // With node groups (MPROC_GROUP_SIZE) some ranks lead groups and run no tasks: the
        // message says so instead of naming a rank count.
        const int world = mproc::rank_count();
        const bool grouped = mproc::worker_count() < world - 1;
        EXPECT_NE(std::string(e.what()).find(grouped ? "MPROC_GROUP_SIZE" : "mpirun -np"),
                  std::string::npos)
            << e.what();
    }
    mproc::Pool all;
    EXPECT_THROW(mproc::Pool(1), mproc::ResourceError);  // every worker is held by `all`
}

// As in Python (CPython's _TestPool): a negative number of processes is a ValueError, at
// every rank count (one rank included), and the pool's workers stay free.
TEST(PoolErrors, NegativeProcessesIsAValueError) {
    try {
        mproc::Pool pool(-1);
        FAIL() << "Pool(-1) should have thrown";
    } catch (const mproc::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("at least 1"), std::string::npos) << e.what();
    }
    mproc::Pool all;  // nothing was taken
    EXPECT_EQ(all.processes(), std::max(1, mproc::worker_count()));
}

TEST(PoolErrors, FailingInitializerFailsTheConstructor) {
    EXPECT_THROW(mproc::Pool(0, fails_on_7, 7), mproc::RemoteError);
    mproc::Pool pool;  // and the workers were handed back
    EXPECT_EQ(pool.apply(square, 3), 9);
}

// An input whose element `bad` throws when it is read, as a generator that raises does in
// CPython's _TestPool.
auto throwing_input(int n, int bad) {
    return std::views::iota(0, n) | std::views::transform([bad](int i) {
               if (i == bad) throw std::runtime_error("input " + std::to_string(i) + " is bad");
               return i;
           });
}

// An input whose iterator throws when it steps past element `bad`, as a generator that
// raises after yielding it: `bad` itself was read, and is run.
struct ThrowingSteps {
    struct iterator {
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        int i = 0, bad = 0;
        int operator*() const { return i; }
        iterator& operator++() {
            if (i == bad)
                throw std::runtime_error("stepping past " + std::to_string(i) + " failed");
            ++i;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator& o) const { return i == o.i; }
    };
    int n = 0, bad = 0;
    iterator begin() const { return {0, bad}; }
    iterator end() const { return {n, bad}; }
};

TEST(PoolErrors, AnInputThatThrowsReachesMapAndThePoolGoesOn) {
    mproc::Pool pool;
    for (std::size_t chunksize : {0, 1, 10}) {
        try {
            (void)pool.map(square, throwing_input(100, 57), chunksize);
            FAIL() << "map over a throwing input returned";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "input 57 is bad");
        }
    }
    EXPECT_EQ(pool.map(square, std::vector<int>{1, 2, 3}), (std::vector<int>{1, 4, 9}));
}

TEST(PoolErrors, AnInputThatThrowsEndsImapAfterTheItemsBeforeIt) {
    mproc::Pool pool;
    for (std::size_t chunksize : {1, 10}) {
        std::vector<int> got;
        auto results = pool.imap(square, throwing_input(100, 57), chunksize);
        try {
            for (auto it = results.begin(); it != results.end(); ++it) got.push_back(*it);
            FAIL() << "imap over a throwing input ended without the error";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "input 57 is bad");
        }
        ASSERT_EQ(got.size(), 57u) << "chunksize " << chunksize;
        for (int i = 0; i < 57; ++i) EXPECT_EQ(got[static_cast<std::size_t>(i)], i * i);
    }
    for (std::size_t chunksize : {1, 10}) {
        const ThrowingSteps steps{100, 57};
        std::vector<int> got;
        auto results = pool.imap(square, steps, chunksize);
        try {
            for (auto it = results.begin(); it != results.end(); ++it) got.push_back(*it);
            FAIL() << "imap over a throwing input ended without the error";
        } catch (const std::runtime_error& e) {
            EXPECT_STREQ(e.what(), "stepping past 57 failed");
        }
        EXPECT_EQ(got.size(), 58u) << "chunksize " << chunksize;  // 57 itself was read
    }
    EXPECT_EQ(pool.apply(square, 5), 25);
}
