// Locks, semaphores, events, barriers and conditions on the shared window (mproc/sync.hpp).
//
// Lock and RLock are MCS queue locks: the lock is a 32-bit tail word in rank 0's arena
// naming the last queue node; a node ({next, flag}, 32 bits each) lives in the waiting
// rank's own part of the window. Acquiring swaps our node into the tail; if there was a
// predecessor we link ourselves behind it and watch our own flag until it hands over.
// Words are 32 bits on purpose: Open MPI 4.1.4's osc/rdma crashes on a 64-bit
// compare-and-swap. Every wait backs off (spin, yield, sleep): with oversubscribed ranks a
// spinning waiter would take the core from the holder.

#include "mproc/sync.hpp"

#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backoff.hpp"
#include "interrupt.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "window.hpp"

namespace mproc {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

// How long to poll hot, and then yielding, before sleeping: a lock handed over within a few
// microseconds is caught at once, and a long wait costs no core.
Backoff waiter() {
    return Backoff(std::chrono::microseconds(5), std::chrono::microseconds(200));
}

class Deadline {
  public:
    explicit Deadline(Nanos timeout)
        : forever_(timeout < Nanos{0}), at_(Clock::now() + std::max(timeout, Nanos{0})) {}
    bool passed() const { return !forever_ && Clock::now() >= at_; }

  private:
    bool forever_;
    Clock::time_point at_;
};

// ---- Queue nodes of this rank -------------------------------------------------------------

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

// What this rank holds: for each lock it holds, the node it queued with and (RLock) the
// owning thread and depth. Shared by the rank's threads (rank 0's user thread, processes
// running as threads).
struct Held {
    std::int32_t node = 0;
    std::thread::id owner;
    int depth = 0;
};

class RankState {
  public:
    std::int32_t take_node(int flag) {
        std::int32_t id;
        {
            std::lock_guard lock(mutex_);
            if (free_.empty() && next_slot_ == kNodesPerRank)
                throw ResourceError("rank " + std::to_string(window_rank()) + " holds or awaits " +
                                    std::to_string(kNodesPerRank) +
                                    " locks and condition waits at once: the most it can");
            if (!free_.empty()) {
                id = free_.back();
                free_.pop_back();
            } else {
                id = node_id(window_rank(), next_slot_++);
            }
        }
        win_store32(node_rank(id), node_next(id), 0);
        win_store32(node_rank(id), node_flag(id), flag);
        return id;
    }
    void give_node(std::int32_t id) {
        std::lock_guard lock(mutex_);
        free_.push_back(id);
    }

    // The calling thread's hold on `lock` when reentrant (its own RLock), any hold otherwise.
    bool reenter(std::uint64_t lock) {
        std::lock_guard guard(mutex_);
        auto it = held_.find(lock);
        if (it == held_.end() || it->second.owner != std::this_thread::get_id()) return false;
        ++it->second.depth;
        return true;
    }
    void record(std::uint64_t lock, std::int32_t node, int depth = 1) {
        std::lock_guard guard(mutex_);
        held_[lock] = Held{node, std::this_thread::get_id(), depth};
    }
    bool holds(std::uint64_t lock, bool reentrant) {
        std::lock_guard guard(mutex_);
        auto it = held_.find(lock);
        return it != held_.end() && (!reentrant || it->second.owner == std::this_thread::get_id());
    }
    // Drops one level (or all, when `all`) of the hold; returns the node to hand over from
    // when the lock is to be released, 0 while an RLock is still held, and the depth dropped.
    std::pair<std::int32_t, int> drop(std::uint64_t lock, bool reentrant, bool all) {
        std::lock_guard guard(mutex_);
        auto it = held_.find(lock);
        if (it == held_.end())
            throw SyncError(std::string(reentrant ? "RLock" : "Lock") +
                            " released but not held (rank " + std::to_string(window_rank()) + ")");
        if (reentrant && it->second.owner != std::this_thread::get_id())
            throw SyncError("RLock released by a thread that does not own it (rank " +
                            std::to_string(window_rank()) + ")");
        const int depth = it->second.depth;
        if (reentrant && !all && --it->second.depth > 0) return {0, 0};
        const std::int32_t node = it->second.node;
        held_.erase(it);
        return {node, depth};
    }

  private:
    std::mutex mutex_;
    std::vector<std::int32_t> free_;
    int next_slot_ = 0;
    std::unordered_map<std::uint64_t, Held> held_;
};

RankState& rank_state() {
    static RankState state;
    return state;
}

enum class Waited { ready, timed_out, interrupted };

// Waits, backing off, until `ready()`, the deadline, or (when `interruptible`) a request to
// terminate the Process this thread runs.
template <class Ready>
Waited wait_state(Ready&& ready, const Deadline& deadline, bool interruptible) {
    Backoff backoff = waiter();
    bool released = false;
    while (!ready()) {
        if (deadline.passed()) return Waited::timed_out;
        if (interruptible && interrupt_requested()) return Waited::interrupted;
        if (!released) {
            release_prefetched();  // hold no queue items taken ahead while waiting
            released = true;
        }
        serve_engine_calls();
        backoff.pause();
    }
    return Waited::ready;
}

// The same, not interruptible (inside the lock algorithms, where leaving half-way would
// break the queue); false if the deadline passed first.
template <class Ready>
bool wait_until(Ready&& ready, const Deadline& deadline) {
    return wait_state(ready, deadline, false) == Waited::ready;
}

// Returns whether `ready` came; throws Terminated if the wait was interrupted.
template <class Ready>
bool wait_interruptible(Ready&& ready, const Deadline& deadline) {
    const Waited w = wait_state(ready, deadline, true);
    if (w == Waited::interrupted) throw_terminated();
    return w == Waited::ready;
}

// ---- MCS ----------------------------------------------------------------------------------

void mcs_acquire(std::uint64_t lock, std::int32_t me) {
    const std::int32_t prev = win_swap32(0, arena_disp(lock), me);
    if (prev == 0) return;
    win_store32(node_rank(prev), node_next(prev), me);  // behind our predecessor
    wait_until([&] { return win_load32(node_rank(me), node_flag(me)) == 0; }, Deadline(kForever));
}

bool mcs_try_acquire(std::uint64_t lock, std::int32_t me) {
    return win_cas32(0, arena_disp(lock), 0, me) == 0;
}

void mcs_release(std::uint64_t lock, std::int32_t me) {
    std::int32_t next = win_load32(node_rank(me), node_next(me));
    if (next == 0) {
        if (win_cas32(0, arena_disp(lock), me, 0) == me) return;  // nobody queued
        // Someone swapped into the tail and is about to link behind us.
        wait_until([&] { return (next = win_load32(node_rank(me), node_next(me))) != 0; },
                   Deadline(kForever));
    }
    win_store32(node_rank(next), node_flag(next), 0);  // hand over
}

// Queues for the lock with a fresh node of this rank and records the hold once granted.
void take_lock(std::uint64_t offset, int depth) {
    RankState& rs = rank_state();
    const std::int32_t me = rs.take_node(1);
    mcs_acquire(offset, me);
    rs.record(offset, me, depth);
}

}  // namespace

void lock_acquire(std::uint64_t offset, bool reentrant) {
    if (reentrant && rank_state().reenter(offset)) return;
    take_lock(offset, 1);
    // A queued waiter cannot leave the queue; a terminated Process gives the lock straight
    // back instead, and stops here.
    if (interrupt_requested()) {
        lock_release(offset, reentrant);
        throw_terminated();
    }
}

bool lock_try_acquire(std::uint64_t offset, bool reentrant) {
    RankState& rs = rank_state();
    if (reentrant && rs.reenter(offset)) return true;
    const std::int32_t me = rs.take_node(1);
    if (!mcs_try_acquire(offset, me)) {
        rs.give_node(me);
        return false;
    }
    rs.record(offset, me);
    return true;
}

// A timed acquire does not queue: leaving an MCS queue half-way is not possible without the
// neighbours' help, so it retries the free-lock swap, backing off, until the deadline.
bool lock_acquire_for(std::uint64_t offset, bool reentrant, Nanos timeout) {
    const Deadline deadline(timeout);
    return wait_interruptible([&] { return lock_try_acquire(offset, reentrant); }, deadline);
}

void lock_release(std::uint64_t offset, bool reentrant) {
    RankState& rs = rank_state();
    const std::int32_t node = rs.drop(offset, reentrant, false).first;
    if (node == 0) return;  // an RLock still held
    mcs_release(offset, node);
    rs.give_node(node);
}

int lock_release_all(std::uint64_t offset, bool reentrant) {
    RankState& rs = rank_state();
    const auto [node, depth] = rs.drop(offset, reentrant, true);
    mcs_release(offset, node);
    rs.give_node(node);
    return depth;
}

void lock_restore(std::uint64_t offset, bool reentrant, int depth) {
    take_lock(offset, reentrant ? depth : 1);
}

bool lock_held_here(std::uint64_t offset, bool reentrant) {
    return rank_state().holds(offset, reentrant);
}

// ---- Semaphore: a 32-bit count ------------------------------------------------------------

bool semaphore_acquire(std::uint64_t offset, Nanos timeout) {
    const std::uint64_t at = arena_disp(offset);
    return wait_interruptible(
        [&] {
            for (std::int32_t v = win_load32(0, at); v > 0;) {
                const std::int32_t old = win_cas32(0, at, v, v - 1);
                if (old == v) return true;
                v = old;  // someone else moved it; try again with what is there
            }
            return false;
        },
        Deadline(timeout));
}

void semaphore_release(std::uint64_t offset, std::int32_t n, std::int32_t bound) {
    if (n < 1) throw SyncError("Semaphore::release(" + std::to_string(n) + "): n must be >= 1");
    const std::uint64_t at = arena_disp(offset);
    if (bound == 0) {
        win_add32(0, at, n);
        return;
    }
    for (std::int32_t v = win_load32(0, at);;) {
        if (v + n > bound)
            throw SyncError("BoundedSemaphore released too many times (value " + std::to_string(v) +
                            ", bound " + std::to_string(bound) + ")");
        const std::int32_t old = win_cas32(0, at, v, v + n);
        if (old == v) return;
        v = old;
    }
}

// ---- Event: a 32-bit flag -----------------------------------------------------------------

bool event_wait(std::uint64_t offset, Nanos timeout) {
    return wait_interruptible([&] { return win_load32(0, arena_disp(offset)) != 0; },
                              Deadline(timeout));
}

// ---- Barrier: [count, generation, broken], 32 bits each -----------------------------------

int barrier_wait(std::uint64_t offset, int parties, Nanos timeout) {
    const std::uint64_t count = arena_disp(offset), generation = count + 4, broken = count + 8;
    const std::int32_t gen = win_load32(0, generation);
    if (win_load32(0, broken) != 0) throw BrokenBarrierError("Barrier is broken");
    const std::int32_t arrived = win_add32(0, count, 1);
    if (arrived == parties - 1) {
        // The last to arrive opens the next generation. Nobody of this one can arrive again
        // before the generation moves, so resetting the count first is safe.
        win_store32(0, count, 0);
        win_add32(0, generation, 1);
        return arrived;
    }
    bool is_broken = false;
    const Waited waited = wait_state(
        [&] {
            std::int32_t words[2];
            win_load(RmaType::i32, words, 2, 0, generation);
            is_broken = words[1] != 0;
            return words[0] != gen || is_broken;
        },
        Deadline(timeout), true);
    if (is_broken) throw BrokenBarrierError("Barrier broken while waiting");
    if (waited == Waited::interrupted) {
        win_store32(0, broken, 1);  // the others would wait for this party forever
        throw_terminated();
    }
    if (waited == Waited::timed_out) {
        win_store32(0, broken, 1);
        throw BrokenBarrierError("Barrier wait timed out (" + std::to_string(arrived + 1) + " of " +
                                 std::to_string(parties) + " had arrived); the barrier is broken");
    }
    return arrived;
}

}  // namespace detail

// ---- The classes' out-of-line members -----------------------------------------------------

using namespace detail;

Semaphore::Semaphore(std::int32_t value, std::int32_t bound)
    : offset_(shared_alloc(8)), bound_(bound) {
    if (value < 0)
        throw SyncError("Semaphore initial value must be >= 0, not " + std::to_string(value));
    win_store32(0, arena_disp(offset_), value);
}

std::int32_t Semaphore::get_value() const {
    return win_load32(0, arena_disp(offset_));
}

void Event::set() {
    win_store32(0, arena_disp(offset_), 1);
}
void Event::clear() {
    win_store32(0, arena_disp(offset_), 0);
}
bool Event::is_set() const {
    return win_load32(0, arena_disp(offset_)) != 0;
}

Barrier::Barrier(int parties) : offset_(shared_alloc(12)), parties_(parties) {
    if (parties < 1)
        throw SyncError("Barrier needs at least 1 party, not " + std::to_string(parties));
}
void Barrier::abort() {
    win_store32(0, arena_disp(offset_) + 8, 1);
}
bool Barrier::broken() const {
    return win_load32(0, arena_disp(offset_) + 8) != 0;
}
int Barrier::n_waiting() const {
    return win_load32(0, arena_disp(offset_));
}

// Condition: waiters queue through nodes in their own ranks' memory, linked from a
// [head, tail] pair in the arena that only the lock's holder touches. notify pops the head
// and sets its flag; a waiter whose timeout passed takes itself out of the list, so no
// notification goes to a waiter that has left.
Condition::Condition(std::uint64_t lock_offset, bool reentrant)
    : offset_(shared_alloc(8)), lock_offset_(lock_offset), reentrant_(reentrant) {}

void Condition::require_held(const char* what) const {
    if (!lock_held_here(lock_offset_, reentrant_))
        throw SyncError(std::string("Condition::") + what + " called without holding its lock");
}

bool Condition::wait_impl(Nanos timeout) {
    require_held("wait");
    const std::uint64_t head = arena_disp(offset_), tail = head + 4;
    RankState& rs = rank_state();
    const std::int32_t me = rs.take_node(0);
    const std::int32_t last = win_load32(0, tail);
    if (last == 0) {
        win_store32(0, head, me);
    } else {
        win_store32(node_rank(last), node_next(last), me);
    }
    win_store32(0, tail, me);
    const int depth = lock_release_all(lock_offset_, reentrant_);
    auto notified = [&] { return win_load32(node_rank(me), node_flag(me)) != 0; };
    const Waited waited = wait_state(notified, Deadline(timeout), true);
    bool woken = waited == Waited::ready;
    lock_restore(lock_offset_, reentrant_, depth);
    if (!woken && !(woken = notified())) {
        // Timed out, and still listed (under the lock now): unlink our node.
        std::int32_t prev = 0, cur = win_load32(0, head);
        while (cur != me) {
            prev = cur;
            cur = win_load32(node_rank(cur), node_next(cur));
        }
        const std::int32_t next = win_load32(node_rank(me), node_next(me));
        if (prev == 0) {
            win_store32(0, head, next);
        } else {
            win_store32(node_rank(prev), node_next(prev), next);
        }
        if (win_load32(0, tail) == me) win_store32(0, tail, prev);
    }
    rs.give_node(me);
    if (waited == Waited::interrupted) throw_terminated();  // holding the lock, as after wait
    return woken;
}

void Condition::notify(int n) {
    require_held("notify");
    const std::uint64_t head = arena_disp(offset_), tail = head + 4;
    for (int i = 0; i < n; ++i) {
        const std::int32_t first = win_load32(0, head);
        if (first == 0) return;
        const std::int32_t next = win_load32(node_rank(first), node_next(first));
        win_store32(0, head, next);
        if (next == 0) win_store32(0, tail, 0);
        win_store32(node_rank(first), node_flag(first), 1);  // last touch: it may leave now
    }
}

void Condition::notify_all() {
    notify(std::numeric_limits<int>::max());
}

}  // namespace mproc
