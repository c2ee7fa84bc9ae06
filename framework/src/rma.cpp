// The shared window: opened once by every rank, then used by atomics from any rank without
// the master's help. See mproc/detail/rma.hpp and ARCHITECTURE.md.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>

#include "engine.hpp"
#include "mpi.hpp"
#include "window.hpp"

namespace mproc::detail {
namespace {

constexpr std::uint64_t kNodeTableBytes = kNodeBytes * kNodesPerRank;
// The arena's header: its bump pointer (the next free offset), then its size.
constexpr std::uint64_t kArenaHeader = 16;
constexpr std::uint64_t kDefaultArenaBytes = 4 << 20;

struct SharedWindow {
    MPI_Win win = MPI_WIN_NULL;
    int rank = 0;
    std::uint64_t arena_bytes = 0;
    std::thread::id mpi_thread;
    bool multi_node = false;
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Comm node = MPI_COMM_NULL;  // the ranks on this rank's node
};
SharedWindow g_window;

MPI_Datatype mpi_type(RmaType t) {
    switch (t) {
        case RmaType::i32:
            return MPI_INT32_T;
        case RmaType::i64:
            return MPI_INT64_T;
        case RmaType::u32:
            return MPI_UINT32_T;
        case RmaType::u64:
            return MPI_UINT64_T;
        case RmaType::f32:
            return MPI_FLOAT;
        case RmaType::f64:
            return MPI_DOUBLE;
    }
    return MPI_DATATYPE_NULL;
}

// Compare-and-swap takes integer types only: floats are swapped by their bits.
MPI_Datatype mpi_bits_type(RmaType t) {
    if (t == RmaType::f32) return MPI_UINT32_T;
    if (t == RmaType::f64) return MPI_UINT64_T;
    return mpi_type(t);
}

MPI_Op mpi_op(RmaOp op) {
    switch (op) {
        case RmaOp::sum:
            return MPI_SUM;
        case RmaOp::replace:
            return MPI_REPLACE;
        case RmaOp::no_op:
            return MPI_NO_OP;
    }
    return MPI_OP_NULL;
}

MPI_Win window() {
    if (g_window.win == MPI_WIN_NULL)
        throw Error("mproc shared objects (Value, Array, Lock, ...) work only inside mproc::run");
    return g_window.win;
}

// Runs an MPI operation on a thread allowed to call MPI: this one on workers and on rank 0's
// engine; rank 0's other threads hand it to the engine and wait.
template <class F>
void run_on_mpi_thread(F&& op) {
    if (on_mpi_thread()) {
        op();
        return;
    }
    Engine* engine = Engine::current();
    if (engine == nullptr)
        throw Error("mproc shared objects are used from the task's own thread on workers");
    engine->call(op);
}

int count_of(std::size_t n) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw Error("shared array operation over " + std::to_string(n) + " elements: too many");
    return static_cast<int>(n);
}

}  // namespace

void open_shared_window(MPI_Comm comm) {
    MPI_Comm_rank(comm, &g_window.rank);
    try {
        g_window.arena_bytes = g_window.rank == 0
                                   ? bytes_from_env("MPROC_SHARED_BYTES", kDefaultArenaBytes, 64,
                                                    "the shared-object arena")
                                   : 0;
    } catch (const Error& e) {
        // The other ranks are already in the collective allocation: end them all, clearly.
        std::fprintf(stderr, "mproc: %s\n", e.what());
        MPI_Abort(comm, 2);
    }
    const auto bytes = static_cast<MPI_Aint>(kNodeTableBytes + g_window.arena_bytes);
    void* base = nullptr;
    MPI_Win win = MPI_WIN_NULL;
    check(MPI_Win_allocate(bytes, 1, MPI_INFO_NULL, comm, &base, &win), "MPI_Win_allocate");
    MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
    // Zeroed before anyone can reach it: lock words and queue nodes start free, and the
    // arena's bump pointer starts past its header.
    std::memset(base, 0, static_cast<std::size_t>(bytes));
    if (g_window.rank == 0) {
        const std::uint64_t header[2] = {kArenaHeader, g_window.arena_bytes};
        std::memcpy(static_cast<char*>(base) + kNodeTableBytes, header, sizeof header);
    }
    // One passive-target epoch for the whole run; every operation flushes its target.
    check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win), "MPI_Win_lock_all");
    check(MPI_Barrier(comm), "MPI_Barrier");
    check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &g_window.node),
          "MPI_Comm_split_type");
    int node_size = 0, size = 0;
    MPI_Comm_size(g_window.node, &node_size);
    MPI_Comm_size(comm, &size);
    g_window.multi_node = node_size < size;
    g_window.comm = comm;
    g_window.win = win;
    g_window.mpi_thread = std::this_thread::get_id();
}

void close_shared_window() {
    if (g_window.win == MPI_WIN_NULL) return;
    MPI_Win_unlock_all(g_window.win);
    MPI_Win_free(&g_window.win);
    MPI_Comm_free(&g_window.node);
    g_window = SharedWindow{};
}

void serve_engine_calls() {
    if (!on_mpi_thread()) return;
    if (Engine* engine = Engine::current()) engine->run_calls();
}

bool on_mpi_thread() {
    return std::this_thread::get_id() == g_window.mpi_thread;
}

MPI_Comm mproc_comm() {
    return g_window.comm;
}

MPI_Comm node_comm() {
    return g_window.node;
}

std::uint64_t bytes_from_env(const char* name, std::uint64_t fallback, std::uint64_t min,
                             const char* what) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(text, &end, 10);
    if (*end != '\0' || n < min)
        throw Error(std::string(name) + "='" + text + "': want a number of bytes" +
                    (min > 0 ? " (at least " + std::to_string(min) + ")" : std::string()) +
                    " for " + what);
    return n;
}

bool shared_window_needs_target_progress() {
    return g_window.multi_node;
}

int window_rank() {
    return g_window.rank;
}

std::uint64_t arena_disp(std::uint64_t offset) {
    return kNodeTableBytes + offset;
}

void win_fetch_op(RmaType type, RmaOp op, const void* operand, void* result, int rank,
                  std::uint64_t disp) {
    run_on_mpi_thread([&] {
        check(MPI_Fetch_and_op(operand, result, mpi_type(type), rank, static_cast<MPI_Aint>(disp),
                               mpi_op(op), window()),
              "MPI_Fetch_and_op");
        check(MPI_Win_flush(rank, window()), "MPI_Win_flush");
    });
}

void win_accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count, int rank,
                    std::uint64_t disp) {
    run_on_mpi_thread([&] {
        const int n = count_of(count);
        check(MPI_Accumulate(operand, n, mpi_type(type), rank, static_cast<MPI_Aint>(disp), n,
                             mpi_type(type), mpi_op(op), window()),
              "MPI_Accumulate");
        check(MPI_Win_flush(rank, window()), "MPI_Win_flush");
    });
}

void win_load(RmaType type, void* result, std::size_t count, int rank, std::uint64_t disp) {
    run_on_mpi_thread([&] {
        if (count == 1) {
            check(MPI_Fetch_and_op(nullptr, result, mpi_type(type), rank,
                                   static_cast<MPI_Aint>(disp), MPI_NO_OP, window()),
                  "MPI_Fetch_and_op");
        } else {
            const int n = count_of(count);
            check(MPI_Get_accumulate(nullptr, 0, mpi_type(type), result, n, mpi_type(type), rank,
                                     static_cast<MPI_Aint>(disp), n, mpi_type(type), MPI_NO_OP,
                                     window()),
                  "MPI_Get_accumulate");
        }
        check(MPI_Win_flush(rank, window()), "MPI_Win_flush");
    });
}

void win_compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      int rank, std::uint64_t disp) {
    run_on_mpi_thread([&] {
        check(MPI_Compare_and_swap(desired, expected, result, mpi_bits_type(type), rank,
                                   static_cast<MPI_Aint>(disp), window()),
              "MPI_Compare_and_swap");
        check(MPI_Win_flush(rank, window()), "MPI_Win_flush");
    });
}

std::int32_t win_load32(int rank, std::uint64_t disp) {
    std::int32_t v = 0;
    win_load(RmaType::i32, &v, 1, rank, disp);
    return v;
}

void win_store32(int rank, std::uint64_t disp, std::int32_t value) {
    win_accumulate(RmaType::i32, RmaOp::replace, &value, 1, rank, disp);
}

std::int32_t win_swap32(int rank, std::uint64_t disp, std::int32_t value) {
    std::int32_t old = 0;
    win_fetch_op(RmaType::i32, RmaOp::replace, &value, &old, rank, disp);
    return old;
}

std::int32_t win_add32(int rank, std::uint64_t disp, std::int32_t delta) {
    std::int32_t old = 0;
    win_fetch_op(RmaType::i32, RmaOp::sum, &delta, &old, rank, disp);
    return old;
}

std::int32_t win_cas32(int rank, std::uint64_t disp, std::int32_t expected, std::int32_t desired) {
    std::int32_t old = 0;
    win_compare_swap(RmaType::i32, &desired, &expected, &old, rank, disp);
    return old;
}

// ---- The public entry points: offsets into rank 0's arena ----------------------------------

void rma_fetch_op(RmaType type, RmaOp op, const void* operand, void* result, std::uint64_t offset) {
    win_fetch_op(type, op, operand, result, 0, arena_disp(offset));
}

void rma_accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count,
                    std::uint64_t offset) {
    win_accumulate(type, op, operand, count, 0, arena_disp(offset));
}

void rma_load(RmaType type, void* result, std::size_t count, std::uint64_t offset) {
    win_load(type, result, count, 0, arena_disp(offset));
}

void rma_compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      std::uint64_t offset) {
    win_compare_swap(type, desired, expected, result, 0, arena_disp(offset));
}

std::uint64_t shared_alloc(std::size_t bytes) {
    const std::uint64_t size = (std::max<std::uint64_t>(bytes, 1) + 7) & ~std::uint64_t{7};
    std::uint64_t offset = 0;
    win_fetch_op(RmaType::u64, RmaOp::sum, &size, &offset, 0, arena_disp(0));
    // Only rank 0 knows the arena's size from the environment; the header holds it for all.
    static const std::uint64_t capacity = [] {
        std::uint64_t c = 0;
        win_load(RmaType::u64, &c, 1, 0, arena_disp(8));
        return c;
    }();
    if (offset + size > capacity) {
        // Give the bytes back, so that a smaller object still fits afterwards (adds are
        // atomic, so concurrent failures each undo only their own).
        const std::uint64_t undo = ~size + 1;
        std::uint64_t ignored = 0;
        win_fetch_op(RmaType::u64, RmaOp::sum, &undo, &ignored, 0, arena_disp(0));
        throw ResourceError("the shared-object arena is full (" + std::to_string(capacity) +
                            " bytes; objects are not freed during a run): set MPROC_SHARED_BYTES "
                            "larger (in bytes) before mpirun");
    }
    return offset;
}

}  // namespace mproc::detail
