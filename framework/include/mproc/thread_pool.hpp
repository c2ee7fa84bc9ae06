#pragma once
// mproc::ThreadPool: Python's multiprocessing.pool.ThreadPool, the Pool's API on threads of
// the calling rank.
//
//     mproc::ThreadPool pool(4);                    // 0: cpu_count() threads
//     auto sizes = pool.map([](const std::string& s) { return s.size(); }, names);
//
// Nothing travels, so a task is any callable (a capturing lambda too, registered or not) and
// arguments and results are any movable type. Results keep their order; a task that throws
// surfaces as RemoteError (naming this rank, the input's index and the exception) at get(),
// map() or the imap iterator, and the pool stays usable; callbacks run on one callback
// thread of the pool before the result is visible; imap reads its input lazily, a few chunks
// ahead; close()/join()/terminate() and the destructor behave as the Pool's.
//
// A task on a worker rank's ThreadPool runs off that rank's MPI thread, so it cannot use
// queues, pipes or shared objects there (as a Process run on a thread of a worker cannot).

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc/async_result.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/pool_front.hpp"
#include "mproc/error.hpp"
#include "mproc/pool.hpp"

namespace mproc {
namespace detail {

// The threads under a ThreadPool, and its callback thread (framework/src/thread_workers.cpp).
class ThreadWorkers {
  public:
    struct Work {
        std::function<void()> run;
        std::function<void()> drop;  // run instead by drop_queued()
    };
    // Starts `threads` threads; each runs `initializer` (if any) before any work. Throws what
    // an initializer threw, once every thread has ended.
    ThreadWorkers(int threads, const std::function<void()>& initializer);
    // Runs what is queued, then ends the threads.
    ~ThreadWorkers();
    ThreadWorkers(const ThreadWorkers&) = delete;
    ThreadWorkers& operator=(const ThreadWorkers&) = delete;

    int size() const noexcept { return size_; }
    void add(Work work);
    // Drops the work not yet started (each one's `drop` runs).
    void drop_queued();
    // Where the pool's callbacks run: after the threads have ended, it runs what is left.
    CallbackThread& callbacks() noexcept { return callbacks_; }

  private:
    struct State;
    int size_;
    CallbackThread callbacks_;
    std::unique_ptr<State> s_;
};

// The exception being handled, as the RemoteError a failed task is: raised by `task` at
// input `index`, on this rank and host.
std::exception_ptr current_task_error(const std::string& task, std::optional<std::uint64_t> index);

// Python's map chunksize when none is given: about four chunks per thread.
inline std::size_t auto_chunksize(std::size_t items, int threads) {
    const std::size_t parts = static_cast<std::size_t>(threads) * 4;
    return std::max<std::size_t>(1, (items + parts - 1) / parts);
}

inline const std::string kThreadTask = "ThreadPool task";

// What ThreadPool's map returns for results R: a vector of them, or nothing.
template <class R>
using list_of = std::conditional_t<std::is_void_v<R>, void, std::vector<R>>;
template <class F, class Ref>
using map_of = list_of<std::invoke_result_t<F&, Ref>>;
template <class F, class In>
using star_result_t =
    decltype(std::apply(std::declval<F&>(), std::declval<std::ranges::range_value_t<In>&>()));
template <class F, class In>
using starmap_of = list_of<star_result_t<F, In>>;

// `f` taking a tuple's elements as its arguments (starmap's).
template <class F>
auto spread(F f) {
    return [f = std::move(f)](auto&& args) mutable { return std::apply(f, args); };
}

// The chunks of one imap in flight and the ones finished; guarded by `mutex`.
template <class R>
struct ThreadStream {
    std::mutex mutex;
    std::condition_variable done_cv;
    std::deque<std::shared_ptr<std::optional<ResultChunk<R>>>> in_flight;  // submission order
    std::deque<std::shared_ptr<std::optional<ResultChunk<R>>>> finished;   // completion order
    std::atomic<bool> cancelled{false};

    void finish(const std::shared_ptr<std::optional<ResultChunk<R>>>& slot, ResultChunk<R> c) {
        {
            std::lock_guard lock(mutex);
            if (slot->has_value()) return;  // dropped and run: the first outcome stays
            slot->emplace(std::move(c));
            finished.push_back(slot);
        }
        done_cv.notify_all();
    }
};

// What the results of ThreadPool::imap / imap_unordered read from: it hands the input to the
// threads a few chunks ahead of the reader, and gives the reader the chunks as they finish,
// in input or completion order. Letting go of it early: the chunks not started are not run.
template <class R>
class ThreadStreamSource {
    using Slot = std::shared_ptr<std::optional<ResultChunk<R>>>;
    using Stream = ThreadStream<R>;

  public:
    // Reads the next chunk of input and hands it to the threads; false at the end of the
    // input (or when reading it threw, which `input_error` then holds).
    using Launch = std::function<bool(std::exception_ptr& input_error)>;

    ThreadStreamSource(std::shared_ptr<Stream> stream, Launch launch, std::size_t ahead,
                       bool ordered)
        : stream_(std::move(stream)), launch_(std::move(launch)), ahead_(ahead), ordered_(ordered) {}
    ThreadStreamSource(ThreadStreamSource&&) noexcept = default;
    ThreadStreamSource& operator=(ThreadStreamSource&&) = delete;
    ~ThreadStreamSource() {
        if (stream_) stream_->cancelled = true;
    }

    // The next chunk, in input or completion order; nullopt at the end.
    std::optional<ResultChunk<R>> next() {
        while (!input_done_ && in_flight() < ahead_) input_done_ = !launch_(input_error_);
        Slot slot;
        {
            std::unique_lock lock(stream_->mutex);
            if (!stream_->in_flight.empty()) {
                if (ordered_) {
                    slot = stream_->in_flight.front();
                    stream_->done_cv.wait(lock, [&] { return slot->has_value(); });
                    stream_->in_flight.pop_front();
                    std::erase(stream_->finished, slot);
                } else {
                    stream_->done_cv.wait(lock, [&] { return !stream_->finished.empty(); });
                    slot = stream_->finished.front();
                    stream_->finished.pop_front();
                    std::erase(stream_->in_flight, slot);
                }
            }
        }
        if (slot) return std::move(**slot);
        // Nothing in flight and no input left: the input's own error comes last, once.
        if (input_error_) return ResultChunk<R>{{}, std::exchange(input_error_, nullptr)};
        return std::nullopt;
    }

  private:
    std::size_t in_flight() {
        std::lock_guard lock(stream_->mutex);
        return stream_->in_flight.size();
    }

    std::shared_ptr<Stream> stream_;
    Launch launch_;
    std::size_t ahead_ = 1;
    bool ordered_ = true;
    bool input_done_ = false;
    std::exception_ptr input_error_;
};

}  // namespace detail

// The results of ThreadPool::imap / imap_unordered: an input range, read once.
template <class R>
using ThreadIMapResult = detail::ChunkedResults<R, detail::ThreadStreamSource<R>>;

class ThreadPool {
  public:
    // `processes` threads (0: cpu_count(); negative: ValueError, as in Python).
    explicit ThreadPool(int processes = 0) : ThreadPool(processes, std::function<void()>{}) {}
    // Runs `initializer(initargs...)` on each thread before any task; if it throws, so does
    // the constructor.
    template <class F, class... I>
    requires std::invocable<F&, I&...> ThreadPool(int processes, F initializer, I... initargs)
        : ThreadPool(processes, std::function<void()>([=]() mutable {
                         (void)std::invoke(initializer, initargs...);
                     })) {}
    // Waits for all submitted work (close + join) unless terminate() was called.
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int processes() const { return workers_->size(); }

    template <class F, std::ranges::input_range In>
    auto map(F f, In&& iterable, std::size_t chunksize = 0) {
        return map_async(std::move(f), std::forward<In>(iterable), chunksize).get();
    }
    template <class F, std::ranges::input_range In>
    auto map_async(F f, In&& iterable, std::size_t chunksize = 0,
                   CallbackOf<detail::map_of<F, std::ranges::range_reference_t<In>>> callback = {},
                   ErrorCallback error_callback = {}) {
        return collect<std::invoke_result_t<F&, std::ranges::range_reference_t<In>>>(
            read_all(std::forward<In>(iterable)), chunksize, std::move(f), std::move(callback),
            std::move(error_callback));
    }
    // map over the items' elements: f(std::apply(args)).
    template <class F, std::ranges::input_range In>
    auto starmap(F f, In&& iterable, std::size_t chunksize = 0) {
        return map(detail::spread(std::move(f)), std::forward<In>(iterable), chunksize);
    }
    template <class F, std::ranges::input_range In>
    auto starmap_async(F f, In&& iterable, std::size_t chunksize = 0,
                       CallbackOf<detail::starmap_of<F, In>> callback = {},
                       ErrorCallback error_callback = {}) {
        return map_async(detail::spread(std::move(f)), std::forward<In>(iterable), chunksize,
                         std::move(callback), std::move(error_callback));
    }

    template <class F, std::ranges::input_range In>
    [[nodiscard]] auto imap(F f, In&& iterable, std::size_t chunksize = 1) {
        return stream(std::move(f), std::forward<In>(iterable), chunksize, true);
    }
    template <class F, std::ranges::input_range In>
    [[nodiscard]] auto imap_unordered(F f, In&& iterable, std::size_t chunksize = 1) {
        return stream(std::move(f), std::forward<In>(iterable), chunksize, false);
    }

    template <class F, class... A>
    requires std::invocable<F&, A&...>
    auto apply(F f, A&&... a) { return apply_async(std::move(f), std::forward<A>(a)...).get(); }
    template <class F, class... A>
    requires std::invocable < F&, std::decay_t<A>
    &... > auto apply_async(F f, A&&... a) {
        return apply_impl(std::move(f), std::tuple<std::decay_t<A>...>(std::forward<A>(a)...), {},
                          {});
    }
    // Python's apply_async(func, args, callback=..., error_callback=...).
    template <class F, class... A>
    auto apply_async(F f, Args<A...> arguments,
                     CallbackOf<std::invoke_result_t<F&, A&...>> callback,
                     ErrorCallback error_callback = {}) {
        return apply_impl(std::move(f), std::move(arguments.values), std::move(callback),
                          std::move(error_callback));
    }

    void close() { life_.close(); }
    // Drops work not yet started: its results fail with PoolClosed. Running tasks finish.
    void terminate();
    // Waits for every submitted call to settle; close() or terminate() must come first.
    void join();

  private:
    ThreadPool(int processes, const std::function<void()>& initializer);

    template <class R>
    using list_of = detail::list_of<R>;

    // Python turns map's iterable into a list first: what the input throws, map throws.
    template <class In>
    static auto read_all(In&& iterable) {
        std::vector<std::ranges::range_value_t<In>> items;
        for (auto&& x : iterable) items.emplace_back(std::forward<decltype(x)>(x));
        return items;
    }

    template <class Result>
    std::shared_ptr<detail::ResultState<Result>> new_state(CallbackOf<Result> callback,
                                                           ErrorCallback error_callback) {
        std::function<void(const detail::Stored<Result>&)> on_value;
        if (callback) {
            if constexpr (std::is_void_v<Result>)
                on_value = [cb = std::move(callback)](const detail::Unit&) { cb(); };
            else
                on_value = std::move(callback);
        }
        return std::make_shared<detail::ResultState<Result>>(settled_, std::move(on_value),
                                                             std::move(error_callback));
    }
    static std::exception_ptr closed_error() {
        return std::make_exception_ptr(PoolClosed("ThreadPool terminated before the task ran"));
    }

    // Runs `call` over `items` in chunks; one AsyncResult for the whole list.
    template <class R, class Item, class Call>
    AsyncResult<list_of<R>> collect(std::vector<Item> items, std::size_t chunksize, Call call,
                                    CallbackOf<list_of<R>> callback, ErrorCallback error_callback) {
        using Result = list_of<R>;
        life_.check_open();
        auto state = new_state<Result>(std::move(callback), std::move(error_callback));
        struct Batch {
            std::vector<Item> items;
            std::vector<std::optional<detail::Stored<R>>> out;
            std::atomic<std::size_t> left{0};
            std::atomic<bool> failed{false};
        };
        auto batch = std::make_shared<Batch>();
        batch->items = std::move(items);
        batch->out.resize(batch->items.size());
        const std::size_t n = batch->items.size();
        const std::size_t size = chunksize > 0 ? chunksize : detail::auto_chunksize(n, processes());
        const std::size_t chunks = (n + size - 1) / size;
        if (chunks == 0) {
            state->set_value(detail::Stored<Result>{});
            return AsyncResult<Result>(std::move(state));
        }
        batch->left = chunks;
        for (std::size_t first = 0; first < n; first += size) {
            const std::size_t last = std::min(n, first + size);
            workers_->add(
                {[state, batch, call, first, last]() mutable {
                     if (batch->failed) return;
                     std::size_t i = first;
                     try {
                         for (; i < last; ++i) {
                             if constexpr (std::is_void_v<R>) {
                                 std::invoke(call, batch->items[i]);
                                 batch->out[i].emplace();
                             } else {
                                 batch->out[i].emplace(std::invoke(call, batch->items[i]));
                             }
                         }
                     } catch (...) {
                         batch->failed = true;  // as the Pool's map: the first failure fails it
                         state->set_error(detail::current_task_error(detail::kThreadTask, i));
                         return;
                     }
                     if (batch->left.fetch_sub(1) != 1) return;
                     if constexpr (std::is_void_v<R>) {
                         state->set_value(detail::Unit{});
                     } else {
                         std::vector<R> all;
                         all.reserve(batch->out.size());
                         for (auto& v : batch->out) all.push_back(std::move(*v));
                         state->set_value(std::move(all));
                     }
                 },
                 [state] { state->set_error(closed_error()); }});
        }
        return AsyncResult<Result>(std::move(state));
    }

    template <class F, class Tuple>
    auto apply_impl(F f, Tuple args, CallbackOf<decltype(std::apply(f, args))> callback,
                    ErrorCallback error_callback) {
        using R = decltype(std::apply(f, args));
        life_.check_open();
        auto state = new_state<R>(std::move(callback), std::move(error_callback));
        workers_->add({[state, f, args]() mutable {
                           try {
                               if constexpr (std::is_void_v<R>) {
                                   std::apply(f, args);
                                   state->set_value(detail::Unit{});
                               } else {
                                   state->set_value(std::apply(f, args));
                               }
                           } catch (...) {
                               state->set_error(detail::current_task_error(detail::kThreadTask, 0));
                           }
                       },
                       [state] { state->set_error(closed_error()); }});
        return AsyncResult<R>(std::move(state));
    }

    template <class F, class In>
    auto stream(F f, In&& iterable, std::size_t chunksize, bool ordered) {
        using Ref = std::ranges::range_reference_t<In>;
        using R = std::invoke_result_t<F&, Ref>;
        using Item = std::ranges::range_value_t<In>;
        using Stream = detail::ThreadStream<R>;
        using Slot = std::shared_ptr<std::optional<detail::ResultChunk<R>>>;
        life_.check_open();
        chunksize = std::max<std::size_t>(chunksize, 1);
        auto stream = std::make_shared<Stream>();
        // The input, read in place on the caller's thread as chunks go out (keep it alive).
        auto input = std::make_shared<decltype(detail::hold<false>(std::forward<In>(iterable)))>(
            detail::hold<false>(std::forward<In>(iterable)));
        auto at = std::make_shared<std::optional<std::ranges::iterator_t<decltype(*input)>>>();
        auto settled = settled_;
        std::uint64_t next_index = 0;
        auto launch = [this, f, stream, input, at, chunksize, settled,
                       next_index](std::exception_ptr& input_error) mutable {
            std::vector<Item> items;
            try {
                if (!*at) *at = std::ranges::begin(*input);
                while (items.size() < chunksize && **at != std::ranges::end(*input)) {
                    items.emplace_back(***at);
                    ++**at;
                }
            } catch (...) {
                input_error = std::current_exception();  // after the items read before it
            }
            const bool more = !input_error && !items.empty();
            if (items.empty()) return false;
            Slot slot = std::make_shared<std::optional<detail::ResultChunk<R>>>();
            {
                std::lock_guard lock(stream->mutex);
                stream->in_flight.push_back(slot);
            }
            auto settlement = std::make_shared<detail::Settlement>(settled);
            const std::uint64_t first = next_index;
            next_index += items.size();
            workers_->add({[f, stream, slot, settlement, first, items = std::move(items)]() mutable {
                               detail::ResultChunk<R> c;
                               if (stream->cancelled) {
                                   c.error = closed_error();
                               } else {
                                   std::size_t i = 0;
                                   try {
                                       for (; i < items.size(); ++i) {
                                           if constexpr (std::is_void_v<R>) {
                                               std::invoke(f, items[i]);
                                               c.values.emplace_back();
                                           } else {
                                               c.values.push_back(std::invoke(f, items[i]));
                                           }
                                       }
                                   } catch (...) {
                                       c.error = detail::current_task_error(detail::kThreadTask,
                                                                            first + i);
                                   }
                               }
                               stream->finish(slot, std::move(c));
                               settlement->settle();
                           },
                           [stream, slot, settlement] {
                               stream->finish(slot, {{}, closed_error()});
                               settlement->settle();
                           }});
            return more;
        };
        return ThreadIMapResult<R>(detail::ThreadStreamSource<R>(
            stream, std::move(launch), 2 * static_cast<std::size_t>(processes()), ordered));
    }

    detail::PoolLife life_{"ThreadPool"};  // first: the constructor checks the size with it
    std::unique_ptr<detail::ThreadWorkers> workers_;
    // Work submitted and not yet settled; callbacks run on the workers' callback thread.
    std::shared_ptr<detail::PoolState> settled_;
};

}  // namespace mproc
