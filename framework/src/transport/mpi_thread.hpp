#pragma once
// The MPI thread: the one thread of a rank that calls MPI (the thread that initialised it;
// MPI runs FUNNELED, which osc/pt2pt requires). On rank 0 the user's code runs on other
// threads; they hand MPI work to this one — `post` for something to run at its next turn,
// `call` to run an operation and wait for it — and its loop runs that between polls of the
// services above it (the pool service, the queue service). It knows nothing of them: they are
// Services it polls.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

namespace mproc::detail {

class MpiThread {
  public:
    using Clock = std::chrono::steady_clock;
    using micros = std::chrono::microseconds;

    // How long a service may be left alone. A `sure` wait is an estimate to trust: the loop
    // sleeps it at once; otherwise it backs off towards it (spin, yield, growing sleeps).
    struct Patience {
        Clock::duration wait;
        bool sure;
    };

    // Something the loop polls every turn.
    class Service {
      public:
        virtual ~Service() = default;
        // Does what can be done now without blocking; true if anything happened.
        virtual bool poll() = 0;
        // How long the loop may leave this service alone before polling it again: zero to
        // poll hot, nullopt when nothing is expected until something is posted.
        virtual std::optional<Patience> poll_again_in() const = 0;
    };

    // The calling thread becomes the MPI thread. With `serves_calls`, other threads may
    // call() and post() (rank 0); otherwise they are refused with an error. (Neither copied
    // nor moved: its mutex pins it.)
    explicit MpiThread(bool serves_calls);
    ~MpiThread();

    // The MPI thread object when the calling thread is an MPI thread, else nullptr.
    static MpiThread* here() noexcept;
    // Whether other threads may call() and post() (rank 0's).
    bool serves_calls() const noexcept { return serves_calls_; }

    // ---- From any thread ----
    // Runs `fn` on the MPI thread at its loop's next turn.
    void post(std::function<void()> fn);
    // Runs `fn` on the MPI thread and waits for it, rethrowing what it threw; runs it at once
    // on the MPI thread itself. Calls also run inside waits on the MPI thread (a task running
    // there at one rank may wait for a lock that the user's thread releases through a call).
    template <class F>
    void call(F&& fn) {
        if (here() == this)
            fn();
        else
            call_from_other_thread(fn);
    }
    // call() without waiting.
    void post_call(std::function<void()> fn);
    // Wakes the MPI thread if it sleeps.
    void nudge();

    // ---- On the MPI thread ----
    // Runs the pending calls; true if there were any.
    bool run_calls();
    // Sleeps up to `d`, or until something is posted, called or nudged.
    void sleep(micros d);
    // How long loop() sleeps between turns.
    struct Sleeps {
        // When no service expects anything: until something is posted, or this passes (so
        // MPI keeps being progressed).
        micros idle;
        // The longest a service may ask for (rank 0: as long as idle; a group leader: a hold).
        micros longest;
    };
    // Polls the services and runs what is posted until `done()` after a turn; sleeps between
    // turns as the services allow, within `sleeps`.
    void loop(std::span<Service* const> services, const std::function<bool()>& done, Sleeps sleeps);

  private:
    using Queue = std::vector<std::function<void()>>;
    void enqueue(Queue& queue, std::atomic<bool>& pending, std::function<void()> fn);
    bool drain(Queue& queue, std::atomic<bool>& pending);
    void refuse_foreign_thread() const;
    void call_from_other_thread(const std::function<void()>& fn);

    const bool serves_calls_;
    std::mutex mutex_;
    std::condition_variable wake_;
    Queue posted_;  // guarded by mutex_
    Queue calls_;   // guarded by mutex_
    std::atomic<bool> has_posted_{false};
    std::atomic<bool> has_calls_{false};
    std::atomic<bool> sleeping_{false};
    bool nudged_ = false;  // guarded by mutex_
};

}  // namespace mproc::detail
