#pragma once
// The transport under everything that sends a message: the one place MPI return codes are
// checked, the one receive, the send that owns its buffer, and the RAII owner of each
// communicator mproc uses.

#include <mpi.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/protocol.hpp"
#include "mproc/error.hpp"

namespace mproc::detail {

std::string mpi_error_string(int code);

// Throws MpiError naming `routine` when `code` is not MPI_SUCCESS.
inline void check(int code, const char* routine) {
    if (code != MPI_SUCCESS) throw MpiError(routine, code, mpi_error_string(code));
}

// Throws Error when a message of `bytes` would be over kMaxMessageBytes, naming `what` it
// carries, so that one oversized item fails its own operation instead of the whole job.
// Inline and string-free until it fails: every send asks.
[[noreturn]] void throw_message_too_large(std::size_t bytes, const char* what);
inline void check_message_size(std::size_t bytes, const char* what) {
    if (bytes > kMaxMessageBytes) throw_message_too_large(bytes, what);
}

// Where a message came from, and with which tag.
struct Arrival {
    int source = 0;
    int tag = 0;
};

// Receives the next message matching (`source`, `tag`) — either may be MPI_ANY_SOURCE or
// MPI_ANY_TAG — into `into`, resized to its length, if one has arrived; nullopt if none has.
// One MPI_Improbe + MPI_Mrecv, so the size and the bytes are always the same message's
// (never "size first, then payload", which another message could overtake).
std::optional<Arrival> try_receive(MPI_Comm comm, int source, int tag, std::vector<char>& into);

// Receives the messages with `tag` from any source that have arrived, up to `most` (so a
// poll never starves the caller's other work), into `into`, calling `handle(arrival)` after
// each. True if there was any.
template <class Handle>
bool receive_arrived(MPI_Comm comm, int tag, std::vector<char>& into, int most, Handle&& handle) {
    int n = 0;
    for (; n < most; ++n) {
        const auto arrival = try_receive(comm, MPI_ANY_SOURCE, tag, into);
        if (!arrival) break;
        handle(*arrival);
    }
    return n > 0;
}

// A message on its way out, with the buffer it is sent from: the buffer lives (and is not
// touched) until the send has completed. Reusable once done.
class Send {
  public:
    Send() = default;
    ~Send();  // waits for a send still in flight: MPI reads the buffer until then
    Send(const Send&) = delete;
    Send& operator=(const Send&) = delete;

    std::vector<char> buffer;

    // Sends `buffer` without waiting (MPI_Isend). The previous send must be done.
    void start(MPI_Comm comm, int dest, int tag);
    // Whether the send has completed (or none was started).
    bool done();
    // Waits for the send to complete.
    void wait();

  private:
    MPI_Request request_ = MPI_REQUEST_NULL;
};

// The messages a rank has on their way out, oldest first, and the buffers of those that have
// gone, which serve the next ones (a buffer of over 1 MiB is given back instead of kept).
class Sends {
  public:
    // An empty buffer to fill: one a finished send left, where there is one.
    std::vector<char> take_buffer();
    // Sends `message` to `dest` with `tag` (MPI_Isend) and keeps it until MPI is done with it.
    void start(MPI_Comm comm, int dest, int tag, std::vector<char> message);
    // Whether every message has gone.
    bool drained();

  private:
    // Moves the sends at the front that have completed to the spares.
    void recycle();

    std::deque<std::unique_ptr<Send>> sending_;
    std::vector<std::unique_ptr<Send>> idle_;  // no message: ready to carry the next
    std::vector<std::vector<char>> free_;      // empty, with their capacity
};

// A communicator of mproc's own, so mproc's messages never meet the program's.
class Communicator {
  public:
    // A duplicate of MPI_COMM_WORLD.
    Communicator();
    // The ranks of `comm` on this rank's node (MPI_COMM_TYPE_SHARED).
    struct NodeOf {
        const Communicator& comm;
    };
    explicit Communicator(NodeOf node);
    ~Communicator();
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;
    Communicator(Communicator&&) = delete;  // one owner for the communicator's whole life
    Communicator& operator=(Communicator&&) = delete;

    MPI_Comm get() const noexcept { return comm_; }
    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }

  private:
    void describe();

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0;
    int size_ = 1;
};

}  // namespace mproc::detail
