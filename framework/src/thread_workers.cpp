// The threads under mproc::ThreadPool (mproc/thread_pool.hpp), and its out-of-line members.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "mproc/process.hpp"
#include "mproc/thread_pool.hpp"

namespace mproc {
namespace detail {

struct ThreadWorkers::State {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Work> queued;                      // guarded by mutex
    std::deque<std::function<void()>> callbacks;  // guarded by mutex
    bool stopping = false;                        // guarded by mutex
    std::vector<std::thread> threads;
    std::thread callback_thread;

    // Runs what `queue` holds, in order, until `stop` with nothing left: the workers' loop
    // (work.run catches the task's own exceptions) and the callbacks' (the result state
    // catches what a callback throws; one thread, in the order results settled, as the Pool's).
    template <class Item, class Run>
    void drain(std::deque<Item>& queue, const bool& stop, Run&& run) {
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return stop || !queue.empty(); });
            if (queue.empty()) return;
            Item item = std::move(queue.front());
            queue.pop_front();
            lock.unlock();
            run(item);
            lock.lock();
        }
    }
    void serve() {
        drain(queued, stopping, [](Work& w) { w.run(); });
    }
    void serve_callbacks() {
        drain(callbacks, stopping_callbacks, [](std::function<void()>& fn) { fn(); });
    }
    bool stopping_callbacks = false;  // guarded by mutex
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
    s_->callback_thread = std::thread([s = s_.get()] { s->serve_callbacks(); });
}

ThreadWorkers::~ThreadWorkers() {
    {
        std::lock_guard lock(s_->mutex);
        s_->stopping = true;
    }
    s_->wake.notify_all();
    for (auto& t : s_->threads) t.join();
    {
        std::lock_guard lock(s_->mutex);
        s_->stopping_callbacks = true;
    }
    s_->wake.notify_all();
    s_->callback_thread.join();
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

void ThreadWorkers::post_callback(std::function<void()> fn) {
    {
        std::lock_guard lock(s_->mutex);
        s_->callbacks.push_back(std::move(fn));
    }
    s_->wake.notify_all();
}

}  // namespace detail

ThreadPool::ThreadPool(int processes, const std::function<void()>& initializer)
    : settled_(std::make_shared<detail::PoolState>()) {
    if (processes < 0)
        throw ValueError("ThreadPool(" + std::to_string(processes) +
                         "): the number of threads must be at least 1, or 0 for cpu_count()");
    workers_ = std::make_unique<detail::ThreadWorkers>(processes > 0 ? processes : cpu_count(),
                                                       initializer);
}

ThreadPool::~ThreadPool() {
    try {
        if (!terminated_) {
            close();
            join();
        }
    } catch (...) {
    }
    workers_.reset();  // running tasks finish; nothing queued is left after join or terminate
}

void ThreadPool::check_open() const {
    if (terminated_) throw PoolClosed("ThreadPool: the pool was terminated");
    if (closed_) throw PoolClosed("ThreadPool: the pool is closed");
}

void ThreadPool::terminate() {
    closed_ = terminated_ = true;
    workers_->drop_queued();
}

void ThreadPool::join() {
    if (!closed_) throw Error("ThreadPool::join: call close() or terminate() first");
    settled_->wait_settled();
}

}  // namespace mproc
