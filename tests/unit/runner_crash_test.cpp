// The crash book (tools/runner/crashes.*): which inputs were out when a rank was lost, which
// of them a loss is charged to, when one is recorded as failed, and OUTPUT.running kept ahead
// of the inputs going out.

#include <gtest/gtest.h>

#include <filesystem>

#include "crashes.hpp"
#include "runner_testing.hpp"

namespace {

using namespace mproc::runner;
using namespace mproc::runner::testing;

TEST(RunnerCrash, WhatWasRunningBecomesSuspect) {
    Scratch s;
    const std::string out = s.path("out.jsonl");
    write_text(out + ".running", "10 14\n20 20\n");
    CrashBook book(out, 3);
    EXPECT_EQ(book.suspects(), (std::set<std::uint64_t>{10, 11, 12, 13, 14, 20}));
    EXPECT_EQ(book.charges(10), 0);
    EXPECT_FALSE(std::filesystem::exists(out + ".running"));  // folded into the book
    EXPECT_NE(read_text(out + ".crashes").find("suspect 10 14\nsuspect 20 20\n"), std::string::npos);
}

TEST(RunnerCrash, ALossIsChargedToTheSuspectRunningOnTheLostRank) {
    Scratch s;
    const std::string out = s.path("out.jsonl");
    write_text(out + ".crashes",
               "suspect 5 7\ntry 5 1\ntry 6 2\nok 5\ntry 7 3\nlost 2\n");
    CrashBook book(out, 2);
    EXPECT_EQ(book.charges(6), 1);  // running alone on rank 2 when it was lost
    EXPECT_EQ(book.charges(7), 0);  // on another rank: not charged, runs again
    EXPECT_EQ(book.charges(5), 0);  // came back
    EXPECT_EQ(book.suspects(), (std::set<std::uint64_t>{6, 7}));
    EXPECT_FALSE(book.poisoned(6));
    // The next run: 6 is tried again, and its rank is lost again: twice is max_crashes here.
    book.trying(6, 1);
    std::ofstream(out + ".crashes", std::ios::app) << "lost 1\n";
    CrashBook again(out, 2);
    EXPECT_EQ(again.charges(6), 2);
    EXPECT_TRUE(again.poisoned(6));
    EXPECT_FALSE(again.poisoned(7));
}

TEST(RunnerCrash, AnUnknownLossIsChargedOnlyToALoneSuspect) {
    Scratch s;
    const std::string out = s.path("out.jsonl");
    write_text(out + ".crashes", "suspect 1 2\ntry 1 1\n");  // the front could not tell the rank
    EXPECT_EQ(CrashBook(out, 3).charges(1), 1);
    write_text(out + ".crashes", "suspect 1 2\ntry 1 1\ntry 2 2\n");
    CrashBook two(out, 3);
    EXPECT_EQ(two.charges(1) + two.charges(2), 0);  // either could have: neither is charged
}

TEST(RunnerCrash, ATornLineIsIgnoredAndFinishingClearsTheBook) {
    Scratch s;
    const std::string out = s.path("out.jsonl");
    write_text(out + ".crashes", "suspect 3 3\ncharge 9 1\ntry");
    CrashBook book(out, 3);
    EXPECT_EQ(book.suspects(), (std::set<std::uint64_t>{3}));
    EXPECT_EQ(book.charges(9), 1);
    book.finish();
    EXPECT_FALSE(std::filesystem::exists(out + ".crashes"));
    EXPECT_FALSE(std::filesystem::exists(out + ".running"));
}

TEST(RunnerCrash, RunningStaysAheadOfTheInputsGoingOut) {
    Scratch s;
    const std::string out = s.path("out.jsonl");
    CrashBook book(out, 3);
    Running running(book, 100);
    running.reading(100);  // before input 100 goes out, the file names it
    const auto named = [&] { return read_text(out + ".running"); };
    EXPECT_EQ(named(), "100 115\n");  // ahead by 16 at least, so it is rewritten rarely
    for (std::uint64_t i = 101; i <= 115; ++i) running.reading(i);
    EXPECT_EQ(named(), "100 115\n");  // not rewritten within what it names
    running.reading(116);
    EXPECT_EQ(named(), "100 147\n");  // moved on by twice what is out
    for (std::uint64_t i = 100; i < 110; ++i) running.recorded(i);
    running.save([](std::uint64_t) { return false; });
    EXPECT_EQ(named(), "110 147\n");  // what is recorded leaves the front
}

}  // namespace
