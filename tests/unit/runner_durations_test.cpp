// pool.order: longest_first (tools/runner/durations.*): what an earlier run's results, summary
// or GNU parallel joblog say each input took, and the order the inputs go out in.

#include <gtest/gtest.h>

#include <stdexcept>

#include "durations.hpp"
#include "runner_testing.hpp"

namespace {

using mproc::runner::Durations;
using mproc::runner::InputSpec;
using mproc::runner::longest_first;
using mproc::runner::read_durations;
using mproc::runner::Value;
using mproc::runner::testing::Scratch;
using mproc::runner::testing::write_text;
using Order = std::vector<std::uint64_t>;

InputSpec words(std::initializer_list<const char*> list) {
    InputSpec spec;
    spec.kind = InputSpec::Kind::values;
    for (const char* w : list) spec.values.emplace_back(std::string(w));
    return spec;
}

InputSpec range(std::int64_t n) {
    InputSpec spec;
    spec.kind = InputSpec::Kind::range;
    spec.stop = n;
    return spec;
}

std::string refusal(const std::string& path) {
    try {
        read_durations(path);
    } catch (const std::exception& e) {  // invalid_argument, or IoError for a missing file
        return e.what();
    }
    ADD_FAILURE() << path << " was not refused";
    return "";
}

TEST(RunnerDurations, ResultsAreMatchedByInputNotByPlace) {
    Scratch scratch;
    const std::string path = scratch.path("old.jsonl");
    // An earlier run over b, a, c, in that order; the records without seconds are skipped.
    write_text(path,
               "{\"input\": \"b\", \"seconds\": 0.5}\n"
               "{\"input\": \"a\", \"seconds\": 3}\n"
               "{\"input\": \"x\"}\n"
               "\n"
               "{\"input\": \"c\", \"seconds\": 1.25}\n");
    const Durations d = read_durations(path);
    EXPECT_EQ(d.by_input.size(), 3u);
    EXPECT_TRUE(d.by_index.empty());
    EXPECT_EQ(longest_first(words({"a", "b", "c"}), 0, 3, d, {}), (Order{0, 2, 1}));
    // A new input, unknown, goes at the mean of the known (1.58 s): after a, before c and b.
    EXPECT_EQ(longest_first(words({"c", "new", "b", "a"}), 0, 4, d, {}), (Order{3, 1, 0, 2}));
}

TEST(RunnerDurations, AJoblogIsMatchedBySeqAndItsLaterLineWins) {
    Scratch scratch;
    const std::string path = scratch.path("joblog");
    write_text(path,
               "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"
               "1\t:\t1700000000.000\t0.100\t0\t0\t0\t0\tsleep 0.1\n"
               "2\t:\t1700000000.000\t2.000\t0\t0\t0\t0\tsleep 2\n"
               "3\t:\t1700000000.000\t0.500\t0\t0\t1\t0\tsleep 0.5\n"
               "1\t:\t1700000009.000\t4.000\t0\t0\t0\t0\tsleep 4\n");  // a resumed run's line
    const Durations d = read_durations(path);
    ASSERT_EQ(d.by_index.size(), 3u);
    EXPECT_DOUBLE_EQ(d.by_index.at(0), 4.0);
    EXPECT_DOUBLE_EQ(d.by_index.at(1), 2.0);
    // Input 3, unknown, at the mean of the known (2.17 s): after 0 (4 s), before 1 (2 s).
    EXPECT_EQ(longest_first(range(4), 0, 4, d, {}), (Order{0, 3, 1, 2}));
}

TEST(RunnerDurations, ASummaryListsTheSlowestAndBoundsTheRest) {
    Scratch scratch;
    const std::string path = scratch.path("out.summary.json");
    write_text(path,
               "{\n  \"total\": 6,\n  \"slowest\": [\n"
               "    {\"index\": 4, \"seconds\": 9.0, \"input\": 4},\n"
               "    {\"index\": 1, \"seconds\": 2.5, \"input\": 1}\n  ]\n}\n");
    const Durations d = read_durations(path);
    ASSERT_TRUE(d.rest.has_value());
    EXPECT_DOUBLE_EQ(*d.rest, 2.5);
    // The unlisted took at most 2.5 s: after both listed, in input order among themselves.
    EXPECT_EQ(longest_first(range(6), 0, 6, d, {}), (Order{4, 1, 0, 2, 3, 5}));
}

TEST(RunnerDurations, DoneInputsAndOtherShardsAreLeftOut) {
    Durations d;
    d.by_index = {{0, 1.0}, {1, 5.0}, {2, 3.0}, {3, 7.0}, {4, 2.0}};
    const auto done = [](std::uint64_t i) { return i == 3; };
    EXPECT_EQ(longest_first(range(5), 1, 5, d, done), (Order{1, 2, 4}));
    EXPECT_TRUE(longest_first(range(5), 0, 5, {}, {}) == (Order{0, 1, 2, 3, 4}))
        << "with nothing known, input order";
}

TEST(RunnerDurations, WhatIsNotDurationsIsRefusedWithItsPlace) {
    Scratch scratch;
    const std::string torn = scratch.path("torn.jsonl");
    write_text(torn, "{\"input\": 1, \"seconds\": 2}\n{\"input\": 2, \"sec\n");
    EXPECT_NE(refusal(torn).find("torn.jsonl:2"), std::string::npos) << refusal(torn);

    const std::string bare = scratch.path("bare.jsonl");
    write_text(bare, "{\"input\": 1, \"result\": 2}\n");
    EXPECT_NE(refusal(bare).find("output.provenance"), std::string::npos) << refusal(bare);

    const std::string log = scratch.path("bad.joblog");
    write_text(log, "Seq\tHost\tStarttime\tJobRuntime\n1\t:\t0\tlong\n");
    EXPECT_NE(refusal(log).find("bad.joblog:2: not a joblog line"), std::string::npos)
        << refusal(log);

    EXPECT_NE(refusal(scratch.path("missing")).find("missing"), std::string::npos);
}

}  // namespace
