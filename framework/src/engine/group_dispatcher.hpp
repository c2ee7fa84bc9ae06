#pragma once
// A group leader's scheduling, in plain C++ with no MPI: what the leader (group_leader.hpp)
// decides for its members. Rank 0 sends the leader messages of two kinds of parts
// (RouteFlags, protocol.hpp):
//  - chunks for the group (kRouteGroup), when a pool holds every member: they wait here in a
//    queue, and each member is handed more as it answers, so that rank 0 keeps one account
//    per group and the balance within a group is decided here, next to the members;
//  - spans (kRouteSpan): a run of one job's chunks packed as one, which the leader cuts into
//    its chunks and queues the same way; their results are joined here, once all have come,
//    into one block for rank 0, so that rank 0 packs and takes a span as one piece;
//  - task messages for one member (kRouteMember): chunks pinned to it (a pool's initializer),
//    or a pool that holds only part of the group. They go to the member unchanged.
// A member answers every message in order, so the leader knows which kind each result message
// answers. It gathers them, marked the same way and naming the member, into one message for
// rank 0, and adds word of a member it feeds that has owed results for long (kRouteQuiet),
// since only the leader knows what that member holds.
//
// The leader's MPI thread drives it (GroupLeader); tests drive it in-process
// (tests/unit/group_dispatcher_test.cpp), and so does the scale simulator (tools/model).
//
//     GroupDispatcher g(leader_rank, members, links, clock, pack_bytes);
//     g.from_rank0(bytes, size);          // a message from rank 0
//     g.from_member(rank, bytes, size);   // a member's result message
//     g.tick();                           // hands out, reports, sends the batch when due
//     g.poll_again_in();                  // when tick has something to do next

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "base/protocol.hpp"
#include "engine/clock.hpp"

namespace mproc::detail {

class GroupDispatcher {
  public:
    // Where the leader's messages go.
    class Links {
      public:
        virtual ~Links() = default;
        // A task message (TaskHeaders and inputs) for member `rank`.
        virtual void to_member(int rank, const char* message, std::size_t size) = 0;
        // A batch of results (and word of quiet members) for rank 0.
        virtual void to_rank0(Buffer batch) = 0;
        // An empty buffer to gather a batch in; one whose message has gone, where there is one.
        virtual Buffer take_buffer() = 0;
    };

    // A message to a member packs chunks up to `pack_bytes` (what its link carries best: a
    // ring record), or one chunk however large.
    GroupDispatcher(int leader, const std::vector<int>& members, Links& links, const Clock& clock,
                    std::size_t pack_bytes);
    GroupDispatcher(const GroupDispatcher&) = delete;
    GroupDispatcher& operator=(const GroupDispatcher&) = delete;

    // A message from rank 0: its member parts go on, its group chunks into the queue. Throws
    // Error naming the leader when a part is for a rank outside the group or is malformed.
    void from_rank0(const char* data, std::size_t size);
    // Member `rank`'s result message, answering the oldest message it was sent.
    void from_member(int rank, const char* data, std::size_t size);
    // Hands queued chunks to members with room, tells rank 0 of quiet members, and sends the
    // batch when it is due.
    void tick();
    // The run is ending: the queue is dropped, results that still come are not sent on.
    void stop();
    // How long until tick has something to do: a batch due, or a member's result expected
    // (nullopt: nothing is expected; zero: look again at once).
    std::optional<Clock::duration> poll_again_in() const;
    // Task messages out on members, not yet answered.
    std::size_t owed() const { return out_total_; }

  private:
    struct Member {
        int rank = 0;
        // Each message sent and not yet answered, oldest first: its chunks, and whether they
        // were the group's (handed out here) or the member's own.
        struct Owed {
            std::uint32_t chunks;
            bool group;
        };
        std::deque<Owed> owed;
        std::size_t group_chunks = 0;  // the group's chunks it holds
        Clock::time_point owed_since;
        Clock::time_point quiet_told;  // when rank 0 last heard it owed for long
    };
    // A chunk for the group waiting for a member: its bytes (a TaskHeader and inputs) in
    // queued_ from `at`.
    struct Queued {
        std::size_t at;
        std::size_t size;
    };

    // A span from rank 0 not yet answered: its chunks' results as they come (a ResultHeader
    // and payload each, in `results`), joined for rank 0 once all have. Once one fails, each
    // goes on alone, naming its member, as the group's other chunks do.
    struct Span {
        struct Result {
            int rank = 0;          // the member that ran the chunk; 0: not yet answered
            std::size_t at = 0;    // its ResultHeader in `results`
        };
        std::uint64_t job = 0;
        std::uint64_t seq = 0;     // its first chunk
        std::uint32_t count = 0;   // items in all its chunks
        std::uint32_t left = 0;    // chunks not yet answered
        bool broken = false;       // a chunk failed: results go on one by one
        std::vector<Result> chunks;
        Buffer results;
        std::size_t payload = 0;   // bytes of results, without their headers
    };

    Member& member(int rank, const char* what);
    // Cuts span `message` (after its RouteHeader) into chunks on the queue.
    void queue_span(const char* message, std::size_t size);
    // A member's answer to chunks of the group, some of them of spans.
    void take_span_results(int rank, const char* data, std::size_t size, Clock::time_point due);
    // One chunk's result (`h`, and `part`: its header and payload as the member sent them).
    void take_span_result(Span& span, int rank, const ResultHeader& h, const char* part,
                          Clock::time_point due);
    // Sends a span's results to rank 0 as one part.
    void join(const Span& span, Clock::time_point due);
    // Room for a part of `route.size` bytes at the end of the batch for rank 0 (its header
    // written), to go by `due` at the latest.
    char* batch_room(const RouteHeader& route, Clock::time_point due);
    // Sends `m` a task message of `chunks` chunks and notes what it owes.
    void send(Member& m, const char* message, std::size_t size, std::uint32_t chunks, bool group);
    void hand_out();
    // How many of the group's chunks a member holds: the one it runs and kMemberCover more.
    std::size_t member_budget() const;
    // Appends a part to the batch for rank 0, to go by `due` at the latest.
    void add_to_batch(const RouteHeader& route, const char* data, Clock::time_point due);
    void report_quiet(Clock::time_point now);
    bool flush_due(Clock::time_point now) const;
    void flush();

    const int leader_;
    Links& links_;
    const Clock& clock_;
    const std::size_t pack_bytes_;
    std::vector<Member> members_;
    std::vector<int> slot_;  // by rank: its index in members_, or -1
    // The group's chunks not yet handed out, in the order rank 0 sent them.
    std::vector<char> queued_;
    std::deque<Queued> queue_;
    std::deque<Span> spans_;  // oldest first
    Buffer hand_;      // a member's message being packed
    std::size_t turn_ = 0;  // the member hand_out starts its round with
    // Results gathered for rank 0: how many parts, how many of them a member's own, and how
    // many of the group's chunks they answer.
    Buffer batch_;
    std::size_t batch_parts_ = 0;
    std::size_t batch_own_ = 0;
    std::size_t batch_group_chunks_ = 0;
    Clock::time_point batch_due_;
    std::size_t group_out_ = 0;  // the group's chunks here or on members, not yet answered
    std::size_t out_total_ = 0;   // messages out on all members
    double ns_per_message_ = -1;  // what members' messages took lately (-1: not known yet)
    double ns_per_chunk_ = -1;    // what the group's chunks took lately (-1: not known yet)
    Clock::time_point quiet_checked_;
    bool stopping_ = false;
};

}  // namespace mproc::detail
