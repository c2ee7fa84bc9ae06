#pragma once
// Rank 0's side of every queue and pipe (see mproc/detail/queue_ops.hpp): the items, the
// requests waiting on them, and their deadlines. Owned by the Runtime, driven by rank 0's MPI
// thread, whose loop polls it beside the pool service.

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "transport/mpi_thread.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "base/protocol.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

// Several items in one payload: [count u32], then [size u64][bytes] each.
std::vector<char> pack_batch(const std::vector<std::vector<char>>& items);
std::vector<std::vector<char>> unpack_batch(const std::vector<char>& bytes);

class QueueService : public MpiThread::Service {
  public:
    explicit QueueService(const Communicator& comm) : comm_(comm) {}

    using Clock = std::chrono::steady_clock;
    using Respond = std::function<void(QueueReply)>;

    // Handles one request; `respond` is called exactly once, now or later (a worker's
    // request, with no `respond`, gets its reply message instead). (origin, header.request)
    // names it for a later cancel.
    void handle(const QueueRequestHeader& header, std::vector<char> payload, int origin,
                Respond respond);
    // Receives and handles the requests workers sent, and answers the waits whose deadline
    // has passed; true if there were requests.
    bool poll() override;
    // Soon while workers are talking to rank 0 (a request came in the last 20 ms: the next
    // is likely close behind); else until the next deadline of a waiting request.
    std::optional<MpiThread::Patience> poll_again_in() const override;
    // Answers the waits whose deadline has passed, and retires finished reply sends.
    void expire();
    // The earliest deadline of a waiting request, if any.
    std::optional<Clock::time_point> next_deadline() const;

  private:
    struct Waiting {
        int origin;
        std::uint64_t request;
        Clock::time_point deadline;
        Respond respond;
        std::vector<char> item;  // a waiting put's item
        std::uint32_t want = 1;  // a waiting get's
    };
    struct Queue {
        std::deque<std::vector<char>> items;
        std::uint32_t maxsize = 0;
        bool closed = false;
        std::uint64_t unfinished = 0;  // put but not yet task_done
        std::deque<Waiting> getters, putters, pollers, joiners;
    };

    // Answers the waiting requests the queue can satisfy now (items, room, emptiness).
    void serve_waiting(Queue& q);
    static std::pair<std::uint64_t, std::vector<char>> take(Queue& q, std::uint32_t want);
    void answer(int origin, std::uint64_t request, const Respond& respond, QueueReply r);
    void cancel(int origin, std::uint64_t request);
    static bool full(const Queue& q) { return q.maxsize > 0 && q.items.size() >= q.maxsize; }

    std::unordered_map<std::uint64_t, Queue> queues_;
    const Communicator& comm_;
    std::list<Send> sends_;  // replies on their way to workers
    std::vector<char> receive_;
    std::size_t timed_ = 0;            // waiting requests with a deadline
    Clock::time_point last_remote_{};  // when a worker's request last came
};

}  // namespace mproc::detail
