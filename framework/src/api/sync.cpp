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

#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "base/interrupt.hpp"
#include "shared/lock_table.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "shared/remote_actions.hpp"
#include "runtime/runtime_state.hpp"
#include "transport/wait.hpp"

namespace mproc {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;

// No deadline for a negative timeout.
std::optional<Clock::time_point> deadline_after(Nanos timeout) {
    if (timeout < Nanos{0}) return std::nullopt;
    return Clock::now() + timeout;
}

// Waits (wait.hpp) until `ready()`, the deadline, or (when `interruptible`) a request to
// terminate the Process this thread runs; holds no queue items taken ahead meanwhile.
template <class Ready>
Waited wait_state(Ready&& ready, std::optional<Clock::time_point> deadline, bool interruptible) {
    if (ready()) return Waited::ready;
    release_prefetched();
    return wait_until(ready, {.deadline = deadline, .interruptible = interruptible});
}

// Not interruptible: inside the lock algorithms, where leaving half-way would break the queue.
template <class Ready>
void wait_hand_over(Ready&& ready) {
    wait_state(ready, std::nullopt, false);
}

// Returns whether `ready` came; throws Terminated if the wait was interrupted.
template <class Ready>
bool wait_interruptible(Ready&& ready, std::optional<Clock::time_point> deadline) {
    const Waited w = wait_state(ready, deadline, true);
    if (w == Waited::interrupted) throw_terminated();
    return w == Waited::ready;
}

SharedWindow& win() {
    return runtime("mproc shared objects (Value, Array, Lock, ...)").window();
}
LockTable& locks() {
    return runtime("mproc locks").locks();
}

// In a condition's list of waiting nodes: makes `next` follow node `prev`, or head the list
// (the word at `head`) when `prev` is 0.
void set_next(std::int32_t prev, std::uint64_t head, std::int32_t next) {
    if (prev == 0)
        win().store32(0, head, next);
    else
        win().store32(node_rank(prev), node_next(prev), next);
}

// ---- MCS ----------------------------------------------------------------------------------

void mcs_acquire(std::uint64_t lock, std::int32_t me) {
    const std::int32_t prev = win().swap32(0, SharedWindow::arena_disp(lock), me);
    if (prev == 0) return;
    win().store32(node_rank(prev), node_next(prev), me);  // behind our predecessor
    wait_hand_over([&] { return win().load32(node_rank(me), node_flag(me)) == 0; });
}

bool mcs_try_acquire(std::uint64_t lock, std::int32_t me) {
    return win().cas32(0, SharedWindow::arena_disp(lock), 0, me) == 0;
}

void mcs_release(std::uint64_t lock, std::int32_t me) {
    std::int32_t next = win().load32(node_rank(me), node_next(me));
    if (next == 0) {
        if (win().cas32(0, SharedWindow::arena_disp(lock), me, 0) == me) return;  // nobody queued
        // Someone swapped into the tail and is about to link behind us.
        wait_hand_over([&] { return (next = win().load32(node_rank(me), node_next(me))) != 0; });
    }
    win().store32(node_rank(next), node_flag(next), 0);  // hand over
}

// Queues for the lock with a fresh node of this rank and records the hold once granted.
void take_lock(std::uint64_t offset, int depth) {
    LockTable& rs = locks();
    const std::int32_t me = rs.take_node(1);
    mcs_acquire(offset, me);
    rs.record(offset, me, depth);
}

}  // namespace

void lock_acquire(std::uint64_t offset, bool reentrant) {
    if (reentrant && locks().reenter(offset)) return;
    take_lock(offset, 1);
    // A queued waiter cannot leave the queue; a terminated Process gives the lock straight
    // back instead, and stops here.
    if (interrupt_requested()) {
        lock_release(offset, reentrant);
        throw_terminated();
    }
}

bool lock_try_acquire(std::uint64_t offset, bool reentrant) {
    LockTable& rs = locks();
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
    const auto deadline = deadline_after(timeout);
    return wait_interruptible([&] { return lock_try_acquire(offset, reentrant); }, deadline);
}

void lock_release(std::uint64_t offset, bool reentrant) {
    LockTable& rs = locks();
    const std::int32_t node = rs.drop(offset, reentrant, false).first;
    if (node == 0) return;  // an RLock still held
    mcs_release(offset, node);
    rs.give_node(node);
}

int lock_release_all(std::uint64_t offset, bool reentrant) {
    LockTable& rs = locks();
    const auto [node, depth] = rs.drop(offset, reentrant, true);
    mcs_release(offset, node);
    rs.give_node(node);
    return depth;
}

void lock_restore(std::uint64_t offset, bool reentrant, int depth) {
    take_lock(offset, reentrant ? depth : 1);
}

bool lock_taken(std::uint64_t offset) {
    return win().load32(0, SharedWindow::arena_disp(offset)) != 0;  // the queue's tail
}

bool lock_held_here(std::uint64_t offset, bool reentrant) {
    return locks().holds(offset, reentrant);
}

// ---- Semaphore: a 32-bit count ------------------------------------------------------------

bool semaphore_acquire(std::uint64_t offset, Nanos timeout) {
    const std::uint64_t at = SharedWindow::arena_disp(offset);
    return wait_interruptible(
        [&] {
            for (std::int32_t v = win().load32(0, at); v > 0;) {
                const std::int32_t old = win().cas32(0, at, v, v - 1);
                if (old == v) return true;
                v = old;  // someone else moved it; try again with what is there
            }
            return false;
        },
        deadline_after(timeout));
}

void semaphore_release(std::uint64_t offset, std::int32_t n, std::int32_t bound) {
    if (n < 1) throw SyncError("Semaphore::release(" + std::to_string(n) + "): n must be >= 1");
    const std::uint64_t at = SharedWindow::arena_disp(offset);
    if (bound == 0) {
        win().add32(0, at, n);
        return;
    }
    for (std::int32_t v = win().load32(0, at);;) {
        if (v + n > bound)
            throw SyncError("BoundedSemaphore released too many times (value " + std::to_string(v) +
                            ", bound " + std::to_string(bound) + ")");
        const std::int32_t old = win().cas32(0, at, v, v + n);
        if (old == v) return;
        v = old;
    }
}

// ---- Event: a 32-bit flag -----------------------------------------------------------------

bool event_wait(std::uint64_t offset, Nanos timeout) {
    return wait_interruptible(
        [&] { return win().load32(0, SharedWindow::arena_disp(offset)) != 0; },
        deadline_after(timeout));
}

// ---- Barrier: [count, generation, broken], 32 bits each -----------------------------------

namespace {

struct BarrierWords {
    std::uint64_t count, generation, broken;
};
BarrierWords barrier_words(std::uint64_t offset) {
    const std::uint64_t count = SharedWindow::arena_disp(offset);
    return {count, count + 4, count + 8};
}

// The last party has arrived (and the action, if any, has run): open the next generation.
// Nobody of this one can arrive again before the generation moves, so resetting the count
// first is safe.
void open_generation(const BarrierWords& w) {
    win().store32(0, w.count, 0);
    win().add32(0, w.generation, 1);
}

}  // namespace

int barrier_keep_action(std::uint64_t offset, std::function<void()> action) {
    Runtime& rt = runtime("mproc::Barrier");
    if (offset == 0) return rt.info().rank;  // a handle being loaded: the loaded bytes decide
    rt.actions().add(offset, [offset, action = std::move(action)] {
        const BarrierWords w = barrier_words(offset);
        try {
            action();
        } catch (...) {
            win().store32(0, w.broken, 1);  // as Python: the others get BrokenBarrierError
            win().add32(0, w.count, -1);    // the last party is no longer waiting
            throw;
        }
        open_generation(w);
    });
    return rt.info().rank;
}

int barrier_wait(std::uint64_t offset, int parties, int owner, Nanos timeout) {
    const BarrierWords w = barrier_words(offset);
    const std::int32_t gen = win().load32(0, w.generation);
    if (win().load32(0, w.broken) != 0) throw BrokenBarrierError("Barrier is broken");
    const std::int32_t arrived = win().add32(0, w.count, 1);
    Runtime& rt = runtime("mproc::Barrier");
    if (arrived == parties - 1) {
        if (owner < 0) {
            open_generation(w);
            return arrived;
        }
        // The action runs in the process that made the barrier: here, or there on request.
        if (owner == rt.info().rank) {
            if (!rt.actions().run_here(offset))
                throw SyncError("mproc::Barrier: its action is not kept on rank " +
                                std::to_string(owner) + ", where it was made");
            return arrived;
        }
        rt.actions().request(owner, offset);
    }
    // A worker rank that keeps this barrier's action runs it when asked, while it waits here.
    const bool serve_actions = owner == rt.info().rank && rt.info().rank != 0;
    bool is_broken = false;
    const Waited waited = wait_state(
        [&] {
            if (serve_actions) rt.actions().poll();
            std::int32_t words[2];
            win().load(RmaType::i32, words, 2, 0, w.generation);
            is_broken = words[1] != 0;
            return words[0] != gen || is_broken;
        },
        deadline_after(timeout), true);
    if (waited != Waited::ready || is_broken) {
        // Leaving without the generation moving: no longer one of those waiting (n_waiting).
        // Once broken, no party can complete this generation, so the count stays honest.
        win().add32(0, w.count, -1);
    }
    if (is_broken) throw BrokenBarrierError("Barrier broken while waiting");
    if (waited == Waited::interrupted) {
        win().store32(0, w.broken, 1);  // the others would wait for this party forever
        throw_terminated();
    }
    if (waited == Waited::timed_out) {
        win().store32(0, w.broken, 1);
        throw BrokenBarrierError("Barrier wait timed out (" + std::to_string(arrived + 1) + " of " +
                                 std::to_string(parties) + " had arrived); the barrier is broken");
    }
    return arrived;
}

void barrier_reset(std::uint64_t offset) {
    const BarrierWords w = barrier_words(offset);
    // Break it, so the parties waiting now leave (each takes itself off the count), then
    // open a fresh generation, whole.
    win().store32(0, w.broken, 1);
    wait_hand_over([&] { return win().load32(0, w.count) <= 0; });
    open_generation(w);
    win().store32(0, w.broken, 0);
}

}  // namespace detail

// ---- The classes' out-of-line members -----------------------------------------------------

using namespace detail;

Semaphore::Semaphore(std::int32_t value, std::int32_t bound)
    : offset_(shared_alloc(8)), bound_(bound) {
    if (value < 0)
        throw SyncError("Semaphore initial value must be >= 0, not " + std::to_string(value));
    if (offset_ != 0) win().store32(0, SharedWindow::arena_disp(offset_), value);
}

std::int32_t Semaphore::get_value() const {
    return win().load32(0, SharedWindow::arena_disp(offset_));
}

void Event::set() {
    win().store32(0, SharedWindow::arena_disp(offset_), 1);
}
void Event::clear() {
    win().store32(0, SharedWindow::arena_disp(offset_), 0);
}
bool Event::is_set() const {
    return win().load32(0, SharedWindow::arena_disp(offset_)) != 0;
}

Barrier::Barrier(int parties) : offset_(shared_alloc(12)), parties_(parties) {
    if (parties < 1)
        throw SyncError("Barrier needs at least 1 party, not " + std::to_string(parties));
}
void Barrier::abort() {
    win().store32(0, SharedWindow::arena_disp(offset_) + 8, 1);
}
bool Barrier::broken() const {
    return win().load32(0, SharedWindow::arena_disp(offset_) + 8) != 0;
}
int Barrier::n_waiting() const {
    return win().load32(0, SharedWindow::arena_disp(offset_));
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
    const std::uint64_t head = SharedWindow::arena_disp(offset_), tail = head + 4;
    LockTable& rs = locks();
    const std::int32_t me = rs.take_node(0);
    const std::int32_t last = win().load32(0, tail);
    set_next(last, head, me);
    win().store32(0, tail, me);
    const int depth = lock_release_all(lock_offset_, reentrant_);
    auto notified = [&] { return win().load32(node_rank(me), node_flag(me)) != 0; };
    const Waited waited = wait_state(notified, deadline_after(timeout), true);
    bool woken = waited == Waited::ready;
    lock_restore(lock_offset_, reentrant_, depth);
    if (!woken && !(woken = notified())) {
        // Timed out, and still listed (under the lock now): unlink our node.
        std::int32_t prev = 0, cur = win().load32(0, head);
        while (cur != me) {
            prev = cur;
            cur = win().load32(node_rank(cur), node_next(cur));
        }
        const std::int32_t next = win().load32(node_rank(me), node_next(me));
        set_next(prev, head, next);
        if (win().load32(0, tail) == me) win().store32(0, tail, prev);
    }
    rs.give_node(me);
    if (waited == Waited::interrupted) throw_terminated();  // holding the lock, as after wait
    return woken;
}

void Condition::notify(int n) {
    require_held("notify");
    const std::uint64_t head = SharedWindow::arena_disp(offset_), tail = head + 4;
    for (int i = 0; i < n; ++i) {
        const std::int32_t first = win().load32(0, head);
        if (first == 0) return;
        const std::int32_t next = win().load32(node_rank(first), node_next(first));
        win().store32(0, head, next);
        if (next == 0) win().store32(0, tail, 0);
        win().store32(node_rank(first), node_flag(first), 1);  // last touch: it may leave now
    }
}

void Condition::notify_all() {
    notify(std::numeric_limits<int>::max());
}

}  // namespace mproc
