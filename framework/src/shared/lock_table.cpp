#include "shared/lock_table.hpp"

#include <string>

#include "mproc/error.hpp"

namespace mproc::detail {

std::int32_t node_id(int rank, int slot) {
    return rank * kNodesPerRank + slot + 1;  // 0 means "none"
}
int node_rank(std::int32_t id) {
    return (id - 1) / kNodesPerRank;
}
std::uint64_t node_next(std::int32_t id) {
    return static_cast<std::uint64_t>((id - 1) % kNodesPerRank) * kNodeBytes;
}
std::uint64_t node_flag(std::int32_t id) {
    return node_next(id) + 4;
}

std::int32_t LockTable::take_node(int flag) {
    std::int32_t id;
    {
        std::lock_guard lock(mutex_);
        if (free_.empty() && next_slot_ == kNodesPerRank)
            throw ResourceError("rank " + std::to_string(window_.rank()) + " holds or awaits " +
                                std::to_string(kNodesPerRank) +
                                " locks and condition waits at once: the most it can");
        if (!free_.empty()) {
            id = free_.back();
            free_.pop_back();
        } else {
            id = node_id(window_.rank(), next_slot_++);
        }
    }
    window_.store32(node_rank(id), node_next(id), 0);
    window_.store32(node_rank(id), node_flag(id), flag);
    return id;
}

void LockTable::give_node(std::int32_t id) {
    std::lock_guard lock(mutex_);
    free_.push_back(id);
}

bool LockTable::reenter(std::uint64_t lock) {
    std::lock_guard guard(mutex_);
    auto it = held_.find(lock);
    if (it == held_.end() || it->second.owner != std::this_thread::get_id()) return false;
    ++it->second.depth;
    return true;
}

void LockTable::record(std::uint64_t lock, std::int32_t node, int depth) {
    std::lock_guard guard(mutex_);
    held_[lock] = Held{node, std::this_thread::get_id(), depth};
}

bool LockTable::holds(std::uint64_t lock, bool reentrant) {
    std::lock_guard guard(mutex_);
    auto it = held_.find(lock);
    return it != held_.end() && (!reentrant || it->second.owner == std::this_thread::get_id());
}

std::pair<std::int32_t, int> LockTable::drop(std::uint64_t lock, bool reentrant, bool all) {
    std::lock_guard guard(mutex_);
    auto it = held_.find(lock);
    if (it == held_.end())
        throw SyncError(std::string(reentrant ? "RLock" : "Lock") +
                        " released but not held (rank " + std::to_string(window_.rank()) + ")");
    if (reentrant && it->second.owner != std::this_thread::get_id())
        throw SyncError("RLock released by a thread that does not own it (rank " +
                        std::to_string(window_.rank()) + ")");
    const int depth = it->second.depth;
    if (reentrant && !all && --it->second.depth > 0) return {0, 0};
    const std::int32_t node = it->second.node;
    held_.erase(it);
    return {node, depth};
}

}  // namespace mproc::detail
