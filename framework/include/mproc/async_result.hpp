#pragma once
// AsyncResult<R>: the result of map_async, starmap_async and apply_async, as in Python.
//
//     mproc::AsyncResult<int> r = pool.apply_async(square, 7);
//     if (r.wait(std::chrono::seconds(1))) std::cout << r.get();   // 49
//
// get() rethrows a task's exception as RemoteError; get(timeout) throws TimeoutError.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "mproc/detail/engine.hpp"
#include "mproc/detail/serialize.hpp"
#include "mproc/error.hpp"

namespace mproc {

template <class R>
using Callback = std::function<void(const R&)>;
using ErrorCallback = std::function<void(const Error&)>;

namespace detail {

// Prints an exception thrown by a user callback (callbacks must not end the callback thread).
void print_callback_exception(std::exception_ptr e) noexcept;

// The shared state behind an AsyncResult: set once by the engine (or a ThreadPool's thread),
// read by the user. It counts in its pool's outstanding work until it settles.
template <class T>
class ResultState : public std::enable_shared_from_this<ResultState<T>> {
  public:
    using Stored = detail::Stored<T>;

    // Callbacks run on the pool's callback thread.
    ResultState(std::shared_ptr<PoolState> pool, std::function<void(const Stored&)> callback,
                ErrorCallback error_callback)
        : settlement_(std::move(pool)),
          callback_(std::move(callback)),
          error_callback_(std::move(error_callback)) {}

    void set_value(Stored v) {
        settle([&] { value_.emplace(std::move(v)); });
    }
    void set_error(std::exception_ptr e) {
        settle([&] { error_ = std::move(e); });
    }

    bool ready() const {
        std::lock_guard lock(mutex_);
        return done_;
    }
    void wait() const {
        // Results come in bursts (a message answers several chunks): look a few times,
        // giving the core away between looks, before sleeping, so that a loop of get()s does
        // not cost a wake-up per result on both sides.
        for (int i = 0; i < 16 && !settled_.load(std::memory_order_acquire); ++i)
            std::this_thread::yield();
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return done_; });
    }
    template <class Rep, class Period>
    bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [this] { return done_; });
    }
    // Valid once ready(): the value, or the rethrown error.
    Stored& value() {
        if (error_) std::rethrow_exception(error_);
        return *value_;
    }
    bool has_error() const { return error_ != nullptr; }

  private:
    // Records the outcome (the first wins: a failed chunk after terminate, say). As in
    // Python, callbacks have run before the result is ready: they run on the callback thread,
    // and the result becomes visible (ready, get, wait) after them.
    template <class Set>
    void settle(Set&& set) {
        {
            std::lock_guard lock(mutex_);
            if (has_outcome_) return;
            set();
            has_outcome_ = true;
        }
        if (!callback_ && !error_callback_) {
            publish();
            return;
        }
        settlement_.pool().post_callback([self = this->shared_from_this()] {
            self->run_callbacks();
            self->publish();
        });
    }

    // Makes the outcome visible and counts the work settled in its pool.
    void publish() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
            settled_.store(true, std::memory_order_release);
        }
        cv_.notify_all();
        settlement_.settle();
    }

    void run_callbacks() {
        try {
            if (error_) {
                if (error_callback_) {
                    try {
                        std::rethrow_exception(error_);
                    } catch (const Error& e) {
                        error_callback_(e);
                    }
                }
            } else if (callback_) {
                callback_(*value_);
            }
        } catch (...) {
            // A throwing callback must not take the callback thread down; Python prints it too.
            print_callback_exception(std::current_exception());
        }
    }

    Settlement settlement_;
    std::function<void(const Stored&)> callback_;
    ErrorCallback error_callback_;
    mutable std::mutex mutex_;
    mutable std::condition_variable cv_;
    bool has_outcome_ = false;          // value_ or error_ is set
    bool done_ = false;                 // and visible: callbacks have run
    std::atomic<bool> settled_{false};  // done_, for a look without the mutex
    std::optional<Stored> value_;
    std::exception_ptr error_;
};

}  // namespace detail

template <class R>
class [[nodiscard]] AsyncResult {
  public:
    explicit AsyncResult(std::shared_ptr<detail::ResultState<R>> state)
        : state_(std::move(state)) {}

    // Waits and returns the result (a reference valid while this AsyncResult lives).
    decltype(auto) get() & {
        state_->wait();
        return result();
    }
    // On a temporary, the result is moved out: pool.map_async(f, xs).get().
    auto get() && {
        state_->wait();
        if constexpr (std::is_void_v<R>) {
            result();
        } else {
            return R(std::move(state_->value()));  // moved out: a move-only R works too
        }
    }
    template <class Rep, class Period>
    decltype(auto) get(std::chrono::duration<Rep, Period> timeout) {
        if (!state_->wait_for(timeout)) throw TimeoutError("AsyncResult::get: timed out");
        return result();
    }
    void wait() const { state_->wait(); }
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) const {
        return state_->wait_for(timeout);
    }
    bool ready() const { return state_->ready(); }
    // Whether the call completed without an exception; an Error when not ready yet.
    bool successful() const {
        if (!state_->ready()) throw Error("AsyncResult::successful: the result is not ready");
        return !state_->has_error();
    }

  private:
    decltype(auto) result() {
        if constexpr (std::is_void_v<R>) {
            state_->value();
        } else {
            return static_cast<const R&>(state_->value());
        }
    }

    std::shared_ptr<detail::ResultState<R>> state_;
};

}  // namespace mproc
