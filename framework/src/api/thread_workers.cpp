// The threads under mproc::ThreadPool (mproc/thread_pool.hpp), and its out-of-line members.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/execute.hpp"
#include "mproc/process.hpp"
#include "mproc/thread_pool.hpp"
#include "runtime/runtime_state.hpp"

namespace mproc {
namespace detail {

std::exception_ptr current_task_error(const std::string& task, std::optional<std::uint64_t> index) {
    TaskFailure f = describe_current_exception();
    const RuntimeInfo& info = runtime_info();
    return std::make_exception_ptr(
        RemoteError(task, f.type_name, f.message, info.rank, info.host, index));
}

struct ThreadWorkers::State {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Work> queued;  // guarded by mutex
    bool stopping = false;    // guarded by mutex
    std::vector<std::thread> threads;

    // Runs what is queued, in order, until stopping with nothing left (work.run catches the
    // task's own exceptions).
    void serve() {
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return stopping || !queued.empty(); });
            if (queued.empty()) return;
            Work item = std::move(queued.front());
            queued.pop_front();
            lock.unlock();
            item.run();
            lock.lock();
        }
    }
};

ThreadWorkers::ThreadWorkers(int threads, const std::function<void()>& initializer)
    : size_(threads), s_(std::make_unique<State>()) {
    // Each thread runs the initializer (its thread_locals are the tasks' too), then serves.
    // Work is taken only once every initializer has run; if one threw, the threads end.
    int initialized = 0;
    std::exception_ptr init_error;
    for (int i = 0; i < threads; ++i)
        s_->threads.emplace_back([this, &initializer, &initialized, &init_error] {
            std::exception_ptr error;
            if (initializer) {
                try {
                    initializer();
                } catch (...) {
                    error = std::current_exception();
                }
            }
            {
                std::lock_guard lock(s_->mutex);
                if (error && !init_error) init_error = error;
                ++initialized;
            }
            s_->wake.notify_all();
            s_->serve();
        });
    {
        std::unique_lock lock(s_->mutex);
        s_->wake.wait(lock, [&] { return initialized == threads; });
        if (init_error) s_->stopping = true;
    }
    if (init_error) {
        s_->wake.notify_all();
        for (auto& t : s_->threads) t.join();
        std::rethrow_exception(init_error);
    }
}

ThreadWorkers::~ThreadWorkers() {
    {
        std::lock_guard lock(s_->mutex);
        s_->stopping = true;
    }
    s_->wake.notify_all();
    for (auto& t : s_->threads) t.join();
    // callbacks_ then runs the callbacks the last tasks posted, and ends.
}

void ThreadWorkers::add(Work work) {
    {
        std::lock_guard lock(s_->mutex);
        s_->queued.push_back(std::move(work));
    }
    s_->wake.notify_all();
}

void ThreadWorkers::drop_queued() {
    std::deque<Work> dropped;
    {
        std::lock_guard lock(s_->mutex);
        dropped.swap(s_->queued);
    }
    for (Work& w : dropped) w.drop();
}

}  // namespace detail

ThreadPool::ThreadPool(int processes, const std::function<void()>& initializer)
    : workers_(std::make_unique<detail::ThreadWorkers>(
          life_.checked_size(processes, "threads", "cpu_count()") > 0 ? processes : cpu_count(),
          initializer)),
      settled_(std::make_shared<detail::PoolState>(nullptr, workers_->callbacks())) {}

ThreadPool::~ThreadPool() {
    life_.end([this] { join(); });
    workers_.reset();  // running tasks finish; nothing queued is left after join or terminate
}

void ThreadPool::terminate() {
    life_.terminate();
    workers_->drop_queued();
}

void ThreadPool::join() {
    life_.check_joinable();
    settled_->wait_settled();
}

}  // namespace mproc
