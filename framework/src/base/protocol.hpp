#pragma once
// The wire protocol between rank 0 and workers.
//
// A task message carries one or more chunks back to back, each a TaskHeader followed by its
// packed inputs. The worker answers every task message with exactly one result message:
// a ResultHeader and packed results (or a TaskFailure) per chunk, in the same order. Batching
// chunks this way divides the per-message cost of tiny tasks without changing what a chunk
// means (the unit of scheduling, of results and of failure).
//
// Under node groups (groups.hpp) rank 0 sends a group's leader one message (kTagTask) of
// parts, each a RouteHeader and what it carries (RouteFlags): a chunk for the group, which the
// leader hands to a member of its choice, or a task message for one member, which the leader
// forwards unchanged. The leader sends back (kTagResult) its members' result messages the same
// way, several in one, each marked with the member that ran it and whose chunks it answers. A
// rank knows a routed message by its source: rank 0 and a leader route, nobody else does.
//
// Variable sizes are received with MPI_Improbe + MPI_Mrecv, so there is never a separate
// "size" message to race with.

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "mproc/detail/bytes.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "mproc/error.hpp"

namespace mproc::detail {

// The most bytes one message carries: MPI counts bytes in an int.
inline constexpr std::size_t kMaxMessageBytes = INT_MAX;

enum Tag : int {
    kTagTask = 1,        // rank 0 -> worker: chunks
    kTagResult = 2,      // worker -> rank 0: one result per chunk of the task message answered
    kTagControl = 3,     // rank 0 -> worker: stop (empty payload)
    kTagQueue = 4,       // any rank -> rank 0: a queue request (QueueRequestHeader + item)
    kTagQueueReply = 5,  // rank 0 -> the requester: its one reply (QueueReplyHeader + item)
    kTagAction = 6,      // any rank -> the rank keeping a job: run it (its 8-byte key)
};

struct QueueRequestHeader {
    std::uint64_t queue;
    std::uint64_t request;    // the requester's number for it (for cancel)
    std::int64_t timeout_ns;  // < 0: no timeout
    QueueOp op;
    std::uint32_t maxsize;  // the queue's, sent with every request (queues are made lazily)
    std::uint32_t want;     // get: up to this many items in one reply (see take_batch)
    std::uint32_t reserved;
};

struct QueueReplyHeader {
    std::uint64_t request;
    std::uint64_t value;
    QueueStatus status;
    std::uint32_t reserved;
};

struct TaskHeader {
    std::uint64_t job;
    std::uint64_t seq;    // chunk number within the job
    std::uint64_t first;  // input index of the chunk's first item
    TaskId task;
    std::uint64_t size;   // bytes of packed inputs after this header
    std::uint32_t count;  // items in the chunk
    // 0: the worker runs it itself; otherwise in a child process that runs this many chunks
    // and is then replaced (kChildForever: never; see task_child.hpp).
    std::uint32_t child_tasks;
};

// A leader holds its members' results for up to what their task messages take, at most this,
// to send them on together, and sleeps as long between its turns; rank 0 sleeps a quarter of
// a message's time, at most half this, between turns for workers in groups. So a refill
// reaches a member at most 2.5 holds after its result. (Against holds of half a message, at
// most 1 ms: rank 0's CPU per task 19% lower, the same share of the ideal rate; 13
// alternating runs each, 129 ranks on 2 cores in groups of 16, 2 ms tasks.)
inline constexpr std::chrono::microseconds kMaxRelayHold{2000};
// What a member keeps queued beyond the chunk it runs (Dispatcher::in_flight_budget), in work:
// the refill's 2.5 holds and as much again for wake-ups late on a loaded host, and at least
// one chunk.
inline constexpr std::chrono::microseconds kRelayCover{5 * kMaxRelayHold};

// Messages between a leader and its members larger than this go by MPI rather than through
// their shared-memory ring (shared/relay_rings.hpp): a quarter of a ring, so several always fit.
inline constexpr std::size_t kRelayInlineBytes = 64 * 1024;
// What a member keeps queued beyond the chunk it runs when its leader hands out the group's
// chunks (GroupDispatcher): the leader is on the same node and wakes at least once a hold, so half
// the cover rank 0 keeps for a member it feeds itself; the rest of the group's work waits at
// the leader, for whichever member is free first.
inline constexpr std::chrono::microseconds kMemberCover{kRelayCover / 2};
// How long a member of a group its leader feeds may owe results before the leader tells rank 0
// (Pool::quiet_workers names it), and how often it tells again while the member stays quiet.
inline constexpr std::chrono::milliseconds kQuietReport{500};

// The parts of a message between rank 0 and a group leader.
enum RouteFlags : std::uint32_t {
    // To `rank`, or from it: a task message or its result message, routed unchanged.
    kRouteMember = 0,
    // Down (rank: the leader): chunks for the group, which the leader hands to its members as
    // they have room. Up (rank: the member that ran them): the results of such chunks.
    kRouteGroup = 1,
    // Up: member `rank` has owed results for the nanoseconds in the part (an int64).
    kRouteQuiet = 2,
    // Down (rank: the leader): a span, consecutive chunks of one job packed as one: a
    // SpanHeader, then a TaskHeader whose count and size are the whole span's, then the inputs.
    // The leader cuts it into its chunks. Up (rank: the leader): the span's results joined, a
    // ResultHeader (seq the first chunk's, count every item, busy_ns their sum) and the
    // results end to end. So rank 0 packs and takes a span as one piece however many chunks
    // it holds. A span whose chunk fails comes back chunk by chunk, as kRouteGroup parts.
    kRouteSpan = 3,
};

// What a leader needs to cut a span (kRouteSpan) into chunks.
struct SpanHeader {
    std::uint32_t chunk_items;  // items per chunk; the last may have fewer
    std::uint32_t item_bytes;   // bytes every packed item takes
};

struct RouteHeader {
    std::int32_t rank;  // the member the message is for, or from (kRouteGroup down: the leader)
    std::uint32_t flags;  // a RouteFlags
    std::uint64_t size;   // bytes of the message after this header
};

enum class ResultStatus : std::uint32_t {
    ok = 0,
    task_failed = 1,   // payload: a packed TaskFailure
    unknown_task = 2,  // the worker has no task with this id (a different binary?)
};

struct ResultHeader {
    std::uint64_t job;
    std::uint64_t seq;
    std::uint64_t busy_ns;   // time spent running the chunk, for chunk sizing and load reports
    std::uint64_t start_ns;  // when it started: system clock, ns since the epoch (the trace)
    std::uint64_t size;      // bytes of payload after this header
    std::uint32_t count;
    ResultStatus status;
};

// Walks a message of parts, each a header (TaskHeader or ResultHeader) and the `size` bytes
// its header says follow it, calling `part(header, payload)` for each. Every length is
// checked against what arrived first: a short or corrupt message throws Error naming
// `what` and where it breaks, and nothing past its end is ever read.
template <class Header, class F>
void for_each_part(const char* data, std::size_t size, const char* what, F&& part) {
    for (std::size_t at = 0; at < size;) {
        if (size - at < sizeof(Header))
            throw Error(std::string("mproc: a malformed ") + what + " message: " +
                        std::to_string(size - at) + " bytes left at byte " + std::to_string(at) +
                        ", too few for a header of " + std::to_string(sizeof(Header)));
        Header header;
        std::memcpy(&header, data + at, sizeof header);
        at += sizeof header;
        if (header.size > size - at)
            throw Error(std::string("mproc: a malformed ") + what + " message: a part claims " +
                        std::to_string(header.size) + " bytes, " + std::to_string(size - at) +
                        " are left");
        part(header, data + at);
        at += header.size;
    }
}

}  // namespace mproc::detail
