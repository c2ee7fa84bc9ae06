// Rank 0's side of the heartbeat, apart from its socket (framework/src/heartbeat.*): how often
// a worker beats at a given size, and who is named as gone silent, and when. The heartbeat
// itself (datagrams, a rank SIGSTOPped, a host cut off) is tested end to end by
// tests/e2e/runner_crash_test.sh and tests/multinode/link_down_test.sh.

#include "services/heartbeat.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <limits>

namespace mproc::detail {
namespace {

using namespace std::chrono_literals;
using Clock = Liveness::Clock;

double seconds(std::chrono::duration<double> d) {
    return d.count();
}

TEST(Heartbeat, BeatsEverySecondUntilRankZeroWouldHearMoreThanTwoThousandASecond) {
    EXPECT_DOUBLE_EQ(seconds(beat_interval(2, 60)), 1.0);
    EXPECT_DOUBLE_EQ(seconds(beat_interval(129, 60)), 1.0);
    EXPECT_DOUBLE_EQ(seconds(beat_interval(2000, 60)), 1.0);
    // Four beats per allowed silence, whatever the size.
    EXPECT_DOUBLE_EQ(seconds(beat_interval(129, 2)), 0.5);
    EXPECT_DOUBLE_EQ(seconds(beat_interval(10000, 2)), 0.5);
    // Larger runs beat less often, so rank 0 hears 2,000 a second...
    EXPECT_DOUBLE_EQ(seconds(beat_interval(10000, 60)), 5.0);
    EXPECT_DOUBLE_EQ(seconds(beat_interval(40000, 60)), 15.0);
    // ...but not less than four times per allowed silence.
    EXPECT_DOUBLE_EQ(seconds(beat_interval(100000, 60)), 15.0);
    EXPECT_DOUBLE_EQ(seconds(beat_interval(100000, 600)), 50.0);
}

TEST(Heartbeat, NamesTheFirstRankSilentPastTheTimeoutAndForHowLong) {
    const auto t0 = Clock::now();
    Liveness live(5, 2.0, t0);
    for (int r = 1; r < 5; ++r) live.heard(r, t0);
    EXPECT_FALSE(live.silent(t0 + 1s));
    for (int r : {1, 2, 4}) live.heard(r, t0 + 1500ms);
    EXPECT_FALSE(live.silent(t0 + 2s)) << "silent for exactly the timeout is not yet past it";
    const auto lost = live.silent(t0 + 2500ms);
    ASSERT_TRUE(lost);
    EXPECT_EQ(lost->first, 3);
    EXPECT_DOUBLE_EQ(lost->second, 2.5);
    // Heard again: no longer named.
    live.heard(3, t0 + 2600ms);
    EXPECT_FALSE(live.silent(t0 + 3s));
}

TEST(Heartbeat, WalksTheRanksAtMostEveryEighthOfTheTimeoutAndAtMostASecondApart) {
    const auto t0 = Clock::now();
    Liveness quick(3, 2.0, t0);
    EXPECT_EQ(quick.check_every(), 250ms);
    EXPECT_EQ(Liveness(3, 60.0, t0).check_every(), 1s);
    quick.heard(1, t0);
    quick.heard(2, t0 + 2s);
    const auto first = quick.silent(t0 + 2100ms);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->first, 1);
    // Checked just now: the next walk waits for its turn, however often it is asked...
    EXPECT_FALSE(quick.silent(t0 + 2200ms));
    EXPECT_FALSE(quick.silent(t0 + 2349ms));
    // ...and then finds the same silence, longer.
    const auto again = quick.silent(t0 + 2350ms);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->first, 1);
    EXPECT_DOUBLE_EQ(again->second, 2.35);
}

TEST(Heartbeat, ForgivesEveryoneWhenTheListenerItselfWasStopped) {
    const auto t0 = Clock::now();
    Liveness live(4, 2.0, t0);
    live.forgive(t0 + 10s);
    EXPECT_FALSE(live.silent(t0 + 11s));
    const auto lost = live.silent(t0 + 12500ms);
    ASSERT_TRUE(lost);
    EXPECT_EQ(lost->first, 1);
}

TEST(Heartbeat, AnEndlessAllowanceNamesNobody) {
    const auto t0 = Clock::now();
    Liveness live(3, std::numeric_limits<double>::infinity(), t0);
    EXPECT_EQ(live.check_every(), 1s);
    EXPECT_FALSE(live.silent(t0 + std::chrono::hours(24 * 365)));
    EXPECT_DOUBLE_EQ(seconds(beat_interval(3, std::numeric_limits<double>::infinity())), 1.0);
}

TEST(Heartbeat, StrayDatagramsNameNoRankAndHideNone) {
    const auto t0 = Clock::now();
    Liveness live(3, 2.0, t0);
    live.heard(2, t0 + 5s);
    for (int stray : {-1, 0, 3, 99, 1 << 30}) live.heard(stray, t0 + 5s);
    const auto lost = live.silent(t0 + 5s);
    ASSERT_TRUE(lost);
    EXPECT_EQ(lost->first, 1) << "rank 0's own entry and numbers out of range are ignored";
}

TEST(Heartbeat, FindsTheOneSilentRankAmongAHundredThousand) {
    const auto t0 = Clock::now();
    Liveness live(100000, 60.0, t0);
    for (int r = 1; r < 100000; ++r)
        if (r != 77777) live.heard(r, t0 + 30s);
    EXPECT_FALSE(live.silent(t0 + 60s));
    const auto lost = live.silent(t0 + 61s);
    ASSERT_TRUE(lost);
    EXPECT_EQ(lost->first, 77777);
    EXPECT_DOUBLE_EQ(lost->second, 61.0);
}

}  // namespace
}  // namespace mproc::detail
