#pragma once
// The memory a group's leader and its members share when the group is on one node (groups
// never cross a node): for each member, a ring of task messages from its leader ("down") and a
// ring of result messages to it ("up"). A message through a ring is two memcpys and no MPI
// call or system call; the reader finds it when it looks, and a member that sleeps waiting
// for work is woken through a futex. A message too large for a ring goes by MPI, and a marker
// in the ring keeps its place in the order. Without the memory (an osc component with no
// shared windows), the group relays over MPI (group_leader.*, worker.cpp).

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/groups.hpp"
#include "base/protocol.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

struct RelayRing;

enum class RelayKind : std::uint32_t {
    message = 0,  // a task message (down) or a result message (up), in the ring
    by_mpi = 1,   // the next such message comes by MPI (kTagTask or kTagResult), in order
    stop = 2,     // down: the member's serve loop ends; up: it has ended
};

// Writes one record, whole, or nothing when the ring lacks room: false. Wakes a reader that
// sleeps in relay_sleep.
bool relay_write(RelayRing& ring, RelayKind kind, const char* data, std::size_t size);
// The next record's kind, its bytes copied into `out`; nullopt when the ring is empty.
std::optional<RelayKind> relay_read(RelayRing& ring, std::vector<char>& out);
// The reader sleeps up to `d`, or until a record is written.
void relay_sleep(RelayRing& ring, std::chrono::microseconds d);

class RelayRings {
  public:
    // Collective over `node`, on every rank of every node whenever `layout` has a group: each
    // member of a group maps its two rings, and its leader finds them.
    RelayRings(const Communicator& comm, const Communicator& node, const GroupLayout& layout);
    ~RelayRings();
    RelayRings(const RelayRings&) = delete;
    RelayRings& operator=(const RelayRings&) = delete;

    // A member's rings, seen from the member or its leader; nullptr without shared memory.
    RelayRing* down(int member) const;
    RelayRing* up(int member) const;

  private:
    MPI_Win win_ = MPI_WIN_NULL;
    std::vector<RelayRing*> rings_;  // by world rank: its down ring (up follows it); or null
};

}  // namespace mproc::detail
