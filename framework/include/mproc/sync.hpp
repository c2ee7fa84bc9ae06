#pragma once
// Locks and other synchronisation across ranks, on MPI one-sided windows: Python's
// multiprocessing.Lock, RLock, Semaphore, BoundedSemaphore, Event, Barrier and Condition.
//
//     mproc::Lock lock;                        // in the parent's code; no collective call
//     pool.starmap(work, std::vector(10, std::tuple(lock, 20)));   // passed as an argument
//     // in work(mproc::Lock lock, int n), on any rank:
//     std::lock_guard hold(lock);
//
// Lock and RLock are fair queue locks (MCS): a waiter enqueues with one atomic swap and then
// watches a flag in its own rank's memory, backing off and yielding, so oversubscribed ranks
// on few cores still make progress. The others poll a word of rank 0's arena with backoff.
// A rank that dies ends the whole job (mpirun aborts every rank), so no waiter hangs
// forever on a lock whose holder is gone.

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>

#include "mproc/detail/rma.hpp"
#include "mproc/error.hpp"

namespace mproc {
namespace detail {

using Nanos = std::chrono::nanoseconds;
inline constexpr Nanos kForever{-1};

template <class Rep, class Period>
Nanos to_nanos(const std::chrono::duration<Rep, Period>& d) {
    return std::max(Nanos{0}, std::chrono::duration_cast<Nanos>(d));
}

bool lock_acquire_for(std::uint64_t offset, bool reentrant, Nanos timeout);
bool lock_taken(std::uint64_t offset);
bool semaphore_acquire(std::uint64_t offset, Nanos timeout);
void semaphore_release(std::uint64_t offset, std::int32_t n, std::int32_t bound);
bool event_wait(std::uint64_t offset, Nanos timeout);
// owner: the rank keeping the barrier's action (barrier_keep_action), -1 when it has none.
int barrier_wait(std::uint64_t offset, int parties, int owner, Nanos timeout);
// Keeps `action` on this rank for the barrier at `offset`; returns this rank.
int barrier_keep_action(std::uint64_t offset, std::function<void()> action);
void barrier_reset(std::uint64_t offset);

// Lock and RLock: a 32-bit MCS tail word in the arena.
template <bool Reentrant>
class QueueLock {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    QueueLock() : offset_(shared_alloc(8)) {}

    void lock() { lock_acquire(offset_, Reentrant); }
    bool try_lock() { return lock_try_acquire(offset_, Reentrant); }
    template <class Rep, class Period>
    bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
        return lock_acquire_for(offset_, Reentrant, to_nanos(timeout));
    }
    // Throws SyncError unless held by the calling thread (RLock) or rank (Lock).
    void unlock() { lock_release(offset_, Reentrant); }

    // Python's names.
    void acquire() { lock(); }
    template <class Rep, class Period>
    bool acquire(const std::chrono::duration<Rep, Period>& timeout) {
        return try_lock_for(timeout);
    }
    void release() { unlock(); }
    // Whether anyone holds it (or waits for it) now: Python's locked().
    bool locked() const { return lock_taken(offset_); }

    std::uint64_t offset() const { return offset_; }

  private:
    std::uint64_t offset_;
};

}  // namespace detail

// A mutual-exclusion lock. Any thread of the rank that holds it may release it.
using Lock = detail::QueueLock<false>;
// A lock its owning thread may take again; it is free once released as often as taken.
using RLock = detail::QueueLock<true>;

// A counter that acquire() decrements, waiting while it is zero.
class Semaphore {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    explicit Semaphore(std::int32_t value = 1) : Semaphore(value, 0) {}

    void acquire() { detail::semaphore_acquire(offset_, detail::kForever); }
    bool try_acquire() { return detail::semaphore_acquire(offset_, detail::Nanos{0}); }
    template <class Rep, class Period>
    bool try_acquire_for(const std::chrono::duration<Rep, Period>& timeout) {
        return detail::semaphore_acquire(offset_, detail::to_nanos(timeout));
    }
    // BoundedSemaphore throws SyncError if this would raise the value above its start.
    void release(std::int32_t n = 1) { detail::semaphore_release(offset_, n, bound_); }
    std::int32_t get_value() const;

    // Lockable, so std::lock_guard works as Python's `with sem:` does.
    void lock() { acquire(); }
    bool try_lock() { return try_acquire(); }
    void unlock() { release(); }

  protected:
    Semaphore(std::int32_t value, std::int32_t bound);

  private:
    std::uint64_t offset_;
    std::int32_t bound_;  // 0: unbounded
};

class BoundedSemaphore : public Semaphore {
  public:
    explicit BoundedSemaphore(std::int32_t value = 1) : Semaphore(value, value) {}
};

// A flag that wait() waits for.
class Event {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    Event() : offset_(detail::shared_alloc(8)) {}
    void set();
    void clear();
    bool is_set() const;
    // True, as Python's: it returns once the flag is set.
    bool wait() { return detail::event_wait(offset_, detail::kForever); }
    // False if the timeout passed first.
    template <class Rep, class Period>
    bool wait(const std::chrono::duration<Rep, Period>& timeout) {
        return detail::event_wait(offset_, detail::to_nanos(timeout));
    }

  private:
    std::uint64_t offset_;
};

// `parties` callers of wait() block until all have arrived, then all go on; it can be used
// again at once (each round is a generation). wait() returns the caller's arrival order,
// 0 .. parties-1. A wait that times out breaks the barrier: every waiter, then and later,
// gets BrokenBarrierError, as in Python.
class Barrier {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    // An empty barrier, to assign a real one to (in a container, say); using it is an Error.
    Barrier() = default;
    explicit Barrier(int parties);
    // Python's Barrier(parties, action): `action` (any callable, a capturing lambda too) runs
    // once per generation, after the last party arrives and before any party goes on, in the
    // process that created the Barrier: there, on the last party's thread if it is the last
    // to arrive; otherwise rank 0 runs it on a thread of its own, and a worker rank when it is
    // next idle or waiting on this barrier. If it throws, the barrier breaks: a last party
    // that ran it gets the exception, the others BrokenBarrierError.
    template <class F>
    requires std::invocable<F&> Barrier(int parties, F action) : Barrier(parties) {
        owner_ = detail::barrier_keep_action(
            offset_, [action = std::move(action)]() mutable { (void)std::invoke(action); });
    }
    int wait() { return detail::barrier_wait(offset_, parties_, owner_, detail::kForever); }
    template <class Rep, class Period>
    int wait(const std::chrono::duration<Rep, Period>& timeout) {
        return detail::barrier_wait(offset_, parties_, owner_, detail::to_nanos(timeout));
    }
    // Python's reset(): parties waiting now get BrokenBarrierError; once they have left, the
    // barrier is whole and empty again. A wait() that starts during the reset is refused.
    void reset() { detail::barrier_reset(offset_); }
    void abort();
    bool broken() const;
    int parties() const { return parties_; }
    int n_waiting() const;

  private:
    std::uint64_t offset_ = 0;
    int parties_ = 0;
    int owner_ = -1;  // the rank keeping the action; -1: none
};

// A condition variable over a Lock or RLock (its own RLock by default). wait() must be
// called holding the lock; it releases it (fully, for an RLock taken several times), waits
// for a notify, and takes it again. Waiters are woken in the order they began to wait.
class Condition {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    Condition() : Condition(RLock()) {}
    explicit Condition(const Lock& lock) : Condition(lock.offset(), false) {}
    explicit Condition(const RLock& lock) : Condition(lock.offset(), true) {}

    void lock() { detail::lock_acquire(lock_offset_, reentrant_); }
    bool try_lock() { return detail::lock_try_acquire(lock_offset_, reentrant_); }
    void unlock() { detail::lock_release(lock_offset_, reentrant_); }
    void acquire() { lock(); }
    void release() { unlock(); }

    void wait() { wait_impl(detail::kForever); }
    // False if the timeout passed first (the lock is held again either way).
    template <class Rep, class Period>
    bool wait(const std::chrono::duration<Rep, Period>& timeout) {
        return wait_impl(detail::to_nanos(timeout));
    }
    template <class Predicate>
    void wait(Predicate pred) {
        while (!pred()) wait();
    }
    // Python's wait_for: waits until pred() holds (or the timeout passes); returns pred().
    template <class Predicate>
    bool wait_for(Predicate pred) {
        wait(pred);
        return true;
    }
    template <class Predicate, class Rep, class Period>
    bool wait_for(Predicate pred, const std::chrono::duration<Rep, Period>& timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            const auto left = deadline - std::chrono::steady_clock::now();
            if (left <= left.zero()) return pred();
            wait(left);
        }
        return true;
    }
    // Wakes up to `n` waiters (the longest-waiting first). Needs the lock held.
    void notify(int n = 1);
    void notify_all();

  private:
    Condition(std::uint64_t lock_offset, bool reentrant);
    bool wait_impl(detail::Nanos timeout);
    void require_held(const char* what) const;

    std::uint64_t offset_;  // [tickets issued, tickets woken], 32 bits each
    std::uint64_t lock_offset_;
    bool reentrant_;
};

}  // namespace mproc
