// CallbackThread and a pool's count of outstanding work (mproc/detail/engine.hpp).

#include "mproc/detail/engine.hpp"
#include "mproc/error.hpp"

namespace mproc::detail {

CallbackThread::~CallbackThread() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void CallbackThread::post(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(fn));
        if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
    }
    cv_.notify_one();
}

void CallbackThread::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything posted has run
        auto fn = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        fn();
        lock.lock();
    }
}

Engine& PoolState::engine() const {
    if (engine_ == nullptr) throw Error("mproc: internal error: a ThreadPool has no pool engine");
    return *engine_;
}

void PoolState::add_outstanding() {
    std::lock_guard lock(mutex_);
    ++outstanding_;
}

void PoolState::settle_one() {
    bool idle;
    {
        std::lock_guard lock(mutex_);
        idle = --outstanding_ == 0;
    }
    if (idle) settled_.notify_all();
}

void PoolState::wait_settled() {
    std::unique_lock lock(mutex_);
    settled_.wait(lock, [this] { return outstanding_ == 0; });
}

}  // namespace mproc::detail
