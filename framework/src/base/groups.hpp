#pragma once
// Node groups: who takes tasks from whom. With groups, rank 0 does not talk to every worker:
// it talks to one leader per group, which relays its chunks to the group's members and their
// results back in batches (group_leader.*). A leader runs no tasks. Every rank computes the
// same layout from the same facts (each rank's node, and rank 0's MPROC_GROUP_SIZE), so no
// message is needed to agree on it.

#include <string>
#include <vector>

#include "mproc/runtime.hpp"

namespace mproc::detail {

// MPROC_GROUP_SIZE as a number every rank can be sent.
enum GroupSetting : int {
    kGroupsAuto = -1,   // unset: per node on large runs over several nodes (see plan_groups)
    kGroupsFlat = 0,    // "0" or "flat": every worker under rank 0
    kGroupsByNode = -2  // "node": one group per node
    // n >= 2: blocks of n consecutive ranks of one node
};

// Reads MPROC_GROUP_SIZE as written (nullptr or empty: unset). Throws Error naming the
// variable, the value and what it accepts.
int parse_group_setting(const char* text);

struct GroupLayout {
    // By rank: the rank it takes tasks from (0, or its group's leader); -1 for rank 0.
    std::vector<int> master;
    // By rank: a leader's members, ascending; empty for every other rank.
    std::vector<std::vector<int>> members;

    bool leader(int rank) const { return !members[static_cast<std::size_t>(rank)].empty(); }
    // The ranks that run tasks: every rank but rank 0 and the leaders.
    int workers() const;
    int leaders() const;
    // One line for a person: "flat" or "3 groups (leaders 1, 17, 33) of 15 workers".
    std::string describe() const;
};

// The layout for ranks whose nodes are `node[rank]` (equal numbers: the same node).
//
// - flat: every rank but 0 takes tasks from rank 0.
// - n >= 2: each node's ranks but rank 0, in rank order, cut into blocks of n; the first rank
//   of a block leads the others. A block of one rank (what is left over) has nobody to lead:
//   it takes tasks from rank 0 like a flat worker.
// - node: as n = the node's rank count.
// - auto: by node when the run spans several nodes and has at least kAutoGroupRanks ranks;
//   otherwise flat. Below that, rank 0 keeps up with every worker (about 2 µs of its CPU per
//   task) and a leader would only cost a rank that could run tasks.
inline constexpr int kAutoGroupRanks = 256;
GroupLayout plan_groups(const std::vector<int>& node, int setting);

// Where `rank` runs tasks under `layout` (mproc::worker_slot), its node's ranks being those
// with its number in `node`.
WorkerSlot slot_of(const std::vector<int>& node, const GroupLayout& layout, int rank);

}  // namespace mproc::detail
