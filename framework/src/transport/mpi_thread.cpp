#include "transport/mpi_thread.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <future>
#include <thread>

#include "mproc/error.hpp"
#include "transport/wait.hpp"

namespace mproc::detail {
namespace {

thread_local MpiThread* t_mpi_thread = nullptr;

// Asks the kernel to run the calling thread in slices of 100 µs instead of its default (1.4 ms
// on a 2-core machine): under EEVDF (Linux 6.12 on) a thread with a shorter slice has an earlier
// deadline, so when it wakes it gets a core before the long-slice threads woken with it. For the
// loops that feed others (rank 0's, a group leader's: MpiThread::loop), which are short and
// latency-bound: on a node with more ranks than cores, a burst of workers' wake-ups otherwise
// keeps them waiting for a core for a millisecond and more after every wake-up, and every worker
// waits with them.
void ask_for_short_slices() noexcept {
    // The kernel's struct sched_attr (linux/sched/types.h), of which glibc has no declaration.
    struct {
        std::uint32_t size, policy;
        std::uint64_t flags;
        std::int32_t nice;
        std::uint32_t priority;
        std::uint64_t runtime, deadline, period;
    } attr{};
    attr.size = sizeof attr;
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0 || attr.policy != SCHED_OTHER)
        return;
    attr.runtime = 100'000;  // ns
    // SCHED_FLAG_RESET_ON_FORK: threads and processes started from here (a task's children at
    // one rank) keep the default slice.
    attr.flags = 0x01;
    // Kernels before 6.12 keep no slice for SCHED_OTHER and ignore it: nothing changes there.
    (void)syscall(SYS_sched_setattr, 0, &attr, 0);
}

}  // namespace

void tighten_timer_slack() noexcept {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

MpiThread::MpiThread(bool serves_calls) : serves_calls_(serves_calls) {
    t_mpi_thread = this;
}

MpiThread::~MpiThread() {
    if (t_mpi_thread == this) t_mpi_thread = nullptr;
}

MpiThread* MpiThread::here() noexcept {
    return t_mpi_thread;
}

void MpiThread::refuse_foreign_thread() const {
    if (!serves_calls_)
        throw Error(
            "mproc queues, pipes and shared objects are used from the task's own thread "
            "on worker ranks, not from threads it starts");
}

void MpiThread::enqueue(Queue& queue, std::atomic<bool>& pending, std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        queue.push_back(std::move(fn));
        pending.store(true, std::memory_order_release);
    }
    wake_.notify_one();
}

bool MpiThread::drain(Queue& queue, std::atomic<bool>& pending) {
    if (!pending.load(std::memory_order_acquire)) return false;
    Queue batch;
    {
        std::lock_guard lock(mutex_);
        batch.swap(queue);
        pending.store(false, std::memory_order_release);
    }
    for (auto& fn : batch) fn();
    return true;
}

void MpiThread::post(std::function<void()> fn) {
    refuse_foreign_thread();
    enqueue(posted_, has_posted_, std::move(fn));
}

void MpiThread::post_call(std::function<void()> fn) {
    refuse_foreign_thread();
    enqueue(calls_, has_calls_, std::move(fn));
}

void MpiThread::call_from_other_thread(const std::function<void()>& fn) {
    std::promise<void> done;
    post_call([&] {
        try {
            fn();
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    done.get_future().get();
}

bool MpiThread::run_calls() {
    return drain(calls_, has_calls_);
}

void MpiThread::nudge() {
    if (!sleeping_.load(std::memory_order_acquire)) return;
    {
        // Under the mutex, so the flag cannot be set between the sleeper's check and its wait.
        std::lock_guard lock(mutex_);
        nudged_ = true;
    }
    wake_.notify_one();
}

void MpiThread::sleep(micros d) {
    std::unique_lock lock(mutex_);
    sleeping_.store(true, std::memory_order_release);
    wake_.wait_for(lock, d, [this] {
        return has_posted_.load(std::memory_order_relaxed) ||
               has_calls_.load(std::memory_order_relaxed) || nudged_;
    });
    nudged_ = false;
    sleeping_.store(false, std::memory_order_release);
}

void MpiThread::loop(std::span<Service* const> services, const std::function<bool()>& done,
                     Sleeps sleeps) {
    // Here, not when the thread became the MPI thread: threads it started before (rank 0's
    // user thread) keep the default slack, so their short naps (an imap reader's) batch up.
    tighten_timer_slack();
    ask_for_short_slices();
    Backoff backoff(kHandOver);
    for (;;) {
        bool progressed = run_calls();
        progressed |= drain(posted_, has_posted_);
        for (Service* s : services) progressed |= s->poll();
        if (done()) return;
        if (progressed) {
            backoff.reset();
            continue;
        }
        // The services say how long they can be left alone; with nothing expected, sleep until
        // something is posted (or sleeps.idle passes, so MPI keeps being progressed).
        std::optional<Patience> patience;
        for (Service* s : services) {
            const auto p = s->poll_again_in();
            if (!p) continue;
            if (!patience)
                patience = p;
            else
                patience = {std::min(patience->wait, p->wait), patience->sure && p->sure};
        }
        if (!patience) {
            sleep(sleeps.idle);
            backoff.reset();
            continue;
        }
        const auto cap =
            std::min(sleeps.longest, std::chrono::duration_cast<micros>(patience->wait));
        // Nothing for far longer than the services expected (4×, and at least a millisecond:
        // a worker descheduled, an estimate gone stale): ordinary backoff, whatever they say.
        backoff.mark_idle();
        const bool overdue =
            backoff.idle_for() >
            std::max<Clock::duration>(4 * patience->wait, std::chrono::milliseconds(1));
        if (overdue) {
            backoff.pause([this](micros d) { sleep(d); }, sleeps.idle);
            continue;
        }
        // Shorter than a sleep can be timed: poll, yielding the core between polls.
        if (cap < micros(50)) {
            sched_yield();
            continue;
        }
        // Long and sure: polling before it would only burn the core (results of 2 ms tasks
        // from 32 workers: 50 µs of rank 0's CPU per task when it polled, yielding, between
        // results; 3.5 µs when it sleeps).
        if (patience->sure && cap >= micros(200)) {
            sleep(cap);
            continue;
        }
        backoff.pause([this](micros d) { sleep(d); }, cap);
    }
}

}  // namespace mproc::detail
