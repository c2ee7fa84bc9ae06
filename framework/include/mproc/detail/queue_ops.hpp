#pragma once
// The byte-level side of Queue, JoinableQueue and Pipe (queue.hpp, pipe.hpp).
//
// Every queue lives on rank 0, in its queue service: a put or get from a worker is one
// request message to rank 0 and one reply, and rank 0's own threads hand theirs to rank 0's
// MPI thread. The service keeps the items, the waiting getters and putters (maxsize back-pressure)
// and their deadlines, so every request gets exactly one reply, a timeout included. A request
// blocked in a Process that is terminated is cancelled, and the Process unwinds with Terminated.

#include <chrono>
#include <cstdint>
#include <vector>

namespace mproc::detail {

enum class QueueOp : std::uint32_t {
    put,        // payload: the item; waits while the queue holds maxsize items
    push,       // put into an unbounded queue: cannot wait or fail, so it gets no reply
    get,        // reply payload: the item
    poll,       // waits until an item is there (or the queue is closed); takes nothing
    size,       // reply value: the item count
    close,      // no more items will come: once drained, get and poll answer `closed`
    task_done,  // JoinableQueue: one item fully handled
    join,       // JoinableQueue: waits until every item put has been task_done
    cancel,     // (internal) drops the sender's waiting request; that request is answered
    unget,      // (internal) items a consumer took ahead and did not use, back to the front
};

enum class QueueStatus : std::uint32_t {
    ok,
    timeout,    // get: empty; put: full; when the timeout passed (or was zero)
    closed,     // get/poll on a closed, drained queue; put on a closed one
    cancelled,  // the waiting request was cancelled (its Process is being terminated)
    misuse,     // task_done called more often than put
};

struct QueueReply {
    QueueStatus status = QueueStatus::ok;
    std::uint64_t value = 0;
    std::vector<char> payload;
};

// Negative timeout: wait as long as it takes. `want` > 1 (get only): up to that many items,
// packed as [count u32] then [size u64][bytes] each.
QueueReply queue_call(QueueOp op, std::uint64_t queue, std::uint32_t maxsize,
                      std::chrono::nanoseconds timeout, const std::vector<char>* payload = nullptr,
                      std::uint32_t want = 1);

// Queue::get: one item. A Process that reads a queue in a tight loop takes several at a time
// and keeps the rest on its thread; they go back to the front of the queue before the
// Process blocks on anything else, and when it ends, so no item is ever held away from other
// consumers while this one waits.
std::vector<char> queue_get(std::uint64_t queue, std::uint32_t maxsize,
                            std::chrono::nanoseconds timeout, bool& timed_out);
// Gives back every item this thread took ahead (see queue_get).
void release_prefetched();
// Waits until rank 0 has taken back what this worker thread gave back. The give-back needs no
// reply, and a Process's end reaches rank 0 by another channel (its task's result), which
// could overtake it: join() would return with the items still on their way.
void confirm_given_back();

// A new queue's id (unique for the run; no collective call).
std::uint64_t new_queue_id();

}  // namespace mproc::detail
