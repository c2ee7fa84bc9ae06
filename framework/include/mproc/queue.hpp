#pragma once
// mproc::Queue and JoinableQueue: Python's multiprocessing queues across MPI ranks.
//
//     mproc::Queue<std::string> q;            // in the parent; a handle is a few bytes
//     // in a Process or task, on any rank:
//     q.put("work");  auto item = q.get();   // blocking; put(x, timeout), get(timeout), _nowait
//
// Items are any serializable T. The queue itself lives on rank 0 (its queue service keeps the
// items and who waits for them), so many producers and consumers on any ranks see one FIFO
// (per producer), no item is lost or delivered twice, and `maxsize` holds producers back.
// See detail/queue_ops.hpp.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "mproc/detail/queue_ops.hpp"
#include "mproc/detail/serialize.hpp"
#include "mproc/error.hpp"

namespace mproc {
namespace detail {

template <class T>
std::vector<char> pack_item(const T& x) {
    std::vector<char> out;
    Packer<T> packer(out);
    packer.put(x);
    packer.finish();
    return out;
}

template <class T>
T unpack_item(const std::vector<char>& bytes) {
    Unpacker<T> unpacker(bytes.data(), bytes.size());
    return unpacker.get();
}

template <class Rep, class Period>
std::chrono::nanoseconds queue_timeout(std::chrono::duration<Rep, Period> d) {
    return std::max(std::chrono::nanoseconds(0),
                    std::chrono::duration_cast<std::chrono::nanoseconds>(d));
}

inline constexpr std::chrono::nanoseconds kWaitForever{-1};

}  // namespace detail

template <class T>
class Queue {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    // maxsize 0: unbounded.
    explicit Queue(std::uint32_t maxsize = 0) : id_(detail::new_queue_id()), maxsize_(maxsize) {}

    void put(const T& x) { put_for(x, detail::kWaitForever); }
    // Throws Full if there is no room within `timeout`.
    template <class Rep, class Period>
    void put(const T& x, std::chrono::duration<Rep, Period> timeout) {
        put_for(x, detail::queue_timeout(timeout));
    }
    void put_nowait(const T& x) { put_for(x, std::chrono::nanoseconds(0)); }

    T get() { return get_for(detail::kWaitForever); }
    // Throws Empty if nothing comes within `timeout`.
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get_for(detail::queue_timeout(timeout));
    }
    T get_nowait() { return get_for(std::chrono::nanoseconds(0)); }

    // Snapshots, as in Python: another rank may change them at once.
    std::size_t qsize() const {
        detail::release_prefetched();
        return detail::queue_call(detail::QueueOp::size, id_, maxsize_, {}).value;
    }
    bool empty() const { return qsize() == 0; }
    bool full() const { return maxsize_ > 0 && qsize() >= maxsize_; }
    std::uint32_t maxsize() const { return maxsize_; }

    // This handle puts no more (Python: this process will put no more); gets still work.
    void close() { closed_ = true; }

  protected:
    std::uint64_t id_;

  private:
    void put_for(const T& x, std::chrono::nanoseconds timeout) {
        if (closed_) throw Error("Queue::put on a closed queue");
        const auto bytes = detail::pack_item(x);
        // An unbounded queue always has room: the item is sent and put() returns, as
        // Python's put() hands the item to a feeder thread.
        if (maxsize_ == 0) {
            detail::queue_call(detail::QueueOp::push, id_, 0, {}, &bytes);
            return;
        }
        const auto r = detail::queue_call(detail::QueueOp::put, id_, maxsize_, timeout, &bytes);
        if (r.status == detail::QueueStatus::timeout) throw Full("Queue::put: the queue is full");
    }
    T get_for(std::chrono::nanoseconds timeout) {
        bool timed_out = false;
        const auto bytes = detail::queue_get(id_, maxsize_, timeout, timed_out);
        if (timed_out) throw Empty("Queue::get: the queue is empty");
        return detail::unpack_item<T>(bytes);
    }

    std::uint32_t maxsize_;
    bool closed_ = false;
};

// A Queue whose consumers report each item done, so a producer can wait for all of them.
template <class T>
class JoinableQueue : public Queue<T> {
  public:
    using Queue<T>::Queue;

    // Marks one item taken with get() as fully handled.
    void task_done() {
        const auto r = detail::queue_call(detail::QueueOp::task_done, this->id_, 0, {});
        if (r.status == detail::QueueStatus::misuse)
            throw Error("JoinableQueue::task_done called more times than items were put");
    }
    // Waits until every item ever put has been task_done.
    void join() { detail::queue_call(detail::QueueOp::join, this->id_, 0, detail::kWaitForever); }
};

}  // namespace mproc
