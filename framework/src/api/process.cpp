// Process, current_process, sleep, and the interruption points behind terminate().
//
// A Process's target runs as a task on a one-rank Pool of its own: first a tiny task sets
// the worker's process context (its name and terminate flag, a shared Event), then the
// target, then a task that clears the context. The pool holds the rank until the end.

#include "mproc/process.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "base/interrupt.hpp"
#include "mproc/detail/pipe_ends.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "mproc/detail/ring_ops.hpp"
#include "mproc/detail/rma.hpp"
#include "runtime/runtime_state.hpp"
#include "transport/wait.hpp"

namespace mproc {
namespace detail {
namespace {

// A pipe end this process holds (pipe_ends.hpp), and whether it has let go of it.
struct PipeHold {
    PipeEnd end;
    bool released = false;
};

// What the target's thread knows about the Process it is running in.
struct ProcessContext {
    bool active = false;
    int number = 0;
    Event terminate_flag;
    std::string name;                  // "Process-N" unless set_name chose another
    std::vector<PipeHold> holds = {};  // let go of when the target ends
};

// Sent to the worker before the target (handles are plain bytes).
struct ContextWire {
    int number;
    Event terminate_flag;
};

thread_local std::optional<ProcessContext> t_context;

// The pipe ends held by this process outside any Process (rank 0's main code and its
// threads, or a pool task), shared by its threads as a process shares its descriptors.
std::mutex g_main_holds_mutex;
std::vector<PipeHold> g_main_holds;

// Lets go of one hold: the last holder closes the direction the end sends on.
void let_go(const PipeEnd& end) {
    const std::int64_t minus_one = -1;
    std::int64_t before = 0;
    rma_fetch_op(RmaType::i64, RmaOp::sum, &minus_one, &before, end.holders);
    if (before != 1) return;
    if (is_ring(end.send))
        ring_close(end.send);
    else
        queue_call(QueueOp::close, end.send, 0, {});
}

// Calls `fn(holds)` with the calling process's holds, under the lock they need.
template <class F>
void with_holds(F&& fn) {
    if (t_context && t_context->active) {
        fn(t_context->holds);
        return;
    }
    std::lock_guard lock(g_main_holds_mutex);
    fn(g_main_holds);
}

// One more holder, for each end a Process is about to start with.
void lend(const std::vector<PipeEnd>& ends) {
    const std::int64_t one = 1;
    for (const PipeEnd& end : ends) {
        std::int64_t before = 0;
        rma_fetch_op(RmaType::i64, RmaOp::sum, &one, &before, end.holders);
    }
}

// A Process's target has ended (or never started): its holds are let go of.
void release_holds(std::vector<PipeHold>& holds) {
    for (PipeHold& h : holds) {
        if (h.released) continue;
        h.released = true;
        try {
            let_go(h.end);
        } catch (const std::exception& e) {
            std::cerr << "mproc: closing a pipe end at the end of a Process failed: " << e.what()
                      << std::endl;
        }
    }
}

std::vector<PipeHold> holding(const std::vector<PipeEnd>& ends) {
    std::vector<PipeHold> holds;
    for (const PipeEnd& end : ends) holds.push_back({end});
    return holds;
}
std::atomic<int> g_next_number{1};
std::atomic<bool> g_warned_thread{false};

// Where the target runs: its rank, and that rank's process id.
std::pair<int, int> enter_process(ContextWire w) {
    const std::string name = "Process-" + std::to_string(w.number);
    t_context = ProcessContext{true, w.number, w.terminate_flag, name};
    set_interrupt_source({[flag = w.terminate_flag] { return flag.is_set(); }, name});
    return {runtime_info().rank, static_cast<int>(getpid())};
}
MPROC_TASK_AS("mproc.process.enter", enter_process);

// A name of the user's, sent after enter (a handle and a string do not travel together).
int name_process(std::string name) {
    if (t_context) t_context->name = std::move(name);
    return 0;
}
MPROC_TASK_AS("mproc.process.name", name_process);

// The Processes this process started and has not seen end, for active_children(): Process
// bookkeeping of this process, like the numbering above, not state of the MPI runtime.
std::mutex g_live_mutex;
std::set<ProcessState*> g_live;

// The pipe ends the Process was started with (holders, send pairs): the parent has already
// counted this Process among their holders.
int hold_pipe_ends(std::vector<std::uint64_t> pairs) {
    if (!t_context) return 0;
    for (std::size_t i = 0; i + 1 < pairs.size(); i += 2)
        t_context->holds.push_back({PipeEnd{pairs[i], pairs[i + 1]}});
    return 0;
}
MPROC_TASK_AS("mproc.process.hold", hold_pipe_ends);

int leave_process(int) {
    if (t_context) release_holds(t_context->holds);  // as a process's descriptors close at exit
    release_prefetched();  // items the target took ahead and did not use go back
    t_context.reset();
    set_interrupt_source({});
    confirm_given_back();  // and are back before the Process is seen to end
    return 0;
}
MPROC_TASK_AS("mproc.process.leave", leave_process);

void print_failure(const std::string& name, int rank, std::exception_ptr e) {
    std::string where = "on a thread of rank 0";
    try {
        std::rethrow_exception(e);
    } catch (const RemoteError& r) {
        where = "rank " + std::to_string(rank) + " on " + r.host();
    } catch (...) {
    }
    std::cerr << "mproc: " << name << " (" << where << ") failed: " << describe_exception(e)
              << std::endl;
}

}  // namespace

std::uint64_t pipe_end_open(std::uint64_t send) {
    const std::uint64_t holders = shared_alloc(8);
    const std::int64_t one = 1;
    rma_accumulate(RmaType::i64, RmaOp::replace, &one, 1, holders);
    with_holds([&](std::vector<PipeHold>& holds) { holds.push_back({PipeEnd{holders, send}}); });
    return holders;
}

void pipe_end_release(PipeEnd end) {
    bool first = true;
    with_holds([&](std::vector<PipeHold>& holds) {
        const auto it = std::find_if(holds.begin(), holds.end(), [&](const PipeHold& h) {
            return h.end.holders == end.holders;
        });
        if (it == holds.end()) {
            holds.push_back({end, true});  // borrowed: let go of once, as its holder would
        } else {
            first = !it->released;
            it->released = true;
        }
    });
    if (first) let_go(end);
}

struct ProcessState {
    ProcessTarget target;
    int number = g_next_number.fetch_add(1);
    std::string name = "Process-" + std::to_string(number);
    Event terminate_flag;
    bool started = false;
    int rank = -1;
    std::optional<int> pid;
    bool daemon = false;
    std::unique_ptr<Pool> pool;  // on a worker rank
    std::unique_ptr<ProcessRun> run;
    std::thread thread;       // or on a thread of rank 0
    std::mutex thread_mutex;  // guards thread_done
    std::condition_variable thread_ended;
    bool thread_done = false;
    std::exception_ptr thread_error;
    std::optional<int> exitcode;

    // Waits up to `timeout` (negative: as long as it takes) for the target to end; once it
    // has, records the outcome and frees its rank. True when it has ended.
    bool join_for(std::chrono::nanoseconds timeout) {
        if (exitcode) return true;
        if (run) {
            if (!run->wait_for(timeout)) return false;
            record_outcome(run->error());
            pool.reset();  // waits for the context to be cleared, and frees the rank
            return true;
        }
        {
            std::unique_lock lock(thread_mutex);
            const auto ended = [this] { return thread_done; };
            if (timeout < timeout.zero())
                thread_ended.wait(lock, ended);
            else if (!thread_ended.wait_for(lock, timeout, ended))
                return false;
        }
        thread.join();
        record_outcome(thread_error);
        return true;
    }

    void remember() {
        std::lock_guard lock(g_live_mutex);
        g_live.insert(this);
    }
    void forget() {
        std::lock_guard lock(g_live_mutex);
        g_live.erase(this);
    }
    ~ProcessState() { forget(); }

    // Records the outcome once the target has ended.
    void record_outcome(std::exception_ptr error) {
        if (exitcode) return;
        forget();
        if (!error) {
            exitcode = 0;
        } else if (terminate_flag.is_set()) {
            // Asked to end, and ended by an exception (Terminated at an interruption point,
            // or whatever unwinding from it raised): -15, as Python reports SIGTERM.
            exitcode = -15;
        } else {
            exitcode = 1;
            print_failure(name, rank, error);
        }
    }
};

}  // namespace detail

using namespace detail;

Process::Process(ProcessTarget target) : s_(std::make_unique<ProcessState>()) {
    s_->target = std::move(target);
}

Process::~Process() {
    if (s_ && s_->started) {
        try {
            if (s_->daemon) terminate();
            join();
        } catch (...) {
        }
    }
}

Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;

void Process::start() {
    if (s_->started) throw Error(s_->name + ": start() called twice");
    s_->started = true;
    const int here = runtime_info().rank;
    // The Process holds the pipe ends it is given, from now: a parent that closes its copy
    // right after start() must not close the end under the child.
    lend(s_->target.ends);
    try {
        // Pools (and so worker ranks for Processes) are rank 0's main code's to hand out.
        if (here == 0 && worker_count() > 0 && !in_process_context()) {
            try {
                s_->pool = std::make_unique<Pool>(1);
            } catch (const ResourceError&) {
                s_->pool.reset();  // every worker is busy: run here instead
            }
        }
        if (s_->pool) {
            const auto [rank, pid] =
                s_->pool->apply(enter_process, ContextWire{s_->number, s_->terminate_flag});
            s_->rank = rank;
            s_->pid = pid;
            if (s_->name != "Process-" + std::to_string(s_->number))
                (void)s_->pool->apply(name_process, s_->name);
            if (!s_->target.ends.empty()) {
                std::vector<std::uint64_t> pairs;
                for (const PipeEnd& end : s_->target.ends) {
                    pairs.push_back(end.holders);
                    pairs.push_back(end.send);
                }
                (void)s_->pool->apply(hold_pipe_ends, pairs);
            }
            s_->run = s_->target.on_pool(*s_->pool);
            s_->remember();
            (void)s_->pool->apply_async(leave_process, 0);
            s_->pool->close();
            return;
        }
    } catch (...) {
        // Not started after all: nothing is left for join() or the destructor to wait for,
        // and the holds lent to it go back.
        s_->run.reset();
        s_->pool.reset();
        s_->started = false;
        std::vector<PipeHold> lent = holding(s_->target.ends);
        release_holds(lent);
        throw;
    }
    if (here != 0) {
        if (!g_warned_thread.exchange(true))
            std::cerr << "mproc: " << s_->name << " was started on worker rank " << here
                      << ", inside a Process or a task; it runs on a thread of that rank (where "
                         "it cannot use queues, pipes or shared objects: start Processes from "
                         "rank 0's main code for that)"
                      << std::endl;
    } else if (!g_warned_thread.exchange(true)) {
        std::cerr << "mproc: no free worker rank for " << s_->name
                  << "; it runs on a thread of rank 0 (start more ranks to give each Process "
                     "its own)"
                  << std::endl;
    }
    s_->rank = here;
    s_->pid = static_cast<int>(getpid());
    s_->remember();
    ProcessState* s = s_.get();
    s_->thread = std::thread([s] {
        t_context =
            ProcessContext{true, s->number, s->terminate_flag, s->name, holding(s->target.ends)};
        set_interrupt_source({[flag = s->terminate_flag] { return flag.is_set(); }, s->name});
        try {
            s->target.here();
        } catch (...) {
            s->thread_error = std::current_exception();
        }
        release_holds(t_context->holds);
        try {
            release_prefetched();
        } catch (...) {
        }
        t_context.reset();
        set_interrupt_source({});
        {
            std::lock_guard lock(s->thread_mutex);
            s->thread_done = true;
        }
        s->thread_ended.notify_all();
    });
}

bool Process::join_for(std::chrono::nanoseconds timeout) {
    if (!s_->started) throw Error(s_->name + ": join() before start()");
    return s_->join_for(timeout);
}

void Process::join() {
    join_for(std::chrono::nanoseconds(-1));
}

// Both look without waiting, and reap a target that has ended (as Python's is_alive does).
bool Process::is_alive() const {
    return s_->started && !s_->join_for(std::chrono::nanoseconds(0));
}

std::optional<int> Process::exitcode() const {
    if (s_->started) s_->join_for(std::chrono::nanoseconds(0));
    return s_->exitcode;
}

const std::string& Process::name() const {
    return s_->name;
}

void Process::set_name(std::string name) {
    if (s_->started) throw Error(s_->name + ": set_name after start()");
    s_->name = std::move(name);
}

int Process::rank() const {
    return s_->rank;
}

std::optional<int> Process::pid() const {
    return s_->pid;
}

void Process::set_daemon(bool daemon) {
    if (s_->started) throw Error(s_->name + ": set_daemon after start()");
    s_->daemon = daemon;
}

bool Process::daemon() const {
    return s_->daemon;
}

void Process::terminate() {
    if (!s_->started || s_->exitcode) return;
    s_->terminate_flag.set();
}

ProcessInfo current_process() {
    const RuntimeInfo& info = runtime_info();
    std::string name;
    if (t_context && t_context->active) {
        name = t_context->name;
    } else if (info.rank == 0) {
        name = "MainProcess";
    } else {
        name = "PoolWorker-" + std::to_string(info.rank);
    }
    return ProcessInfo{name, info.rank, info.host, static_cast<int>(getpid())};
}

void sleep(std::chrono::nanoseconds d) {
    release_prefetched();
    check_interrupt();
    // Nothing to spin for: straight to sleeping, in steps that let a terminate() in. On the
    // MPI thread (a task at one rank) the wait serves rank 0's other threads meanwhile.
    static constexpr WaitPolicy kJustSleep{std::chrono::microseconds(0),
                                           std::chrono::microseconds(0)};
    const Waited waited = wait_until(
        [] { return false; },
        {.policy = kJustSleep,
         .deadline = std::chrono::steady_clock::now() + d,
         .interruptible = true,
         .sleep = [](std::chrono::microseconds step) { std::this_thread::sleep_for(step); }});
    if (waited == Waited::interrupted) throw_terminated();
}

std::vector<ProcessInfo> active_children() {
    std::vector<ProcessState*> live;
    {
        std::lock_guard lock(g_live_mutex);
        live.assign(g_live.begin(), g_live.end());
    }
    std::vector<ProcessInfo> children;
    const RuntimeInfo& info = runtime_info();
    for (ProcessState* s : live) {
        // As Python's, this joins those that have ended (which takes them off the list).
        if (s->join_for(std::chrono::nanoseconds(0))) continue;
        const auto& hosts = info.hosts;
        const std::string host = s->rank >= 0 && static_cast<std::size_t>(s->rank) < hosts.size()
                                     ? hosts[static_cast<std::size_t>(s->rank)]
                                     : info.host;
        children.emplace_back(s->name, s->rank, host, s->pid.value_or(-1));
    }
    return children;
}

int cpu_count() {
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace mproc
