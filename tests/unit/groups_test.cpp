// Who leads whom: the layout every rank computes from each rank's node and MPROC_GROUP_SIZE
// (framework/src/groups.*).

#include "base/groups.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mproc/error.hpp"

namespace mproc::detail {
namespace {

std::vector<int> one_node(int ranks) {
    return std::vector<int>(static_cast<std::size_t>(ranks), 0);
}

TEST(Groups, SettingsAreReadAsWrittenAndABadOneIsRefusedWithWhatIsAccepted) {
    EXPECT_EQ(parse_group_setting(nullptr), kGroupsAuto);
    EXPECT_EQ(parse_group_setting(""), kGroupsAuto);
    EXPECT_EQ(parse_group_setting("auto"), kGroupsAuto);
    EXPECT_EQ(parse_group_setting("flat"), kGroupsFlat);
    EXPECT_EQ(parse_group_setting("0"), kGroupsFlat);
    EXPECT_EQ(parse_group_setting("node"), kGroupsByNode);
    EXPECT_EQ(parse_group_setting("16"), 16);
    for (const char* bad : {"1", "-3", "16x", "sixteen", " 16", "99999999999999999999"}) {
        try {
            parse_group_setting(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
            const std::string what = e.what();
            EXPECT_NE(what.find(std::string("MPROC_GROUP_SIZE='") + bad + "'"), std::string::npos)
                << what;
            EXPECT_NE(what.find("at least 2"), std::string::npos) << what;
        }
    }
}

// A worker's slot counts only the ranks that run tasks: rank 0 and leaders have none, and a
// node's slots start at 0 on each node.
TEST(Groups, SlotsCountTheRanksThatRunTasks) {
    const std::vector<int> two_nodes{0, 0, 0, 3, 3, 3};
    const GroupLayout flat = plan_groups(two_nodes, kGroupsFlat);
    const auto slot = [&](const GroupLayout& g, int rank) {
        const WorkerSlot w = slot_of(two_nodes, g, rank);
        return std::vector<int>{w.slot, w.node_slot, w.node_workers};
    };
    EXPECT_EQ(slot(flat, 0), (std::vector<int>{-1, -1, 2}));
    EXPECT_EQ(slot(flat, 1), (std::vector<int>{0, 0, 2}));
    EXPECT_EQ(slot(flat, 2), (std::vector<int>{1, 1, 2}));
    EXPECT_EQ(slot(flat, 3), (std::vector<int>{2, 0, 3}));
    EXPECT_EQ(slot(flat, 5), (std::vector<int>{4, 2, 3}));
    const GroupLayout by_node = plan_groups(two_nodes, kGroupsByNode);  // leaders 1 and 3
    ASSERT_TRUE(by_node.leader(1) && by_node.leader(3));
    EXPECT_EQ(slot(by_node, 1), (std::vector<int>{-1, -1, 1}));
    EXPECT_EQ(slot(by_node, 2), (std::vector<int>{0, 0, 1}));
    EXPECT_EQ(slot(by_node, 4), (std::vector<int>{1, 0, 2}));
    EXPECT_EQ(slot(by_node, 5), (std::vector<int>{2, 1, 2}));
    const WorkerSlot alone = slot_of({0}, plan_groups({0}, kGroupsFlat), 0);
    EXPECT_EQ(std::vector<int>({alone.slot, alone.node_slot, alone.node_workers}),
              (std::vector<int>{0, 0, 1}));
}

TEST(Groups, FlatPutsEveryRankUnderRankZero) {
    const GroupLayout g = plan_groups(one_node(5), kGroupsFlat);
    EXPECT_EQ(g.master, (std::vector<int>{-1, 0, 0, 0, 0}));
    EXPECT_EQ(g.workers(), 4);
    EXPECT_EQ(g.leaders(), 0);
    EXPECT_EQ(g.describe(), "flat");
}

TEST(Groups, BlocksOfTheSizeAndALeftOverRankStaysUnderRankZero) {
    // 129 ranks in blocks of 16: ranks 1, 17, ..., 113 lead 15 each.
    const GroupLayout big = plan_groups(one_node(129), 16);
    EXPECT_EQ(big.leaders(), 8);
    EXPECT_EQ(big.workers(), 120);
    EXPECT_TRUE(big.leader(17));
    EXPECT_EQ(big.master[18], 17);
    EXPECT_EQ(big.master[17], 0);
    EXPECT_EQ(big.members[113].size(), 15u);
    EXPECT_EQ(big.describe(), "8 groups (leaders 1, 17, 33, 49, 65, 81, 97, 113) of 15 workers");

    // 5 ranks in blocks of 3: rank 1 leads 2 and 3; rank 4 alone has nobody to lead.
    const GroupLayout mixed = plan_groups(one_node(5), 3);
    EXPECT_EQ(mixed.master, (std::vector<int>{-1, 0, 1, 1, 0}));
    EXPECT_EQ(mixed.members[1], (std::vector<int>{2, 3}));
    EXPECT_FALSE(mixed.leader(4));
    EXPECT_EQ(mixed.workers(), 3);
    EXPECT_EQ(mixed.describe(), "1 group (leaders 1) of 2 workers, and 1 under rank 0");

    // Two ranks: one worker, nobody to lead.
    EXPECT_EQ(plan_groups(one_node(2), 2).leaders(), 0);
}

TEST(Groups, GroupsNeverCrossANode) {
    // Ranks placed round-robin on two nodes (mpirun --map-by node): 0 2 4 6 on node A,
    // 1 3 5 7 on node B.
    const std::vector<int> node{0, 1, 0, 1, 0, 1, 0, 1};
    const GroupLayout by_node = plan_groups(node, kGroupsByNode);
    EXPECT_EQ(by_node.members[2], (std::vector<int>{4, 6}));  // node A without rank 0
    EXPECT_EQ(by_node.members[1], (std::vector<int>{3, 5, 7}));
    EXPECT_EQ(by_node.workers(), 5);
    for (std::size_t r = 1; r < node.size(); ++r) {
        const int m = by_node.master[r];
        if (m > 0) EXPECT_EQ(node[static_cast<std::size_t>(m)], node[r]) << "rank " << r;
    }
    const GroupLayout pairs = plan_groups(node, 2);
    EXPECT_EQ(pairs.members[2], (std::vector<int>{4}));
    EXPECT_EQ(pairs.master[6], 0);  // left over on node A
    EXPECT_EQ(pairs.members[1], (std::vector<int>{3}));
    EXPECT_EQ(pairs.members[5], (std::vector<int>{7}));
}

TEST(Groups, AutoIsFlatOnOneNodeOrASmallRunAndByNodeOnALargeOne) {
    EXPECT_EQ(plan_groups(one_node(1000), kGroupsAuto).leaders(), 0);
    std::vector<int> two(static_cast<std::size_t>(kAutoGroupRanks - 1));
    for (std::size_t r = 0; r < two.size(); ++r) two[r] = static_cast<int>(r % 2);
    EXPECT_EQ(plan_groups(two, kGroupsAuto).leaders(), 0);
    two.push_back(1);
    const GroupLayout big = plan_groups(two, kGroupsAuto);
    EXPECT_EQ(big.leaders(), 2);
    EXPECT_EQ(big.workers(), kAutoGroupRanks - 3);
}

}  // namespace
}  // namespace mproc::detail
