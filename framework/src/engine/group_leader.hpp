#pragma once
// A group leader (groups.hpp): the rank between rank 0 and a group of workers. Rank 0 sends
// it one message holding task messages for several members; it forwards each, unchanged, to
// its member, and gathers the members' result messages into one message back to rank 0. It
// decides nothing: which member gets which chunk, how many, and when, is rank 0's choice, so
// pools, pinned chunks, load balancing and ordering hold exactly as they do flat. What it
// saves rank 0 is messages and wake-ups: one per batch of a group instead of one per chunk.
// A leader runs no tasks. It is a Service its rank's MPI thread loop polls.
//
// To its members it writes into shared-memory rings (relay_rings.hpp) when the node has them,
// so the hop costs no MPI message; otherwise it sends MPI messages.

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "transport/mpi_thread.hpp"
#include "shared/relay_rings.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

class GroupLeader : public MpiThread::Service {
  public:
    // `rings` (may be null) has the members' rings when they share memory with this rank.
    GroupLeader(const Communicator& comm, const std::vector<int>& members, const RelayRings* rings);

    bool poll() override;
    std::optional<MpiThread::Patience> poll_again_in() const override;
    // Rank 0 said stop, and every member has been told.
    bool finished();

  private:
    using Clock = MpiThread::Clock;
    struct Member {
        int rank = 0;
        RelayRing* down = nullptr;  // null: MPI messages
        RelayRing* up = nullptr;
        std::deque<std::uint32_t> owed;  // chunks in each message forwarded, not yet answered
        // Records that found its down ring full, in order; written before anything newer.
        std::deque<std::pair<RelayKind, std::vector<char>>> backlog;
        bool result_by_mpi = false;                 // its up ring said the next result comes by MPI
        bool stopped = false;        // its up ring said it has taken its stop
        Clock::time_point owed_since;
    };

    // The member that is world rank `rank`; an Error saying what the leader `what` it
    // otherwise.
    Member& member(int rank, const char* what);
    // A routed message from rank 0: forward each part to its member.
    void forward(const char* data, std::size_t size);
    void send_by_mpi(const Member& m, const char* data, std::size_t size, int tag);
    // Writes a record into m's down ring, after its backlog.
    void write_down(Member& m, RelayKind kind, const char* data, std::size_t size);
    // Reads what m's up ring holds (and the MPI messages it points at); true if anything.
    bool read_up(Member& m);
    // A result message from `m`, in in_: append it to the batch for rank 0.
    void gather(Member& m);
    bool flush_due(Clock::time_point now) const;
    void flush();
    void stop_members();

    const Communicator& comm_;
    std::deque<Member> members_;  // a deque: a Member cannot be copied, and is never moved
    std::vector<int> slot_;       // by rank: its index in members_, or -1
    std::vector<char> in_;
    // Results gathered for rank 0, and every message on its way out (to members by MPI, and
    // earlier batches to rank 0).
    Buffer batch_;
    std::size_t batch_messages_ = 0;
    Clock::time_point batch_due_;
    Sends sends_;
    std::size_t out_total_ = 0;   // messages out on all members
    double ns_per_message_ = -1;  // what members' messages took lately (-1: not known yet)
    bool stopping_ = false;
};

}  // namespace mproc::detail
