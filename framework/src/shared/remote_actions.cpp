#include "shared/remote_actions.hpp"

#include <cstring>
#include <iostream>
#include <string>

#include "mproc/error.hpp"
#include "base/protocol.hpp"

namespace mproc::detail {

RemoteActions::RemoteActions(const Communicator& comm, MpiThread& mpi_thread, bool own_thread)
    : comm_(comm), mpi_thread_(mpi_thread) {
    if (own_thread) thread_ = std::thread([this] { job_thread(); });
}

RemoteActions::~RemoteActions() {
    if (!thread_.joinable()) return;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void RemoteActions::add(std::uint64_t key, std::function<void()> job) {
    std::lock_guard lock(mutex_);
    jobs_[key] = std::move(job);
    keeps_any_.store(true, std::memory_order_release);
}

std::function<void()> RemoteActions::find(std::uint64_t key) {
    std::lock_guard lock(mutex_);
    const auto it = jobs_.find(key);
    return it == jobs_.end() ? std::function<void()>{} : it->second;
}

bool RemoteActions::run_here(std::uint64_t key) {
    const std::function<void()> job = find(key);
    if (!job) return false;
    job();
    return true;
}

void RemoteActions::request(int owner, std::uint64_t key) {
    mpi_thread_.call([&] {
        check(MPI_Send(&key, sizeof key, MPI_BYTE, owner, kTagAction, comm_.get()), "MPI_Send");
    });
}

bool RemoteActions::poll() {
    // Only a rank that keeps a job is ever asked: the others never look (every poll is a
    // probe of MPI on a loop that runs per result).
    if (!keeps_any_.load(std::memory_order_acquire)) return false;
    return receive_arrived(comm_.get(), kTagAction, receive_, 16,
                           [&](Arrival arrival) { take(receive_, arrival.source); });
}

void RemoteActions::take(const std::vector<char>& message, int source) {
    std::uint64_t key = 0;
    if (message.size() != sizeof key) {
        std::cerr << "mproc: ignored a malformed action request from rank " << source << " ("
                  << message.size() << " bytes)" << std::endl;
        return;
    }
    std::memcpy(&key, message.data(), sizeof key);
    if (thread_.joinable()) {
        {
            std::lock_guard lock(mutex_);
            requested_.push_back(key);
        }
        wake_.notify_one();
    } else {
        run_requested(key);
    }
}

void RemoteActions::run_requested(std::uint64_t key) {
    try {
        if (!run_here(key))
            std::cerr << "mproc: rank " << comm_.rank() << " was asked to run an action it does "
                      << "not keep (is every rank running the same program?)" << std::endl;
    } catch (...) {
        // Nobody waits here for its outcome; the job has done its own clean-up (a Barrier
        // breaks), so what is left is to say why.
        std::cerr << "mproc: an action run on rank " << comm_.rank() << " threw "
                  << describe_exception(std::current_exception()) << std::endl;
    }
}

void RemoteActions::job_thread() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !requested_.empty(); });
        if (requested_.empty()) return;  // stopping, with nothing left to run
        const std::uint64_t key = requested_.front();
        requested_.pop_front();
        lock.unlock();
        run_requested(key);
        lock.lock();
    }
}

}  // namespace mproc::detail
