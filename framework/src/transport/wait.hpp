#pragma once
// Waiting without burning a core: the one wait function every part of mproc uses, and the
// backoff under it. A waiter polls hot for a few microseconds, then yields the core between
// polls, then sleeps in growing steps up to a millisecond. Oversubscribed ranks on 2 cores
// depend on this: a rank that spins steals the core from the one doing the work.
//
// The constants, and why (measured on 2 cores with 3 to 5 ranks):
// - Spin 20 µs: a lock handed over, a ring's answer, a worker's next chunk usually come
//   within this; catching them hot saves a sleep's wake-up (tens of µs).
// - Yield until 200 µs: a yield costs nothing when no other process wants the core and
//   hands it over when one does. Idle workers yield until 1 ms, because rank 0 refills a
//   worker within microseconds while a map runs, and a worker asleep misses that.
// - Sleeps start at 20 µs and double up to 1 ms: shorter sleeps cost a wake-up each (with
//   the timer slack tightened to 1 µs, see tighten_timer_slack), and a waiter that sleeps
//   longer than 1 ms makes a lock or a reply that long late.
// - Two parties that each back off into long sleeps while waiting for the other take turns
//   at sleeping (2000 tiny chunks took 1.4 s instead of 3 ms; 160 worker-to-worker queue
//   round trips/s instead of 77 k/s). So a conversation (queue requests) keeps its sleeps at
//   50 µs for its first 20 ms, and rank 0's loop caps its sleeps by when it expects a result
//   (see Dispatcher::poll_again_in).

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>

#include "base/interrupt.hpp"
#include "transport/mpi_thread.hpp"

namespace mproc::detail {

struct WaitPolicy {
    std::chrono::microseconds spin;
    std::chrono::microseconds yield;           // yields until this much idle time
    std::chrono::microseconds talk{0};         // sleeps stay short this long
    std::chrono::microseconds talk_sleep{50};  // the short sleep
};

// Waiting for another party's hand-over: a lock, a ring, results, a request's completion.
inline constexpr WaitPolicy kHandOver{std::chrono::microseconds(20),
                                      std::chrono::microseconds(200)};
// Waiting for a reply in a conversation (a queue request and rank 0's answer).
inline constexpr WaitPolicy kConversation{
    std::chrono::microseconds(20), std::chrono::microseconds(200), std::chrono::milliseconds(20)};
// A worker waiting for its next chunk.
inline constexpr WaitPolicy kIdleWorker{std::chrono::microseconds(20),
                                        std::chrono::microseconds(1000)};

class Backoff {
  public:
    using Clock = MpiThread::Clock;
    using micros = MpiThread::micros;
    static constexpr micros kFirstSleep{20}, kMaxSleep{1000};

    explicit Backoff(const WaitPolicy& policy) : policy_(policy) {}

    void reset() noexcept {
        idle_ = false;
        sleep_ = kFirstSleep;
    }

    // Starts the idle clock if it is not running; pause() does this too.
    void mark_idle() {
        if (!idle_) {
            idle_ = true;
            since_ = Clock::now();
        }
    }

    // How long the waiter has been idle (zero before its first pause).
    Clock::duration idle_for() const { return idle_ ? Clock::now() - since_ : Clock::duration{}; }

    // One idle round. `sleep(duration)` does the sleeping, so a caller can wait on something
    // that wakes it early; no sleep is longer than `max_sleep`.
    template <class Sleep>
    void pause(Sleep&& sleep, micros max_sleep = kMaxSleep) {
        if (!idle_) {
            mark_idle();
            return;
        }
        const auto idle = Clock::now() - since_;
        if (idle < policy_.spin) return;  // the caller's poll is the spin
        if (idle < policy_.yield) {
            sched_yield();
            return;
        }
        if (idle < policy_.talk) max_sleep = std::min(max_sleep, policy_.talk_sleep);
        sleep(std::min(sleep_, max_sleep));
        sleep_ = std::min(sleep_ * 2, kMaxSleep);
    }

  private:
    const WaitPolicy& policy_;
    bool idle_ = false;
    Clock::time_point since_;
    micros sleep_ = kFirstSleep;
};

enum class Waited { ready, timed_out, interrupted };

struct WaitFor {
    using Clock = std::chrono::steady_clock;
    const WaitPolicy& policy = kHandOver;
    std::optional<Clock::time_point> deadline;
    // Ends the wait (Waited::interrupted) when the Process on this thread is asked to end.
    bool interruptible = false;
    // Sleeps up to the given time; may return early when what is awaited changes. The
    // default sleeps on the MPI thread's own wake-up on the MPI thread, so calls posted by
    // other threads are served at once.
    std::function<void(std::chrono::microseconds)> sleep;
};

// Waits until `ready()` (true at once if it already is), the deadline, or an interruption.
// On the MPI thread it serves other threads' calls meanwhile: the thread may be running a
// task (rank 0 at one rank) whose wait those calls are needed to end.
template <class Ready>
Waited wait_until(Ready&& ready, const WaitFor& how = {}) {
    using micros = std::chrono::microseconds;
    MpiThread* mpi = MpiThread::here();
    // A sleeper that the calls cannot wake sleeps briefly on an MPI thread that serves them.
    const micros cap =
        mpi != nullptr && mpi->serves_calls() && how.sleep ? micros(200) : Backoff::kMaxSleep;
    Backoff backoff(how.policy);
    while (!ready()) {
        micros max_sleep = cap;
        if (how.deadline) {
            const auto left = *how.deadline - WaitFor::Clock::now();
            if (left <= WaitFor::Clock::duration::zero()) return Waited::timed_out;
            max_sleep = std::min(max_sleep, std::chrono::ceil<micros>(left));
        }
        if (how.interruptible && interrupt_requested()) return Waited::interrupted;
        if (mpi != nullptr) mpi->run_calls();
        if (how.sleep)
            backoff.pause(how.sleep, max_sleep);
        else if (mpi != nullptr)
            backoff.pause([mpi](micros d) { mpi->sleep(d); }, max_sleep);
        else
            backoff.pause([](micros d) { std::this_thread::sleep_for(d); }, max_sleep);
    }
    return Waited::ready;
}

// Sleeps of tens of microseconds are only as exact as the thread's timer slack (50 µs by
// default); make it 1 µs for the calling thread.
void tighten_timer_slack() noexcept;

}  // namespace mproc::detail
