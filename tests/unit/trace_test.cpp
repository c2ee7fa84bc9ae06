// The trace's aggregation (framework/src/trace.hpp), on synthetic chunks: counts per rank, the
// histogram, the slowest, and the switch from one entry per chunk to tenths of a second.

#include "base/trace.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "value.hpp"

using mproc::detail::Trace;
using mproc::runner::Value;

namespace {

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

Value written(Trace& t, const std::string& path) {
    t.write({"host0", "host1", "host2"});
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return mproc::runner::parse_json(s.str());
}

std::string temp_path(const char* name) {
    return std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/" + name +
           std::to_string(::getpid()) + ".trace";
}

}  // namespace

TEST(Trace, OffWithoutMproc_trace) {
    unsetenv("MPROC_TRACE");
    Trace t;
    EXPECT_FALSE(t.enabled());
}

TEST(Trace, CountsHistogramAndSlowestPerChunk) {
    const std::string path = temp_path("unit-trace-a");
    setenv("MPROC_TRACE", path.c_str(), 1);
    Trace t;
    const std::uint64_t t0 = now_ns();
    // Rank 1: 10 chunks of 4 items, 8 ms each (2 ms per item); rank 2: 5 of 1 item, 100 µs,
    // the last of which failed.
    for (int i = 0; i < 10; ++i)
        t.chunk(1, 4 * i, t0 + i * 10'000'000ull, 8'000'000, 4, true, "sq");
    for (int i = 0; i < 5; ++i) t.chunk(2, 40 + i, t0 + i * 1'000'000ull, 100'000, 1, i != 4, "sq");
    const Value v = written(t, path);
    ASSERT_TRUE(v.is_map());
    EXPECT_EQ(v["chunks"].as_list().size(), 15u);
    EXPECT_EQ(v["failures"].as_list().size(), 1u);
    EXPECT_EQ(v["failures"].as_list()[0].as_list()[6].as_int(), 44);  // the failed chunk's input
    EXPECT_EQ(v["ranks"].as_list().size(), 3u);
    const auto& per_rank = v["per_rank"].as_list();
    ASSERT_EQ(per_rank.size(), 2u);
    EXPECT_EQ(per_rank[0].as_list()[1].as_int(), 10);  // chunks
    EXPECT_EQ(per_rank[0].as_list()[2].as_int(), 40);  // items
    EXPECT_NEAR(per_rank[0].as_list()[3].as_double(), 0.08, 1e-6);
    EXPECT_EQ(per_rank[1].as_list()[2].as_int(), 5);
    // 2 ms per item: log2(2000 µs) = 10.97, so bin 11; 100 µs: bin 7.
    const auto& h = v["histogram_log2_us"].as_list();
    ASSERT_GE(h.size(), 12u);
    EXPECT_EQ(h[11].as_int(), 40);
    EXPECT_EQ(h[7].as_int(), 5);
    // The slowest first: rank 1's 8 ms chunks.
    const auto& slow = v["slowest"].as_list();
    ASSERT_EQ(slow.size(), 15u);
    EXPECT_EQ(slow.front().as_list()[0].as_int(), 1);
    EXPECT_EQ(slow.back().as_list()[0].as_int(), 2);
    std::remove(path.c_str());
}

TEST(Trace, PastItsLimitItKeepsTenthsOfASecondAndStaysSmall) {
    const std::string path = temp_path("unit-trace-b");
    setenv("MPROC_TRACE", path.c_str(), 1);
    Trace t;
    const std::uint64_t t0 = now_ns();
    // 300,000 chunks of 10 items, 50 µs each, back to back on two ranks: 15 s of work each.
    const int n = 300000;
    for (int i = 0; i < n; ++i)
        t.chunk(1 + i % 2, 10 * static_cast<std::uint64_t>(i),
                t0 + static_cast<std::uint64_t>(i / 2) * 100'000ull, 50'000, 10, true, "tiny");
    const Value v = written(t, path);
    EXPECT_TRUE(v["chunks"].as_list().empty());  // aggregated
    double busy = 0, items = 0;
    for (const Value& b : v["buckets"].as_list()) {
        busy += b.as_list()[2].as_double();
        items += b.as_list()[3].as_double();
    }
    EXPECT_NEAR(busy, n * 50e-6, 1e-3);
    EXPECT_EQ(items, n * 10.0);
    // 15 s in tenths, two ranks: about 300 buckets, not 300,000 chunks.
    EXPECT_LE(v["buckets"].as_list().size(), 320u);
    EXPECT_EQ(v["slowest"].as_list().size(), 20u);
    std::ifstream f(path, std::ios::ate);
    EXPECT_LT(static_cast<long>(f.tellg()), 100 * 1024);
    std::remove(path.c_str());
}
