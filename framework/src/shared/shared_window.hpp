#pragma once
// The MPI window under every shared object (see mproc/detail/rma.hpp): opened collectively
// on every rank when the runtime starts, freed when it ends. Each rank's part holds its
// table of queue-lock nodes; rank 0's part also holds the arena where shared objects live.
// Any thread may use it: the MPI thread makes the calls itself, rank 0's other threads hand
// them to the MPI thread (MpiThread::call).

#include <mpi.h>

#include <atomic>
#include <cstdint>

#include "transport/mpi_thread.hpp"
#include "mproc/detail/rma.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

// Queue nodes per rank: locks held or awaited, and condition waits, at once on one rank.
inline constexpr int kNodesPerRank = 1024;
inline constexpr std::uint64_t kNodeBytes = 8;  // int32 next, int32 flag

class SharedWindow {
  public:
    // Collective over `comm`. `arena_bytes` matters on rank 0 only.
    SharedWindow(const Communicator& comm, MpiThread& mpi_thread, std::uint64_t arena_bytes);
    ~SharedWindow();
    SharedWindow(const SharedWindow&) = delete;
    SharedWindow& operator=(const SharedWindow&) = delete;

    int rank() const noexcept { return rank_; }
    // Where the object at arena `offset` is in rank 0's part; an Error for offset 0, which
    // only an empty handle names.
    static std::uint64_t arena_disp(std::uint64_t offset);
    // Where the arena header's word at byte `word` (0: next free, 8: capacity) is.
    static std::uint64_t header_disp(std::uint64_t word);
    // The arena's size in bytes (only rank 0 knows it from the start; the arena's header
    // holds it for the others).
    std::uint64_t arena_capacity();

    // Operations on any rank's part; each is complete (flushed) when it returns.
    void fetch_op(RmaType type, RmaOp op, const void* operand, void* result, int rank,
                  std::uint64_t disp);
    void accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count, int rank,
                    std::uint64_t disp);
    void load(RmaType type, void* result, std::size_t count, int rank, std::uint64_t disp);
    void compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      int rank, std::uint64_t disp);

    // 32-bit conveniences for lock words and queue nodes.
    std::int32_t load32(int rank, std::uint64_t disp);
    void store32(int rank, std::uint64_t disp, std::int32_t value);
    std::int32_t swap32(int rank, std::uint64_t disp, std::int32_t value);
    std::int32_t add32(int rank, std::uint64_t disp, std::int32_t delta);  // returns the old
    std::int32_t cas32(int rank, std::uint64_t disp, std::int32_t expected, std::int32_t desired);

  private:
    std::int32_t fetch_op32(RmaOp op, int rank, std::uint64_t disp, std::int32_t operand);

    MpiThread& mpi_thread_;
    MPI_Win win_ = MPI_WIN_NULL;
    int rank_ = 0;
    std::atomic<std::uint64_t> capacity_{0};  // 0: not read yet
};

}  // namespace mproc::detail
