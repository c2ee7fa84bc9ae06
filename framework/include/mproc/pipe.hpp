#pragma once
// mproc::Pipe: Python's multiprocessing.Pipe across MPI ranks.
//
//     auto [a, b] = mproc::Pipe<std::string>();   // two ends, handed to two processes
//     a.send("ping");  b.recv();                  // b.poll(timeout) waits without taking
//     a.close();       // b.recv() then drains what was sent and throws EOFError
//
// Each direction is a ring in node memory (ring_ops.hpp) or a queue on rank 0 (queue.hpp).
// Closing an end lets go of this process's hold on it; once every process holding it has
// (see pipe_ends.hpp), the direction it sends on closes, and the other end sees the end of
// the stream once it has read everything.

#include <chrono>
#include <string>
#include <utility>

#include "mproc/detail/pipe_ends.hpp"
#include "mproc/detail/ring_ops.hpp"
#include "mproc/queue.hpp"

namespace mproc {

template <class T>
class Connection {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    // An empty end, to assign one from Pipe() to (in a container, say); using it is an Error.
    Connection() = default;

    void send(const T& x) {
        require_end("send");
        if (send_ == 0) throw Error("Connection::send on the receiving end of a one-way Pipe");
        if (closed_) throw Error("Connection::send on a closed connection");
        const auto bytes = detail::pack_item(x);
        if (detail::is_ring(send_)) {
            detail::ring_send(send_, bytes);
            return;
        }
        detail::queue_call(detail::QueueOp::push, send_, 0, {}, &bytes);  // no reply to wait for
    }
    // Throws EOFError once the other end is closed and everything it sent has been read.
    T recv() {
        require_end("recv");
        if (recv_ == 0) throw Error("Connection::recv on the sending end of a one-way Pipe");
        if (closed_) throw Error("Connection::recv on a closed connection");
        if (detail::is_ring(recv_)) {
            std::vector<char> bytes;
            if (!detail::ring_recv(recv_, bytes))
                throw EOFError("Connection::recv: the other end is closed and nothing is left");
            return detail::unpack_item<T>(bytes);
        }
        auto r = detail::queue_call(detail::QueueOp::get, recv_, 0, detail::kWaitForever);
        if (r.status == detail::QueueStatus::closed)
            throw EOFError("Connection::recv: the other end is closed and nothing is left");
        return detail::unpack_item<T>(r.payload);
    }
    // Whether something can be read (or the end of the stream reached) within `timeout`.
    template <class Rep = long, class Period = std::ratio<1>>
    bool poll(std::chrono::duration<Rep, Period> timeout = std::chrono::seconds(0)) {
        require_end("poll");
        if (recv_ == 0) throw Error("Connection::poll on the sending end of a one-way Pipe");
        if (closed_) throw Error("Connection::poll on a closed connection");
        if (detail::is_ring(recv_)) return detail::ring_poll(recv_, detail::queue_timeout(timeout));
        const auto r =
            detail::queue_call(detail::QueueOp::poll, recv_, 0, detail::queue_timeout(timeout));
        return r.status == detail::QueueStatus::ok;
    }
    // Closes this copy, and lets go of this process's hold on the end: once every process
    // holding it has let go, the other end's recv sees the end of the stream after draining.
    void close() {
        if (closed_) return;
        closed_ = true;
        if (holders_ != 0) detail::pipe_end_release(pipe_end());
    }
    bool closed() const { return closed_; }

    // For mproc: who holds this end, and what it sends on.
    detail::PipeEnd pipe_end() const { return {holders_, send_}; }

  private:
    template <class U>
    friend std::pair<Connection<U>, Connection<U>> Pipe(bool duplex);
    Connection(std::uint64_t send, std::uint64_t recv)
        : send_(send), recv_(recv), holders_(send != 0 ? detail::pipe_end_open(send) : 0) {}

    void require_end(const char* what) const {
        if (send_ == 0 && recv_ == 0)
            throw Error(std::string("Connection::") + what +
                        " on an empty Connection (default-constructed): assign an end of a Pipe "
                        "to it first");
    }

    // The ring or queue this end sends on and receives from (0: none), and its holder count.
    std::uint64_t send_ = 0, recv_ = 0, holders_ = 0;
    bool closed_ = false;
};

// Two connected ends. duplex = false: the first end only receives, the second only sends.
template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex = true) {
    // A ring in node memory when there can be one, else a queue on rank 0.
    const auto direction = [] {
        const std::uint64_t ring = detail::new_ring();
        return ring != 0 ? ring : detail::new_queue_id();
    };
    const std::uint64_t ab = direction();
    if (!duplex) return {Connection<T>(0, ab), Connection<T>(ab, 0)};
    const std::uint64_t ba = direction();
    return {Connection<T>(ab, ba), Connection<T>(ba, ab)};
}

}  // namespace mproc
