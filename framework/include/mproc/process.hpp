#pragma once
// mproc::Process: Python's multiprocessing.Process across MPI ranks.
//
//     void worker(mproc::Queue<std::string> q) { q.put("hello"); }
//     MPROC_TASK(worker);
//
//     mproc::Queue<std::string> q;
//     mproc::Process p(worker, q);
//     p.start();                 // runs worker(q) on a free worker rank of its own
//     std::cout << q.get();      // "hello"
//     p.join();                  // p.exitcode() == 0
//
// The target must be registered (MPROC_TASK) like a Pool task. A started Process holds one
// free worker rank until it ends. With none free (or one rank in all) it runs on a thread of
// rank 0 instead, with one warning, so a program works at any rank count.
//
// terminate() asks the target to stop: at its next mproc call (a waiting get, recv, lock,
// wait, or mproc::sleep) it unwinds with mproc::Terminated; exitcode() is then -15, as
// Python reports SIGTERM. A target that throws has exitcode 1, and its error is printed.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "mproc/detail/pipe_ends.hpp"
#include "mproc/pool.hpp"
#include "mproc/runtime.hpp"
#include "mproc/sync.hpp"

namespace mproc {

// What a process knows about itself (Python's current_process()).
class ProcessInfo {
  public:
    ProcessInfo(std::string name, int rank, std::string host, int pid)
        : name_(std::move(name)), rank_(rank), host_(std::move(host)), pid_(pid) {}
    // "MainProcess" on rank 0, "Process-N" in a Process, "PoolWorker-R" in a pool task.
    const std::string& name() const { return name_; }
    int rank() const { return rank_; }
    const std::string& host() const { return host_; }
    int pid() const { return pid_; }

  private:
    std::string name_;
    int rank_;
    std::string host_;
    int pid_;
};
ProcessInfo current_process();
// The Processes this process started that have not ended yet (Python's active_children()).
std::vector<ProcessInfo> active_children();
// The number of CPUs of the calling rank's host (Python's cpu_count()); the number of ranks
// that run tasks is worker_count().
int cpu_count();

// Sleeps for `d`; a point where a terminated Process stops.
void sleep(std::chrono::nanoseconds d);

namespace detail {

// A started target: a task on a pinned one-rank pool, whatever its result type.
class ProcessRun {
  public:
    virtual ~ProcessRun() = default;
    virtual bool wait_for(std::chrono::nanoseconds d) = 0;  // negative: as long as it takes
    virtual std::exception_ptr error() = 0;                 // once finished
};

template <class R>
class PoolRun final : public ProcessRun {
  public:
    explicit PoolRun(AsyncResult<R> r) : r_(std::move(r)) {}
    bool wait_for(std::chrono::nanoseconds d) override {
        if (d < d.zero()) {
            r_.wait();
            return true;
        }
        return r_.wait(d);
    }
    std::exception_ptr error() override {
        if (r_.successful()) return nullptr;
        try {
            r_.get();
        } catch (...) {
            return std::current_exception();
        }
        return nullptr;
    }

  private:
    AsyncResult<R> r_;
};

struct ProcessTarget {
    std::function<std::unique_ptr<ProcessRun>(Pool&)> on_pool;  // submit to a pinned pool
    std::function<void()> here;                                 // run on this thread
    std::vector<PipeEnd> ends;  // the pipe ends among its arguments, which it will hold
};

// The pipe end `a` is, if it is one that can be closed.
template <class A>
void collect_pipe_end(std::vector<PipeEnd>& ends, const A& a) {
    if constexpr (requires { a.pipe_end(); }) {
        const PipeEnd end = a.pipe_end();
        if (end.holders != 0) ends.push_back(end);
    }
}

struct ProcessState;

}  // namespace detail

class Process {
  public:
    template <class F, class... A>
    explicit Process(F&& f, A&&... args)
        : Process(make_target(std::forward<F>(f), std::forward<A>(args)...)) {}
    // Waits for a started process to end (a running target is not abandoned).
    ~Process();
    Process(Process&&) noexcept;
    Process& operator=(Process&&) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    void start();
    void join();
    // False if the timeout passed first. A negative timeout looks and returns at once, as in
    // Python.
    template <class Rep, class Period>
    bool join(std::chrono::duration<Rep, Period> timeout) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
        return join_for(std::max(ns, std::chrono::nanoseconds(0)));
    }
    bool is_alive() const;
    // None while running (or before start); 0 done, 1 the target threw, -15 terminated.
    std::optional<int> exitcode() const;
    const std::string& name() const;
    // Python's `p.name = ...`: the name it reports (current_process() in the target sees it
    // once started).
    void set_name(std::string name);
    // The worker rank it runs on; when it runs on a thread, the rank that started it (0 at the
    // top level); -1 before start.
    int rank() const;
    // The operating-system process id of the rank it runs on; none before start.
    std::optional<int> pid() const;
    void terminate();
    // Python's kill() sends SIGKILL; a target here shares its rank's process, so kill() is
    // terminate(): the target stops at its next mproc call.
    void kill() { terminate(); }
    // A daemon Process is terminated, not waited for, when its Process object is destroyed
    // (Python terminates daemons when their parent exits). Set before start().
    void set_daemon(bool daemon);
    bool daemon() const;

  private:
    explicit Process(detail::ProcessTarget target);
    bool join_for(std::chrono::nanoseconds timeout);

    template <class F, class... A>
    static detail::ProcessTarget make_target(F&& f, A&&... args) {
        std::decay_t<F> fn(f);  // a function pointer, or a copy of a registered callable
        auto saved = std::make_shared<std::tuple<std::decay_t<A>...>>(std::forward<A>(args)...);
        detail::ProcessTarget t;
        t.on_pool = [fn, saved](Pool& pool) -> std::unique_ptr<detail::ProcessRun> {
            return std::apply(
                [&](auto&... a) {
                    using R = detail::task_result_t<decltype(fn)>;
                    return std::unique_ptr<detail::ProcessRun>(
                        new detail::PoolRun<R>(pool.apply_async(fn, a...)));
                },
                *saved);
        };
        t.here = [fn, saved] { std::apply([&](auto&... a) { (void)fn(a...); }, *saved); };
        std::apply([&](const auto&... a) { (detail::collect_pipe_end(t.ends, a), ...); }, *saved);
        return t;
    }

    std::unique_ptr<detail::ProcessState> s_;
};

}  // namespace mproc
