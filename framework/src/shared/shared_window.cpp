// The shared window: opened once by every rank, then used by atomics from any rank without
// rank 0's help. See mproc/detail/rma.hpp and ARCHITECTURE.md.

#include "shared/shared_window.hpp"

#include <cstring>
#include <limits>
#include <string>

namespace mproc::detail {
namespace {

constexpr std::uint64_t kNodeTableBytes = kNodeBytes * kNodesPerRank;
// The arena's header: its bump pointer (the next free offset), then its size.
constexpr std::uint64_t kArenaHeader = 16;

// By RmaType's order: i32, i64, u32, u64, f32, f64, i8, u8, i16, u16.
MPI_Datatype mpi_type(RmaType t) {
    const MPI_Datatype types[] = {MPI_INT32_T, MPI_INT64_T, MPI_UINT32_T, MPI_UINT64_T,
                                  MPI_FLOAT,   MPI_DOUBLE,  MPI_INT8_T,   MPI_UINT8_T,
                                  MPI_INT16_T, MPI_UINT16_T};
    return types[static_cast<int>(t)];
}

// Compare-and-swap takes integer types only: floats are swapped by their bits.
MPI_Datatype mpi_bits_type(RmaType t) {
    if (t == RmaType::f32) return MPI_UINT32_T;
    if (t == RmaType::f64) return MPI_UINT64_T;
    return mpi_type(t);
}

// By RmaOp's order: sum, replace, no_op.
MPI_Op mpi_op(RmaOp op) {
    const MPI_Op ops[] = {MPI_SUM, MPI_REPLACE, MPI_NO_OP};
    return ops[static_cast<int>(op)];
}

int count_of(std::size_t n) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw Error("shared array operation over " + std::to_string(n) + " elements: too many");
    return static_cast<int>(n);
}

}  // namespace

SharedWindow::SharedWindow(const Communicator& comm, MpiThread& mpi_thread,
                           std::uint64_t arena_bytes)
    : mpi_thread_(mpi_thread), rank_(comm.rank()) {
    if (rank_ != 0) arena_bytes = 0;
    const auto bytes = static_cast<MPI_Aint>(kNodeTableBytes + arena_bytes);
    void* base = nullptr;
    check(MPI_Win_allocate(bytes, 1, MPI_INFO_NULL, comm.get(), &base, &win_), "MPI_Win_allocate");
    check(MPI_Win_set_errhandler(win_, MPI_ERRORS_RETURN), "MPI_Win_set_errhandler");
    // Zeroed before anyone can reach it: lock words and queue nodes start free, and the
    // arena's bump pointer starts past its header.
    std::memset(base, 0, static_cast<std::size_t>(bytes));
    if (rank_ == 0) {
        const std::uint64_t header[2] = {kArenaHeader, arena_bytes};
        std::memcpy(static_cast<char*>(base) + kNodeTableBytes, header, sizeof header);
        capacity_ = arena_bytes;
    }
    // One passive-target epoch for the whole run; every operation flushes its target.
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "MPI_Win_lock_all");
    check(MPI_Barrier(comm.get()), "MPI_Barrier");
}

SharedWindow::~SharedWindow() {
    // Errors are not thrown from here: the run is ending either way.
    MPI_Win_unlock_all(win_);
    MPI_Win_free(&win_);
}

std::uint64_t SharedWindow::arena_disp(std::uint64_t offset) {
    // No object is at 0 (the arena's header is): only an empty handle names it.
    if (offset == 0)
        throw Error(
            "an empty handle (a default-constructed mproc::Array, Barrier or Connection, "
            "made to be assigned) names no shared object: assign one made with its "
            "size or parties first");
    return kNodeTableBytes + offset;
}

std::uint64_t SharedWindow::header_disp(std::uint64_t word) {
    return kNodeTableBytes + word;
}

std::uint64_t SharedWindow::arena_capacity() {
    std::uint64_t c = capacity_.load(std::memory_order_relaxed);
    if (c == 0) {
        load(RmaType::u64, &c, 1, 0, header_disp(8));
        capacity_.store(c, std::memory_order_relaxed);
    }
    return c;
}

void SharedWindow::fetch_op(RmaType type, RmaOp op, const void* operand, void* result, int rank,
                            std::uint64_t disp) {
    mpi_thread_.call([&] {
        check(MPI_Fetch_and_op(operand, result, mpi_type(type), rank, static_cast<MPI_Aint>(disp),
                               mpi_op(op), win_),
              "MPI_Fetch_and_op");
        check(MPI_Win_flush(rank, win_), "MPI_Win_flush");
    });
}
void SharedWindow::accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count,
                              int rank, std::uint64_t disp) {
    mpi_thread_.call([&] {
        const int n = count_of(count);
        check(MPI_Accumulate(operand, n, mpi_type(type), rank, static_cast<MPI_Aint>(disp), n,
                             mpi_type(type), mpi_op(op), win_),
              "MPI_Accumulate");
        check(MPI_Win_flush(rank, win_), "MPI_Win_flush");
    });
}
void SharedWindow::load(RmaType type, void* result, std::size_t count, int rank,
                        std::uint64_t disp) {
    mpi_thread_.call([&] {
        if (count == 1) {
            check(MPI_Fetch_and_op(nullptr, result, mpi_type(type), rank,
                                   static_cast<MPI_Aint>(disp), MPI_NO_OP, win_),
                  "MPI_Fetch_and_op");
        } else {
            const int n = count_of(count);
            check(
                MPI_Get_accumulate(nullptr, 0, mpi_type(type), result, n, mpi_type(type), rank,
                                   static_cast<MPI_Aint>(disp), n, mpi_type(type), MPI_NO_OP, win_),
                "MPI_Get_accumulate");
        }
        check(MPI_Win_flush(rank, win_), "MPI_Win_flush");
    });
}
void SharedWindow::compare_swap(RmaType type, const void* desired, const void* expected,
                                void* result, int rank, std::uint64_t disp) {
    mpi_thread_.call([&] {
        check(MPI_Compare_and_swap(desired, expected, result, mpi_bits_type(type), rank,
                                   static_cast<MPI_Aint>(disp), win_),
              "MPI_Compare_and_swap");
        check(MPI_Win_flush(rank, win_), "MPI_Win_flush");
    });
}
std::int32_t SharedWindow::load32(int rank, std::uint64_t disp) {
    std::int32_t v = 0;
    load(RmaType::i32, &v, 1, rank, disp);
    return v;
}

void SharedWindow::store32(int rank, std::uint64_t disp, std::int32_t value) {
    accumulate(RmaType::i32, RmaOp::replace, &value, 1, rank, disp);
}

std::int32_t SharedWindow::fetch_op32(RmaOp op, int rank, std::uint64_t disp,
                                      std::int32_t operand) {
    std::int32_t old = 0;
    fetch_op(RmaType::i32, op, &operand, &old, rank, disp);
    return old;
}

std::int32_t SharedWindow::swap32(int rank, std::uint64_t disp, std::int32_t value) {
    return fetch_op32(RmaOp::replace, rank, disp, value);
}

std::int32_t SharedWindow::add32(int rank, std::uint64_t disp, std::int32_t delta) {
    return fetch_op32(RmaOp::sum, rank, disp, delta);
}

std::int32_t SharedWindow::cas32(int rank, std::uint64_t disp, std::int32_t expected,
                                 std::int32_t desired) {
    std::int32_t old = 0;
    compare_swap(RmaType::i32, &desired, &expected, &old, rank, disp);
    return old;
}

}  // namespace mproc::detail
