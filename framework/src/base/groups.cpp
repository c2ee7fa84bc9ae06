#include "base/groups.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>

#include "mproc/error.hpp"

namespace mproc::detail {

int parse_group_setting(const char* text) {
    if (text == nullptr || *text == '\0') return kGroupsAuto;
    if (std::strcmp(text, "flat") == 0) return kGroupsFlat;
    if (std::strcmp(text, "node") == 0) return kGroupsByNode;
    if (std::strcmp(text, "auto") == 0) return kGroupsAuto;
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(text, &end, 10);
    if (*text >= '0' && *text <= '9' && *end == '\0' && errno == 0 &&
        (n == 0 || (n >= 2 && n <= 1'000'000)))
        return static_cast<int>(n);
    throw Error(std::string("MPROC_GROUP_SIZE='") + text +
                "': want a group size of at least 2 ranks, 'node' (one group per node), "
                "'flat' or 0 (no groups), or 'auto' (unset: groups by node on runs of at least " +
                std::to_string(kAutoGroupRanks) + " ranks over several nodes)");
}

int GroupLayout::workers() const {
    return static_cast<int>(master.size()) - 1 - leaders();
}

int GroupLayout::leaders() const {
    int n = 0;
    for (const auto& m : members) n += m.empty() ? 0 : 1;
    return n;
}

std::string GroupLayout::describe() const {
    std::ostringstream out;
    const int n = leaders();
    if (n == 0) return "flat";
    out << n << (n == 1 ? " group" : " groups") << " (leaders";
    int shown = 0;
    std::size_t most = 0, fewest = master.size();
    for (std::size_t r = 0; r < members.size(); ++r) {
        if (members[r].empty()) continue;
        if (shown < 8) out << (shown == 0 ? " " : ", ") << r;
        if (shown == 8) out << ", ...";
        ++shown;
        most = std::max(most, members[r].size());
        fewest = std::min(fewest, members[r].size());
    }
    out << ") of ";
    if (most == fewest)
        out << most;
    else
        out << fewest << " to " << most;
    out << " workers";
    int flat = 0;
    for (std::size_t r = 1; r < master.size(); ++r)
        if (master[r] == 0 && members[r].empty()) ++flat;
    if (flat > 0) out << ", and " << flat << " under rank 0";
    return out.str();
}

GroupLayout plan_groups(const std::vector<int>& node, int setting) {
    const std::size_t size = node.size();
    GroupLayout layout;
    layout.master.assign(size, 0);
    layout.members.assign(size, {});
    if (size > 0) layout.master[0] = -1;

    std::map<int, std::vector<int>> by_node;  // each node's ranks but 0, in rank order
    for (std::size_t r = 1; r < size; ++r) by_node[node[r]].push_back(static_cast<int>(r));
    std::map<int, int> nodes;
    for (int n : node) nodes[n] = 0;
    if (setting == kGroupsAuto)
        setting = nodes.size() > 1 && size >= static_cast<std::size_t>(kAutoGroupRanks)
                      ? kGroupsByNode
                      : kGroupsFlat;
    if (setting == kGroupsFlat) return layout;

    for (const auto& [n, ranks] : by_node) {
        const std::size_t block =
            setting == kGroupsByNode ? ranks.size() : static_cast<std::size_t>(setting);
        for (std::size_t at = 0; at < ranks.size(); at += block) {
            const std::size_t end = std::min(ranks.size(), at + block);
            if (end - at < 2) continue;  // one rank: nobody to lead, it stays under rank 0
            const int leader = ranks[at];
            for (std::size_t i = at + 1; i < end; ++i) {
                layout.master[static_cast<std::size_t>(ranks[i])] = leader;
                layout.members[static_cast<std::size_t>(leader)].push_back(ranks[i]);
            }
        }
    }
    return layout;
}

WorkerSlot slot_of(const std::vector<int>& node, const GroupLayout& layout, int rank) {
    WorkerSlot w;
    const auto size = static_cast<int>(node.size());
    if (size == 1) return {0, 0, 1};  // rank 0 runs the tasks itself
    const auto runs_tasks = [&](int r) { return r != 0 && !layout.leader(r); };
    const int mine = node[static_cast<std::size_t>(rank)];
    int slot = 0;
    for (int r = 0; r < size; ++r) {
        if (!runs_tasks(r)) continue;
        const bool here = node[static_cast<std::size_t>(r)] == mine;
        if (r == rank) {
            w.slot = slot;
            w.node_slot = w.node_workers;
        }
        ++slot;
        w.node_workers += here ? 1 : 0;
    }
    return w;
}

}  // namespace mproc::detail
