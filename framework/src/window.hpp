#pragma once
// The shared window's internals (see mproc/detail/rma.hpp): opened by mproc::run on every
// rank, and the rank-targeted operations the lock algorithms need.

#include <mpi.h>

#include <cstdint>

#include "mproc/detail/rma.hpp"

namespace mproc::detail {

// Queue nodes per rank: locks held or awaited, and condition waits, at once on one rank.
inline constexpr int kNodesPerRank = 1024;
inline constexpr std::uint64_t kNodeBytes = 8;  // int32 next, int32 flag

// Collective over `comm`: every rank calls it once at start-up, and close at the end.
void open_shared_window(MPI_Comm comm);
void close_shared_window();

int window_rank();
// Whether the calling thread may call MPI (a worker's thread, rank 0's engine).
bool on_mpi_thread();
// mproc's communicator (a duplicate of MPI_COMM_WORLD).
MPI_Comm mproc_comm();
// The ranks on this rank's node (MPI_COMM_TYPE_SHARED), from the window's start-up.
MPI_Comm node_comm();
// The environment variable `name` as a number of bytes (at least `min`), or `fallback` when
// it is unset; otherwise an Error naming it and `what` it sizes.
std::uint64_t bytes_from_env(const char* name, std::uint64_t fallback, std::uint64_t min,
                             const char* what);
// Whether ranks of the window are on other nodes, where operations need the target to call
// MPI to complete (osc/pt2pt).
bool shared_window_needs_target_progress();
// Called by every wait loop: on rank 0's engine thread (a task running there at one rank),
// serves the MPI operations other threads of rank 0 are waiting for, which the engine
// cannot do while it is stuck in the task.
void serve_engine_calls();
// Where arena `offset` is in rank 0's part of the window.
std::uint64_t arena_disp(std::uint64_t offset);

// Operations on any rank's part; each is complete (flushed) when it returns.
void win_fetch_op(RmaType type, RmaOp op, const void* operand, void* result, int rank,
                  std::uint64_t disp);
void win_accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count, int rank,
                    std::uint64_t disp);
void win_load(RmaType type, void* result, std::size_t count, int rank, std::uint64_t disp);
void win_compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      int rank, std::uint64_t disp);

// 32-bit conveniences for lock words and queue nodes.
std::int32_t win_load32(int rank, std::uint64_t disp);
void win_store32(int rank, std::uint64_t disp, std::int32_t value);
std::int32_t win_swap32(int rank, std::uint64_t disp, std::int32_t value);
std::int32_t win_add32(int rank, std::uint64_t disp, std::int32_t delta);  // returns the old
std::int32_t win_cas32(int rank, std::uint64_t disp, std::int32_t expected, std::int32_t desired);

}  // namespace mproc::detail
