#pragma once
// mproc::Pool: Python's multiprocessing.Pool across MPI ranks.
//
//     int square(int x) { return x * x; }
//     MPROC_TASK(square);
//
//     mproc::Pool pool;                                          // every free worker rank
//     std::vector<int> r = pool.map(square, mproc::range(10));  // {0, 1, 4, ..., 81}
//     for (int y : pool.imap(square, mproc::range(1'000'000'000))) use(y);   // lazy, bounded
//     mproc::AsyncResult<int> a = pool.apply_async(square, 7);   // a.get() == 49
//
// Chunks go to whichever worker asks next (dynamic scheduling), several kept in hand per
// worker. With one rank the tasks run on rank 0 itself. A task that throws surfaces as
// RemoteError at get(), map() or the iterator; the pool stays usable.
//
// The input is read lazily on rank 0's MPI thread as chunks go out. map and imap read
// the iterable in place (keep it alive while they run, as C++ ranges expect); map_async,
// starmap_async and apply_async take a copy of an lvalue container.

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc/async_result.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/pool_front.hpp"
#include "mproc/detail/sinks.hpp"
#include "mproc/detail/traits.hpp"
#include "mproc/error.hpp"
#include "mproc/task.hpp"

namespace mproc {

template <class R>
struct CallbackFor {
    using type = std::function<void(const R&)>;
};
template <>
struct CallbackFor<void> {
    using type = std::function<void()>;
};
// The callback type for a task returning R (a vector of them for map_async).
template <class R>
using CallbackOf = typename CallbackFor<R>::type;

// The results of imap / imap_unordered: an input range, read once, that pulls chunks from
// the workers as the reader advances. Destroying it early cancels the rest of the work.
template <class R>
using IMapResult = detail::ChunkedResults<R, detail::PoolStream<R>>;

// Wraps arguments for apply_async with callbacks, as Python's args=(...) does.
template <class... A>
struct Args {
    std::tuple<A...> values;
};
template <class... A>
Args<std::decay_t<A>...> args(A&&... a) {
    return {std::tuple<std::decay_t<A>...>(std::forward<A>(a)...)};
}

namespace detail {
// What map returns for task F: a vector of results, or nothing for a void task.
template <class F>
using map_result_t =
    std::conditional_t<std::is_void_v<task_result_t<F>>, void, std::vector<task_result_t<F>>>;

// A view over the input: in place for lvalues (the caller waits), a copy for async calls.
template <bool Own, class R>
auto hold(R&& r) {
    using V = std::remove_cvref_t<R>;
    if constexpr (Own && !std::ranges::view<V> && std::is_lvalue_reference_v<R>) {
        return std::ranges::owning_view<V>(V(r));
    } else {
        return std::views::all(std::forward<R>(r));
    }
}
}  // namespace detail

// How a Pool is made, beyond Python's `processes`. With either of the last two, each worker
// runs the pool's tasks in a child process of its own (forked from the worker rank, so it has
// the rank's code and state, but no MPI: such tasks cannot use queues, pipes or shared
// objects).
struct PoolOptions {
    int processes = 0;  // worker ranks; 0: every free one
    // Python's maxtasksperchild: the child is replaced by a fresh one after this many tasks
    // (chunks, as in Python), giving back what tasks leaked. 0: no limit.
    std::uint32_t maxtasksperchild = 0;
    // A task that crashes, aborts or exits fails with RemoteError ("killed by signal 11"),
    // and the next gets a fresh child, instead of the rank and the run ending.
    bool isolate = false;
};

class Pool {
  public:
    // Uses `processes` worker ranks (0: every free one; negative: ValueError). With one rank,
    // tasks run on rank 0.
    explicit Pool(int processes = 0) : Pool(PoolOptions{.processes = processes}) {}
    explicit Pool(PoolOptions options);

    // Runs `initializer(initargs...)` once on each of the pool's workers before any task.
    template <class F, class... InitArgs>
    requires std::is_invocable_v<F&, InitArgs...> Pool(int processes, F&& initializer,
                                                       InitArgs&&... initargs)
        : Pool(PoolOptions{.processes = processes}, std::forward<F>(initializer),
               std::forward<InitArgs>(initargs)...) {}
    template <class F, class... InitArgs>
    requires std::is_invocable_v<F&, InitArgs...> Pool(PoolOptions options, F&& initializer,
                                                       InitArgs&&... initargs)
        : Pool(options) {
        const auto& entry = detail::lookup_task(initializer, "Pool initializer");
        using Pack = typename detail::task_traits<std::decay_t<F>>::pack;
        using R = detail::task_result_t<std::decay_t<F>>;
        std::vector<std::shared_ptr<detail::ResultState<R>>> states;
        std::vector<int> targets = pool_->ranks;
        if (targets.empty()) targets.push_back(-1);
        for (int rank : targets) {
            auto state = std::make_shared<detail::ResultState<R>>(pool_, nullptr, nullptr);
            auto source = single_source<Pack>(std::forward_as_tuple(initargs...));
            // In the worker rank itself, not in a child: the children forked after it inherit
            // what it set up, as Python's fresh workers run it again.
            JobOptions pinned;
            pinned.pinned_rank = rank;
            pinned.in_rank = true;
            submit_job(entry, std::move(source), std::make_unique<detail::SingleSink<R>>(state), 1,
                       std::move(pinned));
            states.push_back(std::move(state));
        }
        try {
            for (auto& s : states) {
                s->wait();
                if (s->has_error()) s->value();  // rethrows
            }
        } catch (...) {
            terminate();
            throw;
        }
    }

    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    Pool(Pool&&) = delete;
    Pool& operator=(Pool&&) = delete;
    // Waits for all submitted work (close + join) unless terminate() was called.
    ~Pool();

    // How many workers the pool holds (1 when it runs on rank 0).
    int processes() const { return pool_->processes(); }

    // A worker that has owed the pool a result for a while: a task running long, or a rank
    // that is stopped or lost. What a progress display names ("rank 3 on node7: no answer
    // for 30 s").
    using QuietWorker = detail::QuietWorker;
    // The pool's workers that have owed it a result for at least `at_least` seconds. Safe to
    // call from another thread while this one waits for results.
    std::vector<QuietWorker> quiet_workers(double at_least) const;

    template <class F, std::ranges::input_range R>
    auto map(F&& f, R&& iterable, std::size_t chunksize = 0) {
        return map_async_impl<false>(f, std::forward<R>(iterable), chunksize, {}, {}).get();
    }

    template <class F, std::ranges::input_range R>
    auto map_async(F&& f, R&& iterable, std::size_t chunksize = 0,
                   CallbackOf<detail::map_result_t<F>> callback = {},
                   ErrorCallback error_callback = {}) {
        return map_async_impl<true>(f, std::forward<R>(iterable), chunksize, std::move(callback),
                                    std::move(error_callback));
    }

    template <class F, std::ranges::input_range R>
    auto starmap(F&& f, R&& iterable, std::size_t chunksize = 0) {
        return starmap_async_impl<false>(f, std::forward<R>(iterable), chunksize, {}, {}).get();
    }

    template <class F, std::ranges::input_range R>
    auto starmap_async(F&& f, R&& iterable, std::size_t chunksize = 0,
                       CallbackOf<detail::map_result_t<F>> callback = {},
                       ErrorCallback error_callback = {}) {
        return starmap_async_impl<true>(f, std::forward<R>(iterable), chunksize,
                                        std::move(callback), std::move(error_callback));
    }

    template <class F, std::ranges::input_range R>
    [[nodiscard]] IMapResult<detail::task_result_t<F>> imap(F&& f, R&& iterable,
                                                            std::size_t chunksize = 1) {
        return imap_impl(f, std::forward<R>(iterable), chunksize, true);
    }

    template <class F, std::ranges::input_range R>
    [[nodiscard]] IMapResult<detail::task_result_t<F>> imap_unordered(F&& f, R&& iterable,
                                                                      std::size_t chunksize = 1) {
        return imap_impl(f, std::forward<R>(iterable), chunksize, false);
    }

    template <class F, class... A>
    requires std::is_invocable_v<F&, A...>
    auto apply(F&& f, A&&... a) { return apply_async(f, std::forward<A>(a)...).get(); }

    template <class F, class... A>
    requires std::is_invocable_v<F&, A...> AsyncResult<detail::task_result_t<F>> apply_async(
        F&& f, A&&... a) {
        return apply_impl(f, std::forward_as_tuple(a...), {}, {});
    }

    // Python's apply_async(func, args, callback=..., error_callback=...).
    template <class F, class... A>
    AsyncResult<detail::task_result_t<F>> apply_async(F&& f, Args<A...> arguments,
                                                      CallbackOf<detail::task_result_t<F>> callback,
                                                      ErrorCallback error_callback = {}) {
        return apply_impl(f, arguments.values, std::move(callback), std::move(error_callback));
    }

    // No more submissions; work already submitted goes on.
    void close() { life_.close(); }
    // Drops work not yet done: pending results fail with PoolClosed, running chunks' results
    // are discarded when they arrive.
    void terminate();
    // Waits for every submitted call to settle, then hands the pool's worker ranks back (a
    // next Pool may take them); close() or terminate() must come first.
    void join();

  private:
    void release();

    template <class Pack, class Tuple>
    static std::unique_ptr<detail::ChunkSource> single_source(Tuple&& args) {
        Pack pack = make_pack<Pack>(std::forward<Tuple>(args));
        auto one = std::views::single(std::move(pack));
        return detail::make_source<Pack>(std::move(one),
                                         [](const Pack& p) -> const Pack& { return p; });
    }

    template <class Pack, class Tuple>
    static Pack make_pack(Tuple&& t) {
        if constexpr (std::tuple_size_v<std::remove_cvref_t<Tuple>> == 1 &&
                      !std::is_same_v<Pack, std::remove_cvref_t<Tuple>>) {
            return Pack(std::get<0>(std::forward<Tuple>(t)));
        } else {
            return std::make_from_tuple<Pack>(std::forward<Tuple>(t));
        }
    }

    // How a job runs, beyond its task, input and results.
    struct JobOptions {
        int pinned_rank = -1;                     // >= 0: on this rank only (an initializer)
        bool in_rank = false;                     // in the worker rank, even in a child pool
        std::shared_ptr<detail::ReadBound> bound;  // an imap's
    };
    // The one way work reaches the engine: map, imap, apply and initializers alike.
    std::shared_ptr<detail::Job> submit_job(const detail::TaskEntry& entry,
                                            std::unique_ptr<detail::ChunkSource> source,
                                            std::unique_ptr<detail::ResultSink> sink,
                                            std::size_t chunksize, JobOptions options);

    template <bool Own, class F, class R, class Convert>
    auto collect_async(F& f, R&& iterable, std::size_t chunksize, Convert convert,
                       CallbackOf<detail::map_result_t<F>> callback, ErrorCallback error_callback,
                       const char* what) {
        using T = detail::task_traits<std::decay_t<F>>;
        using Result = detail::map_result_t<F>;
        life_.check_open();
        const auto& entry = detail::lookup_task(f, what);
        auto state = std::make_shared<detail::ResultState<Result>>(
            pool_, wrap_callback<Result>(std::move(callback)), std::move(error_callback));
        auto source = detail::make_source<typename T::pack>(
            detail::hold<Own>(std::forward<R>(iterable)), std::move(convert));
        auto total = source->remaining();
        submit_job(entry, std::move(source),
                   std::make_unique<detail::CollectSink<typename T::result>>(state, total),
                   chunksize, {});
        return AsyncResult<Result>(std::move(state));
    }

    template <bool Own, class F, class R>
    auto map_async_impl(F& f, R&& iterable, std::size_t chunksize,
                        CallbackOf<detail::map_result_t<F>> callback,
                        ErrorCallback error_callback) {
        using Pack = typename detail::task_traits<std::decay_t<F>>::pack;
        static_assert(detail::task_traits<std::decay_t<F>>::arity == 1,
                      "Pool::map takes a one-argument task; use starmap for several arguments");
        static_assert(std::is_convertible_v<std::ranges::range_reference_t<R>, Pack>,
                      "Pool::map: the iterable's elements do not convert to the task's argument");
        return collect_async<Own>(
            f, std::forward<R>(iterable), chunksize,
            [](auto&& x) { return static_cast<Pack>(std::forward<decltype(x)>(x)); },
            std::move(callback), std::move(error_callback), "Pool::map");
    }

    template <bool Own, class F, class R>
    auto starmap_async_impl(F& f, R&& iterable, std::size_t chunksize,
                            CallbackOf<detail::map_result_t<F>> callback,
                            ErrorCallback error_callback) {
        using Pack = typename detail::task_traits<std::decay_t<F>>::pack;
        return collect_async<Own>(
            f, std::forward<R>(iterable), chunksize,
            [](auto&& t) { return make_pack<Pack>(std::forward<decltype(t)>(t)); },
            std::move(callback), std::move(error_callback), "Pool::starmap");
    }

    template <class F, class R>
    IMapResult<detail::task_result_t<F>> imap_impl(F& f, R&& iterable, std::size_t chunksize,
                                                   bool ordered) {
        using T = detail::task_traits<std::decay_t<F>>;
        using Pack = typename T::pack;
        static_assert(T::arity == 1, "Pool::imap takes a one-argument task");
        life_.check_open();
        const auto& entry = detail::lookup_task(f, ordered ? "Pool::imap" : "Pool::imap_unordered");
        auto source = detail::make_source<Pack>(
            detail::hold<false>(std::forward<R>(iterable)),
            [](auto&& x) { return static_cast<Pack>(std::forward<decltype(x)>(x)); });
        auto bound = read_bound(chunksize);
        auto sink = std::make_unique<detail::StreamSink<typename T::result>>(pool_, bound, ordered);
        auto* stream = sink.get();
        // chunksize 0: sized automatically
        JobOptions bounded;
        bounded.bound = std::move(bound);
        auto job = submit_job(entry, std::move(source), std::move(sink), chunksize,
                              std::move(bounded));
        return IMapResult<typename T::result>(
            detail::PoolStream<typename T::result>(std::move(job), stream));
    }

    template <class F, class Tuple>
    AsyncResult<detail::task_result_t<F>> apply_impl(F& f, Tuple&& a,
                                                     CallbackOf<detail::task_result_t<F>> callback,
                                                     ErrorCallback error_callback) {
        using T = detail::task_traits<std::decay_t<F>>;
        using R = typename T::result;
        life_.check_open();
        const auto& entry = detail::lookup_task(f, "Pool::apply");
        auto state = std::make_shared<detail::ResultState<R>>(
            pool_, wrap_callback<R>(std::move(callback)), std::move(error_callback));
        submit_job(entry, single_source<typename T::pack>(std::forward<Tuple>(a)),
                   std::make_unique<detail::SingleSink<R>>(state), 1, {});
        return AsyncResult<R>(std::move(state));
    }

    template <class Result>
    static std::function<void(const detail::Stored<Result>&)> wrap_callback(
        CallbackOf<Result> callback) {
        if (!callback) return nullptr;
        if constexpr (std::is_void_v<Result>) {
            return [cb = std::move(callback)](const detail::Unit&) { cb(); };
        } else {
            return callback;
        }
    }

    // The bound on what an imap job may hold on rank 0.
    std::shared_ptr<detail::ReadBound> read_bound(std::size_t chunksize) const;

    detail::PoolLife life_{"Pool"};  // first: the constructor checks the size with it
    std::shared_ptr<detail::PoolState> pool_;  // holds the engine, found when the pool was made
    std::uint32_t child_tasks_ = 0;            // Job::child_tasks for its tasks
    bool released_ = false;  // its worker ranks handed back (after join)
};

}  // namespace mproc
