// A group leader's scheduling (framework/src/engine/group_dispatcher.*), in-process and without
// MPI: fake links keep what goes to members and to rank 0, a hand-moved clock tells the time,
// and the tests answer as members would. Rank 0's side is tests/unit/dispatcher_test.cpp.

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/protocol.hpp"
#include "engine/group_dispatcher.hpp"
#include "fake_clock.hpp"
#include "mproc/error.hpp"

namespace {

using namespace mproc;
using namespace mproc::detail;
using mproc::detail::testing::FakeClock;
using namespace std::chrono_literals;

class FakeLinks final : public GroupDispatcher::Links {
  public:
    void to_member(int rank, const char* message, std::size_t size) override {
        down.emplace_back(rank, Buffer(message, message + size));
    }
    void to_rank0(Buffer batch) override { up.push_back(std::move(batch)); }
    Buffer take_buffer() override { return {}; }

    std::vector<std::pair<int, Buffer>> down;  // (member, task message)
    std::vector<Buffer> up;                    // batches for rank 0
};

template <class Header>
void append(Buffer& out, const Header& h, const Buffer& payload = {}) {
    const std::size_t at = out.size();
    out.resize(at + sizeof h + payload.size());
    std::memcpy(out.data() + at, &h, sizeof h);
    std::memcpy(out.data() + at + sizeof h, payload.data(), payload.size());
}

// A message from rank 0 with the group's chunks `first` .. `first + n - 1` of job 1, one item
// each, as the Dispatcher sends them (a part per chunk).
Buffer group_chunks(int leader, std::uint64_t first, std::uint64_t n) {
    Buffer message;
    for (std::uint64_t seq = first; seq < first + n; ++seq) {
        Buffer chunk;
        append(chunk, TaskHeader{1, seq, seq, 0, 4, 1, 0}, Buffer(4, 'x'));
        append(message, RouteHeader{leader, kRouteGroup, chunk.size()}, chunk);
    }
    return message;
}

// A message from rank 0 with one span of job 1: `items` ints from input index `first` (each
// its own index), chunks of `each` items from chunk `seq`, as Dispatcher::pack_span packs it.
Buffer span_of(int leader, std::uint64_t seq, std::uint64_t first, std::uint32_t items,
               std::uint32_t each) {
    Buffer part;
    append(part, SpanHeader{each, sizeof(int)});
    Buffer inputs;
    for (std::uint32_t i = 0; i < items; ++i) {
        const int v = static_cast<int>(first + i);
        inputs.insert(inputs.end(), reinterpret_cast<const char*>(&v),
                      reinterpret_cast<const char*>(&v) + sizeof v);
    }
    append(part, TaskHeader{1, seq, first, 0, inputs.size(), items, 0}, inputs);
    Buffer message;
    append(message, RouteHeader{leader, kRouteSpan, part.size()}, part);
    return message;
}

// A member's result message for `message`: each chunk's inputs echoed as its results, busy
// for `busy`; chunk `fails` (if any) failed instead.
Buffer echo(const Buffer& message, std::chrono::nanoseconds busy,
            std::optional<std::uint64_t> fails = std::nullopt) {
    Buffer out;
    for_each_part<TaskHeader>(message.data(), message.size(), "task",
                              [&](const TaskHeader& h, const char* inputs) {
                                  const bool failed = fails && *fails == h.seq;
                                  append(out,
                                         ResultHeader{1, h.seq,
                                                      static_cast<std::uint64_t>(busy.count()),
                                                      0, failed ? 4 : h.size, h.count,
                                                      failed ? ResultStatus::task_failed
                                                             : ResultStatus::ok},
                                         failed ? Buffer(4, 'f') : Buffer(inputs, inputs + h.size));
                              });
    return out;
}

// The chunks of a task message, by seq.
std::vector<std::uint64_t> seqs_of(const Buffer& message) {
    std::vector<std::uint64_t> seqs;
    for_each_part<TaskHeader>(message.data(), message.size(), "task",
                              [&](const TaskHeader& h, const char*) { seqs.push_back(h.seq); });
    return seqs;
}

// The result message a member sends for `message`, each chunk busy for `busy`.
Buffer answer(const Buffer& message, std::chrono::nanoseconds busy) {
    Buffer out;
    for (std::uint64_t seq : seqs_of(message))
        append(out, ResultHeader{1, seq, static_cast<std::uint64_t>(busy.count()), 0, 0, 1,
                                 ResultStatus::ok});
    return out;
}

// The parts of a batch for rank 0: (rank, flags, the chunks' seqs or the quiet nanoseconds).
struct Part {
    int rank;
    std::uint32_t flags;
    std::vector<std::uint64_t> values;
};
std::vector<Part> parts_of(const Buffer& batch) {
    std::vector<Part> parts;
    for_each_part<RouteHeader>(batch.data(), batch.size(), "batch",
                               [&](const RouteHeader& r, const char* data) {
                                   Part p{r.rank, r.flags, {}};
                                   if (r.flags == kRouteQuiet) {
                                       std::int64_t ns;
                                       std::memcpy(&ns, data, sizeof ns);
                                       p.values.push_back(static_cast<std::uint64_t>(ns));
                                   } else {
                                       for_each_part<ResultHeader>(
                                           data, r.size, "result",
                                           [&](const ResultHeader& h, const char*) {
                                               p.values.push_back(h.seq);
                                           });
                                   }
                                   parts.push_back(std::move(p));
                               });
    return parts;
}

struct Fixture {
    FakeClock clock;
    FakeLinks links;
    GroupDispatcher g{1, {2, 3, 4}, links, clock, 1 << 16};

    // Rank 0 sends the group chunks 0 .. n - 1, and the leader takes a turn.
    void take(std::uint64_t n) {
        const Buffer message = group_chunks(1, 0, n);
        g.from_rank0(message.data(), message.size());
        g.tick();
    }
    // Member `sent.first` answers the task message `sent.second`, each chunk busy for `busy`.
    void answer_one(const std::pair<int, Buffer>& sent, std::chrono::nanoseconds busy) {
        const Buffer reply = answer(sent.second, busy);
        g.from_member(sent.first, reply.data(), reply.size());
    }
    // Answers every task message sent so far, in order.
    void answer_all(std::chrono::nanoseconds busy) {
        for (const auto& sent : std::exchange(links.down, {})) answer_one(sent, busy);
    }
};

TEST(GroupDispatcher, SpreadsTheGroupsChunksOverItsMembersAndKeepsTheRestQueued) {
    Fixture f;
    f.take(10);
    // Before any estimate a member holds two chunks, one a message: the first round gives each
    // member one, the second one more, and 4 chunks wait.
    std::map<int, std::vector<std::uint64_t>> held;
    for (const auto& [rank, m] : f.links.down) {
        EXPECT_EQ(seqs_of(m).size(), 1u);
        for (auto s : seqs_of(m)) held[rank].push_back(s);
    }
    EXPECT_EQ(held.size(), 3u);
    for (const auto& [rank, seqs] : held) EXPECT_EQ(seqs.size(), 2u) << "rank " << rank;
    EXPECT_EQ(f.g.owed(), 6u);
    // Chunks go out in rank 0's order.
    std::vector<std::uint64_t> order;
    for (const auto& [rank, m] : f.links.down) order.push_back(seqs_of(m).at(0));
    EXPECT_EQ(order, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(GroupDispatcher, AFreeMemberGetsTheQueuedWorkNotABusyOne) {
    Fixture f;
    f.take(30);
    // Rank 2 is stuck on its chunks; 3 and 4 answer theirs, and take what was queued.
    std::size_t stuck = 0;
    for (int round = 0; round < 30; ++round) {
        for (auto& [rank, m] : std::exchange(f.links.down, {})) {
            if (rank == 2) {
                stuck += seqs_of(m).size();
                continue;
            }
            const Buffer reply = answer(m, 1ms);
            f.g.from_member(rank, reply.data(), reply.size());
        }
        f.g.tick();
    }
    std::map<int, std::size_t> results;
    for (const Buffer& b : f.links.up)
        for (const Part& p : parts_of(b)) {
            EXPECT_EQ(p.flags, kRouteGroup);
            results[p.rank] += p.values.size();
        }
    // Rank 2 holds what its budget allows (with 1 ms chunks, the one it runs and 5 more);
    // everything else went to the two that answer.
    EXPECT_EQ(results.count(2), 0u);
    EXPECT_LE(stuck, 6u);
    EXPECT_EQ(results[3] + results[4] + stuck, 30u);
}

TEST(GroupDispatcher, ResultsWaitForTheRestOfTheGroupOrTheirHold) {
    Fixture f;
    f.take(9);
    auto down = std::exchange(f.links.down, {});
    ASSERT_EQ(down.size(), 6u);  // two each; 3 wait here
    f.answer_one(down[0], 1ms);
    f.g.tick();
    EXPECT_TRUE(f.links.up.empty()) << "one answer of nine waits";
    ASSERT_TRUE(f.g.poll_again_in().has_value());
    EXPECT_LE(*f.g.poll_again_in(), std::chrono::duration_cast<Clock::duration>(1ms));
    f.clock.advance(1ms);  // its hold: what its message took
    f.g.tick();
    ASSERT_EQ(f.links.up.size(), 1u);
    auto parts = parts_of(f.links.up[0]);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].rank, down[0].first);
    EXPECT_EQ(parts[0].values, (std::vector<std::uint64_t>{0}));
    // Two more answers of the 8 out wait; the third makes a third of what is out (3 of 5
    // still out, and 3), and they go at once: what rank 0 refills a message at a time.
    for (std::size_t i = 1; i < 4; ++i) {
        f.answer_one(down[i], 1ms);
        f.g.tick();
        EXPECT_EQ(f.links.up.size(), i < 3 ? 1u : 2u) << "after answer " << i + 1;
    }
    ASSERT_EQ(f.links.up.size(), 2u);
    EXPECT_EQ(parts_of(f.links.up[1]).size(), 3u);
}

TEST(GroupDispatcher, AMemberTakesMoreOnceChunksAreKnownToBeShort) {
    Fixture f;
    f.take(60);
    f.answer_all(2ms);
    f.g.tick();
    // 2 ms chunks: the one running and kMemberCover (5 ms) more, 4 in all, 2 a message.
    std::map<int, std::size_t> held;
    for (const auto& [rank, m] : f.links.down) {
        EXPECT_EQ(seqs_of(m).size(), 2u);
        held[rank] += seqs_of(m).size();
    }
    for (const auto& [rank, n] : held) EXPECT_EQ(n, 4u) << "rank " << rank;
}

TEST(GroupDispatcher, AShortQueueIsSharedThoughOneMemberMayTakeItAll) {
    Fixture f;
    f.take(3);
    f.answer_all(100us);  // short chunks: a member may hold 16, 8 a message
    f.g.tick();
    // The last 9 chunks of a map: three each, not 8 to the first member and 1 to the next.
    const Buffer tail = group_chunks(1, 3, 9);
    f.g.from_rank0(tail.data(), tail.size());
    f.g.tick();
    std::map<int, std::size_t> held;
    for (const auto& [rank, m] : f.links.down) held[rank] += seqs_of(m).size();
    EXPECT_EQ(held, (std::map<int, std::size_t>{{2, 3}, {3, 3}, {4, 3}}));
}

TEST(GroupDispatcher, AMembersOwnMessagesGoUnchangedAndComeBackAsItsOwn) {
    Fixture f;
    Buffer own;
    append(own, TaskHeader{7, 0, 0, 0, 4, 1, 0}, Buffer(4, 'y'));
    Buffer message;
    append(message, RouteHeader{3, kRouteMember, own.size()}, own);
    f.g.from_rank0(message.data(), message.size());
    f.g.tick();
    ASSERT_EQ(f.links.down.size(), 1u);
    EXPECT_EQ(f.links.down[0].first, 3);
    EXPECT_EQ(f.links.down[0].second, own);
    Buffer reply;
    append(reply, ResultHeader{7, 0, 1000, 0, 0, 1, ResultStatus::ok});
    f.g.from_member(3, reply.data(), reply.size());
    f.g.tick();  // nothing else is owed: the batch goes
    ASSERT_EQ(f.links.up.size(), 1u);
    const auto parts = parts_of(f.links.up[0]);
    ASSERT_EQ(parts.size(), 1u);
    EXPECT_EQ(parts[0].rank, 3);
    EXPECT_EQ(parts[0].flags, kRouteMember);
}

TEST(GroupDispatcher, AMemberItFeedsThatOwesForLongIsReportedToRank0) {
    Fixture f;
    f.take(6);
    f.clock.advance(300ms);
    f.g.tick();
    EXPECT_TRUE(f.links.up.empty()) << "300 ms is not long";
    f.clock.advance(300ms);
    f.g.tick();
    ASSERT_EQ(f.links.up.size(), 1u);
    const auto parts = parts_of(f.links.up[0]);
    ASSERT_EQ(parts.size(), 3u);
    for (const Part& p : parts) {
        EXPECT_EQ(p.flags, kRouteQuiet);
        EXPECT_EQ(p.values.at(0), 600'000'000u);
    }
    // Told once per kQuietReport, not every turn.
    f.clock.advance(100ms);
    f.g.tick();
    EXPECT_EQ(f.links.up.size(), 1u);
}

TEST(GroupDispatcher, BadPartsAreRefusedNamingTheLeader) {
    Fixture f;
    const auto refused = [&](const Buffer& message, const std::string& expected) {
        try {
            f.g.from_rank0(message.data(), message.size());
            ADD_FAILURE() << "accepted: " << expected;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    };
    Buffer outside;
    append(outside, RouteHeader{9, kRouteMember, 0});
    refused(outside, "group leader rank 1 was sent chunks for rank 9, which is not in its group");
    Buffer unknown;
    append(unknown, RouteHeader{2, 5, 0});
    refused(unknown, "group leader rank 1 got a routed part marked 5 from rank 0");
    Buffer reply;
    append(reply, ResultHeader{1, 0, 1000, 0, 0, 1, ResultStatus::ok});
    try {
        f.g.from_member(2, reply.data(), reply.size());
        ADD_FAILURE() << "rank 2 owed nothing";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("got results from rank 2, which owed none"),
                  std::string::npos)
            << e.what();
    }
}

TEST(GroupDispatcher, AtTheStopTheQueueIsDroppedAndWhatIsGatheredGoes) {
    Fixture f;
    f.take(10);
    auto down = std::exchange(f.links.down, {});
    f.answer_one(down[0], 1ms);
    f.g.stop();
    ASSERT_EQ(f.links.up.size(), 1u) << "the gathered result goes at the stop";
    f.g.tick();
    EXPECT_TRUE(f.links.down.empty()) << "the queued chunks are not handed out";
    f.answer_one(down[1], 1ms);
    f.g.tick();
    EXPECT_EQ(f.links.up.size(), 1u) << "results after the stop are not sent";
}

TEST(GroupDispatcher, ASpanIsCutIntoItsChunksAndItsResultsGoBackJoinedInOrder) {
    Fixture f;
    const Buffer span = span_of(1, 5, 50, 10, 3);  // chunks 5..8: 3, 3, 3 and 1 items
    f.g.from_rank0(span.data(), span.size());
    f.g.tick();
    std::vector<std::uint64_t> firsts, counts;
    std::vector<int> inputs;
    for (const auto& [rank, m] : f.links.down)
        for_each_part<TaskHeader>(m.data(), m.size(), "task",
                                  [&](const TaskHeader& h, const char* in) {
                                      firsts.push_back(h.first);
                                      counts.push_back(h.count);
                                      EXPECT_EQ(h.size, h.count * sizeof(int));
                                      for (std::uint32_t i = 0; i < h.count; ++i) {
                                          int v;
                                          std::memcpy(&v, in + i * sizeof v, sizeof v);
                                          inputs.push_back(v);
                                      }
                                  });
    EXPECT_EQ(firsts, (std::vector<std::uint64_t>{50, 53, 56, 59}));
    EXPECT_EQ(counts, (std::vector<std::uint64_t>{3, 3, 3, 1}));
    for (std::size_t i = 0; i < inputs.size(); ++i) EXPECT_EQ(inputs[i], 50 + static_cast<int>(i));
    // Members answer out of order; nothing goes up until the span's last chunk is in.
    auto down = std::exchange(f.links.down, {});
    ASSERT_EQ(down.size(), 4u);
    for (std::size_t i = down.size(); i-- > 0;) {
        EXPECT_TRUE(f.links.up.empty());
        const Buffer reply = echo(down[i].second, 1ms);
        f.g.from_member(down[i].first, reply.data(), reply.size());
        f.g.tick();
    }
    ASSERT_EQ(f.links.up.size(), 1u);
    const Buffer& batch = f.links.up[0];
    std::vector<RouteHeader> routes;
    for_each_part<RouteHeader>(batch.data(), batch.size(), "batch",
                               [&](const RouteHeader& r, const char* data) {
                                   routes.push_back(r);
                                   ASSERT_EQ(r.flags, kRouteSpan);
                                   for_each_part<ResultHeader>(
                                       data, r.size, "result",
                                       [&](const ResultHeader& h, const char* results) {
                                           EXPECT_EQ(h.seq, 5u);
                                           EXPECT_EQ(h.count, 10u);
                                           EXPECT_EQ(h.busy_ns, 4'000'000u);  // 4 chunks
                                           EXPECT_EQ(h.status, ResultStatus::ok);
                                           ASSERT_EQ(h.size, 10 * sizeof(int));
                                           for (int i = 0; i < 10; ++i) {
                                               int v;
                                               std::memcpy(&v, results + i * sizeof v, sizeof v);
                                               EXPECT_EQ(v, 50 + i);
                                           }
                                       });
                               });
    ASSERT_EQ(routes.size(), 1u);
    EXPECT_EQ(routes[0].rank, 1) << "a joined span comes from the leader itself";
}

TEST(GroupDispatcher, OnceAChunkOfASpanFailsItsResultsGoOneByOneNamingTheirMembers) {
    Fixture f;
    const Buffer span = span_of(1, 0, 0, 6, 1);  // chunks 0..5, one item each
    f.g.from_rank0(span.data(), span.size());
    f.g.tick();
    auto down = std::exchange(f.links.down, {});
    ASSERT_EQ(down.size(), 6u);  // two a member
    // The first two come back fine and are held; the third fails: all three go up, each
    // naming its member, and so does every chunk of the span after them.
    std::map<std::uint64_t, int> ran_by;
    for (std::size_t i = 0; i < down.size(); ++i) {
        const Buffer reply = echo(down[i].second, 1ms, 2);
        for (std::uint64_t seq : seqs_of(down[i].second)) ran_by[seq] = down[i].first;
        f.g.from_member(down[i].first, reply.data(), reply.size());
        if (i == 1) {
            f.g.tick();
            EXPECT_TRUE(f.links.up.empty());
        }
    }
    f.g.tick();
    std::map<std::uint64_t, int> named;
    for (const Buffer& batch : f.links.up)
        for (const Part& p : parts_of(batch)) {
            EXPECT_EQ(p.flags, kRouteGroup);
            for (std::uint64_t seq : p.values) {
                EXPECT_FALSE(named.count(seq)) << "chunk " << seq << " twice";
                named[seq] = p.rank;
            }
        }
    EXPECT_EQ(named, ran_by);
}

TEST(GroupDispatcher, ASpanWhoseSizesDisagreeIsRefused) {
    Fixture f;
    Buffer span = span_of(1, 0, 0, 6, 2);
    span.resize(span.size() - 4);  // one input short of what its header says
    RouteHeader route;
    std::memcpy(&route, span.data(), sizeof route);
    route.size -= 4;
    std::memcpy(span.data(), &route, sizeof route);
    try {
        f.g.from_rank0(span.data(), span.size());
        ADD_FAILURE() << "a short span was accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(
                      "group leader rank 1 got a span of 6 items of 4 bytes in chunks of 2 with "
                      "20 bytes of inputs"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
