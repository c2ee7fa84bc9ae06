// Scale and manners: a lazy input of 10^8 items with bounded memory on rank 0, and ranks
// that wait without burning a core.

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mproc/mproc.hpp>
#include <string>
#include <thread>

#include "test_tasks.hpp"

using namespace test_tasks;
using namespace std::chrono_literals;

namespace {

// Peak resident memory of this process in KiB since the last reset_peak_rss().
long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

void reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

double process_cpu_seconds() {
    return cpu_seconds(0);
}

}  // namespace

TEST(PoolScale, ImapOverOneHundredMillionLazyItemsKeepsMemoryBounded) {
    mproc::Pool pool;
    constexpr std::int64_t n = 100'000'000;
    reset_peak_rss();
    const long before = peak_rss_kib();
    std::int64_t count = 0;
    std::int64_t sum = 0;
    for (std::int64_t y : pool.imap_unordered(identity, mproc::range<std::int64_t>(0, n), 50'000)) {
        sum += y;
        ++count;
    }
    const long peak = peak_rss_kib();
    EXPECT_EQ(count, n);
    EXPECT_EQ(sum, n * (n - 1) / 2);
    // 10^8 results would be 800 MB; the window of chunks in flight is a few MB.
    EXPECT_LT(peak - before, 64 * 1024)
        << "peak RSS grew from " << before << " to " << peak << " KiB";
}

TEST(PoolScale, OrderedImapOverALazyInputStaysBounded) {
    mproc::Pool pool;
    constexpr std::int64_t n = 5'000'000;
    reset_peak_rss();
    const long before = peak_rss_kib();
    std::int64_t expect = 0;
    bool in_order = true;
    for (std::int64_t y : pool.imap(identity, mproc::range<std::int64_t>(0, n), 1000))
        in_order &= y == expect++;
    EXPECT_TRUE(in_order);
    EXPECT_EQ(expect, n);
    EXPECT_LT(peak_rss_kib() - before, 64 * 1024);
}

TEST(PoolScale, IdleRanksDoNotSpin) {
    mproc::Pool pool;
    // Each worker's CPU clock, sampled by several small tasks so every worker reports.
    auto sample = [&] {
        std::map<int, double> cpu;
        auto samples = pool.map(
            rank_cpu, std::vector<int>(static_cast<std::size_t>(8 * pool.processes()), 0), 1);
        for (auto [rank, seconds] : samples) cpu[rank] = std::max(cpu[rank], seconds);
        return cpu;
    };
    const auto before = sample();
    const double master_before = process_cpu_seconds();
    std::this_thread::sleep_for(1s);  // rank 0's user code sleeps; nothing is submitted
    const double master_idle = process_cpu_seconds() - master_before;
    const auto after = sample();
    EXPECT_LT(master_idle, 0.15) << "rank 0 burned CPU while idle";
    if (mproc::worker_count() == 0) return;
    for (const auto& [rank, seconds] : after) {
        auto it = before.find(rank);
        if (it == before.end()) continue;
        EXPECT_LT(seconds - it->second, 0.3) << "worker rank " << rank << " burned CPU while idle";
    }
}

TEST(PoolScale, MasterWaitingOnLongTasksDoesNotSpin) {
    if (mproc::worker_count() == 0) GTEST_SKIP() << "with one rank, rank 0 runs the tasks itself";
    mproc::Pool pool;
    const double before = process_cpu_seconds();
    auto r = pool.map(sleep_ms,
                      std::vector<int>(static_cast<std::size_t>(2 * pool.processes()), 500), 1);
    const double used = process_cpu_seconds() - before;
    EXPECT_EQ(r.size(), static_cast<std::size_t>(2 * pool.processes()));
    EXPECT_LT(used, 0.3) << "rank 0 burned " << used << " s of CPU in about 1 s of waiting";
}

TEST(PoolScale, LargePayloads) {
    mproc::Pool pool;
    std::vector<std::string> big(4, std::string(8 << 20, 'x'));  // 8 MiB each
    auto r = pool.map(shout, big, 1);
    ASSERT_EQ(r.size(), 4u);
    for (const auto& s : r) {
        EXPECT_EQ(s.size(), (8u << 20) + 1);
        EXPECT_EQ(s.back(), '!');
    }
}
