#pragma once
// A group leader (groups.hpp): the rank between rank 0 and a group of workers. It runs no
// tasks; what it decides for its members is its GroupDispatcher's (group_dispatcher.hpp), and
// this is the part that moves the bytes: rank 0's messages in, task messages down to members,
// their results up, batches out to rank 0. It is a Service its rank's MPI thread loop polls.
//
// To its members it writes into shared-memory rings (relay_rings.hpp) when the node has them,
// so the hop costs no MPI message; otherwise it sends MPI messages.

#include <deque>
#include <optional>
#include <vector>

#include "engine/group_dispatcher.hpp"
#include "shared/relay_rings.hpp"
#include "transport/mpi_thread.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

class GroupLeader : public MpiThread::Service, private GroupDispatcher::Links {
  public:
    // `rings` (may be null) has the members' rings when they share memory with this rank.
    GroupLeader(const Communicator& comm, const std::vector<int>& members, const RelayRings* rings);

    bool poll() override;
    std::optional<MpiThread::Patience> poll_again_in() const override;
    // Rank 0 said stop, and every member has been told.
    bool finished();

  private:
    struct Member {
        int rank = 0;
        RelayRing* down = nullptr;  // null: MPI messages
        RelayRing* up = nullptr;
        // Records that found its down ring full, in order; written before anything newer.
        std::deque<std::pair<RelayKind, std::vector<char>>> backlog;
        bool result_by_mpi = false;  // its up ring said the next result comes by MPI
        bool stopped = false;        // its up ring said it has taken its stop
    };

    // GroupDispatcher::Links
    void to_member(int rank, const char* message, std::size_t size) override;
    void to_rank0(Buffer batch) override;
    Buffer take_buffer() override { return sends_.take_buffer(); }

    Member& member(int rank);
    void send_by_mpi(const Member& m, const char* data, std::size_t size, int tag);
    // Writes a record into m's down ring, after its backlog.
    void write_down(Member& m, RelayKind kind, const char* data, std::size_t size);
    // Reads what m's up ring holds (and the MPI messages it points at); true if anything.
    bool read_up(Member& m);
    void stop_members();

    const Communicator& comm_;
    std::deque<Member> members_;  // a deque: a Member cannot be copied, and is never moved
    std::vector<int> slot_;       // by rank: its index in members_, or -1
    std::vector<char> in_;
    Sends sends_;  // every message on its way out: to members by MPI, batches to rank 0
    SteadyClock clock_;
    GroupDispatcher decide_;
    bool stopping_ = false;
};

}  // namespace mproc::detail
