#pragma once
// What one rank knows about the locks it holds or awaits: the queue nodes it owns in its part
// of the shared window (handed out and taken back here), and for each lock it holds, the node
// it queued with and (RLock) the owning thread and depth. Shared by the rank's threads (rank
// 0's user thread, Processes running as threads). Owned by the Runtime; used by sync.cpp.

#include <cstdint>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shared/shared_window.hpp"

namespace mproc::detail {

// Where a queue node lives: its rank, and its `next` and `flag` words in that rank's part.
std::int32_t node_id(int rank, int slot);
int node_rank(std::int32_t id);
std::uint64_t node_next(std::int32_t id);
std::uint64_t node_flag(std::int32_t id);

class LockTable {
  public:
    explicit LockTable(SharedWindow& window) : window_(window) {}

    // A free node of this rank, its `next` cleared and its flag set to `flag`.
    std::int32_t take_node(int flag);
    void give_node(std::int32_t id);

    // The calling thread's hold on `lock` when reentrant (its own RLock), any hold otherwise.
    bool reenter(std::uint64_t lock);
    void record(std::uint64_t lock, std::int32_t node, int depth = 1);
    bool holds(std::uint64_t lock, bool reentrant);
    // Drops one level (or all, when `all`) of the hold; returns the node to hand over from
    // when the lock is to be released, 0 while an RLock is still held, and the depth dropped.
    std::pair<std::int32_t, int> drop(std::uint64_t lock, bool reentrant, bool all);

  private:
    struct Held {
        std::int32_t node = 0;
        std::thread::id owner;
        int depth = 0;
    };

    SharedWindow& window_;
    std::mutex mutex_;
    std::vector<std::int32_t> free_;
    int next_slot_ = 0;
    std::unordered_map<std::uint64_t, Held> held_;
};

}  // namespace mproc::detail
