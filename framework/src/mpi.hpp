#pragma once
// The one place MPI return codes are checked, and the RAII owner of mproc's communicator.

#include <mpi.h>

#include <optional>
#include <string>
#include <vector>

#include "mproc/error.hpp"

namespace mproc::detail {

std::string mpi_error_string(int code);

// Throws MpiError naming `routine` when `code` is not MPI_SUCCESS.
inline void check(int code, const char* routine) {
    if (code != MPI_SUCCESS) throw MpiError(routine, code, mpi_error_string(code));
}

// Where a message came from, and with which tag.
struct Arrival {
    int source = 0;
    int tag = 0;
};

// Receives the next message matching (`source`, `tag`) — either may be MPI_ANY_SOURCE or
// MPI_ANY_TAG — into `into`, resized to its length, if one has arrived; nullopt if none has.
// One MPI_Improbe + MPI_Mrecv, so the size and the bytes are always the same message's
// (never "size first, then payload", which another message could overtake). Every call is
// checked.
std::optional<Arrival> try_receive(MPI_Comm comm, int source, int tag, std::vector<char>& into);

// A duplicate of MPI_COMM_WORLD, so mproc's messages never meet the program's own.
class Communicator {
  public:
    Communicator();
    ~Communicator();
    Communicator(const Communicator&) = delete;
    Communicator& operator=(const Communicator&) = delete;
    Communicator(Communicator&&) = delete;  // one owner for the communicator's whole life
    Communicator& operator=(Communicator&&) = delete;

    MPI_Comm get() const noexcept { return comm_; }
    int rank() const noexcept { return rank_; }
    int size() const noexcept { return size_; }

  private:
    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0;
    int size_ = 1;
};

}  // namespace mproc::detail
