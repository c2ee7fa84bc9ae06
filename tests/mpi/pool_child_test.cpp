// Pools whose tasks run in a child process of each worker, at 1, 2, 3 and 5 ranks:
// maxtasksperchild (CPython's _TestPoolWorkerLifetime: a worker is replaced after so many
// tasks) and isolate (a task that crashes fails itself, not the run).

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <map>
#include <mproc/mproc.hpp>
#include <set>
#include <string>
#include <vector>

namespace {

int process_id(int) {
    return static_cast<int>(getpid());
}
MPROC_TASK(process_id);

// State a task leaks: a fresh process starts it again.
int leaky_count(int) {
    static int calls = 0;
    return ++calls;
}
MPROC_TASK(leaky_count);

int g_setting = 0;
void set_setting(int v) {
    g_setting = v;
}
MPROC_TASK(set_setting);
int read_setting(int) {
    return g_setting;
}
MPROC_TASK(read_setting);

// Crashes its process on one input, in the way `how` says.
int crash_on_3(int x, std::string how) {
    if (x == 3) {
        if (how == "segfault") std::raise(SIGSEGV);
        if (how == "abort") std::abort();
        if (how == "exit") std::exit(3);
    }
    return x * 10;
}
MPROC_TASK(crash_on_3);

int use_value(mproc::Value<std::int32_t> v) {
    return v.fetch_add(1);
}
MPROC_TASK(use_value);

}  // namespace

TEST(PoolChild, MaxTasksPerChildReplacesTheProcessAfterSoManyTasks) {
    mproc::Pool pool({.maxtasksperchild = 2});
    std::map<int, int> tasks_per_process;
    for (int pid : pool.map(process_id, mproc::range(24), 1)) ++tasks_per_process[pid];
    EXPECT_GE(tasks_per_process.size(), 12u);
    for (auto [pid, n] : tasks_per_process) {
        EXPECT_LE(n, 2) << "process " << pid;
        EXPECT_NE(pid, static_cast<int>(getpid()));  // not rank 0's own process, at any count
    }
    // What a task leaks does not outlive its process: a count starts again in each.
    for (int calls : pool.map(leaky_count, mproc::range(30), 1)) EXPECT_LE(calls, 2);
}

TEST(PoolChild, EveryChildHasWhatTheInitializerSetUp) {
    mproc::Pool pool({.maxtasksperchild = 1}, set_setting, 42);
    for (int v : pool.map(read_setting, mproc::range(20), 1)) EXPECT_EQ(v, 42);
}

TEST(PoolChild, ACrashingTaskFailsItselfAndTheRunGoesOn) {
    mproc::Pool pool({.isolate = true});
    for (const std::string how : {"segfault", "abort", "exit"}) {
        std::vector<std::tuple<int, std::string>> inputs;
        for (int i = 0; i < 8; ++i) inputs.emplace_back(i, how);
        std::vector<int> good;
        std::vector<std::string> failures;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            try {
                good.push_back(
                    pool.apply(crash_on_3, std::get<0>(inputs[i]), std::get<1>(inputs[i])));
            } catch (const mproc::RemoteError& e) {
                EXPECT_EQ(e.type_name(), "mproc::TaskCrashed");
                EXPECT_EQ(e.index(), 0u);
                failures.push_back(e.message());
            }
        }
        EXPECT_EQ(good, (std::vector<int>{0, 10, 20, 40, 50, 60, 70})) << how;
        ASSERT_EQ(failures.size(), 1u) << how;
        const std::string want = how == "segfault" ? "killed by signal 11"
                                 : how == "abort"  ? "killed by signal 6"
                                                   : "exited with status 3";
        EXPECT_NE(failures[0].find(want), std::string::npos) << failures[0];
    }
    // In a starmap the crashed chunk names its inputs, and the map fails as a map does.
    std::vector<std::tuple<int, std::string>> inputs;
    for (int i = 0; i < 6; ++i) inputs.emplace_back(i, "segfault");
    try {
        (void)pool.starmap(crash_on_3, inputs, 2);
        FAIL() << "starmap did not fail";
    } catch (const mproc::RemoteError& e) {
        EXPECT_EQ(e.index(), 2u);
        EXPECT_NE(e.message().find("inputs 2 to 3"), std::string::npos) << e.message();
    }
    EXPECT_EQ(pool.apply(crash_on_3, 5, std::string("segfault")), 50);  // still usable
}

TEST(PoolChild, SharedObjectsAreRefusedInAChildWithAMessage) {
    mproc::Value<std::int32_t> v(0);
    {
        mproc::Pool pool({.isolate = true});
        try {
            (void)pool.apply(use_value, v);
            FAIL() << "a shared object was used from a child";
        } catch (const mproc::RemoteError& e) {
            EXPECT_NE(e.message().find("child process"), std::string::npos) << e.message();
        }
    }
    EXPECT_EQ(v.load(), 0);
    mproc::Pool plain;
    EXPECT_EQ(plain.apply(use_value, v), 0);  // the same task, on the rank itself
}
