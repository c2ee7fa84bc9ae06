#pragma once
// A group leader (groups.hpp): the rank between rank 0 and a group of workers. Rank 0 sends
// it one message holding task messages for several members; it forwards each, unchanged, to
// its member, and gathers the members' result messages into one message back to rank 0. It
// decides nothing: which member gets which chunk, how many, and when, is rank 0's choice, so
// pools, pinned chunks, load balancing and ordering hold exactly as they do flat. What it
// saves rank 0 is messages and wake-ups: one per batch of a group instead of one per chunk.
// A leader runs no tasks. It is a Service its rank's MPI thread loop polls.

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "mpi_thread.hpp"
#include "transport.hpp"

namespace mproc::detail {

class GroupLeader : public MpiThread::Service {
  public:
    GroupLeader(const Communicator& comm, const std::vector<int>& members);

    bool poll() override;
    std::optional<MpiThread::Patience> poll_again_in() const override;
    // Rank 0 said stop, and every member has been told.
    bool finished();

  private:
    using Clock = MpiThread::Clock;
    struct Member {
        int rank = 0;
        std::deque<std::unique_ptr<Send>> out;  // forwarded, not yet answered; oldest first
        std::deque<std::uint32_t> chunks;       // chunks in each of those
        std::vector<std::unique_ptr<Send>> spare;
        Clock::time_point owed_since;
    };

    // A routed message from rank 0: forward each part to its member.
    void forward(const char* data, std::size_t size);
    // A result message from `m`, in in_: append it to the batch for rank 0.
    void gather(Member& m);
    bool flush_due(Clock::time_point now) const;
    void flush();
    void stop_members();

    const Communicator& comm_;
    std::deque<Member> members_;  // a deque: a Member cannot be copied, and is never moved
    std::vector<int> slot_;       // by rank: its index in members_, or -1
    std::vector<char> in_;
    // Results gathered for rank 0, and the sends carrying earlier batches to it.
    std::unique_ptr<Send> batch_;
    std::size_t batch_messages_ = 0;
    Clock::time_point batch_due_;
    std::deque<std::unique_ptr<Send>> up_;
    std::vector<std::unique_ptr<Send>> up_spare_;
    std::size_t out_total_ = 0;  // messages out on all members
    double ns_per_chunk_ = -1;   // what members' chunks took lately (-1: not known yet)
    bool stopping_ = false;
    std::vector<std::unique_ptr<Send>> stops_;
};

}  // namespace mproc::detail
