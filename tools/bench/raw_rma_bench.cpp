// The one-sided operations mproc's shared objects are built on, written directly on MPI with
// no library in between: MPI_Fetch_and_op + flush on a counter at rank 0, and a bare MCS
// lock (tail at rank 0, a node per rank) around the same load + store update mproc's
// benchmark does. Ranks 1..W work for a fixed time; rank 0 only hosts the window.
//
//   OMPI_MCA_osc=sm,pt2pt mpirun -np 1+W raw_rma_bench

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "bench_common.hpp"

namespace {

MPI_Win win;
int rank = 0;
// Rank 0: [counter int64][lock tail int32]; every rank: its node [next int32][flag int32].
constexpr MPI_Aint kCounter = 0, kTail = 8, kNode = 16;

std::int32_t load32(int target, MPI_Aint disp) {
    std::int32_t v;
    MPI_Fetch_and_op(nullptr, &v, MPI_INT32_T, target, disp, MPI_NO_OP, win);
    MPI_Win_flush(target, win);
    return v;
}
void store32(int target, MPI_Aint disp, std::int32_t v) {
    MPI_Accumulate(&v, 1, MPI_INT32_T, target, disp, 1, MPI_INT32_T, MPI_REPLACE, win);
    MPI_Win_flush(target, win);
}

void mcs_lock() {
    const std::int32_t me = rank + 1;
    store32(rank, kNode, 0);
    store32(rank, kNode + 4, 1);
    std::int32_t prev;
    MPI_Fetch_and_op(&me, &prev, MPI_INT32_T, 0, kTail, MPI_REPLACE, win);
    MPI_Win_flush(0, win);
    if (prev == 0) return;
    store32(prev - 1, kNode, me);
    while (load32(rank, kNode + 4) != 0) {
    }
}

void mcs_unlock() {
    const std::int32_t me = rank + 1, none = 0;
    std::int32_t next = load32(rank, kNode);
    if (next == 0) {
        std::int32_t old;
        MPI_Compare_and_swap(&none, &me, &old, MPI_INT32_T, 0, kTail, win);
        MPI_Win_flush(0, win);
        if (old == me) return;
        while ((next = load32(rank, kNode)) == 0) {
        }
    }
    store32(next - 1, kNode + 4, 0);
}

// Rank 0 waits without taking a core from the workers.
void idle_barrier() {
    MPI_Request r;
    MPI_Ibarrier(MPI_COMM_WORLD, &r);
    for (int done = 0; !done; usleep(rank == 0 ? 500 : 0)) MPI_Test(&r, &done, MPI_STATUS_IGNORE);
}

}  // namespace

int main(int argc, char** argv) {
    int provided = 0, size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const double seconds = 0.5 * bench::scale();
    char* base = nullptr;
    MPI_Win_allocate(32, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base, &win);
    std::fill(base, base + 32, 0);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    std::vector<double> adds, locked;
    for (int rep = 0; rep < 3; ++rep) {
        for (int phase = 0; phase < 2; ++phase) {
            idle_barrier();
            std::int64_t mine = 0, total = 0;
            if (rank > 0 && phase == 0) {
                const std::int64_t one = 1;
                mine = bench::runs_for(seconds, [&] {
                    std::int64_t old;
                    MPI_Fetch_and_op(&one, &old, MPI_INT64_T, 0, kCounter, MPI_SUM, win);
                    MPI_Win_flush(0, win);
                });
            } else if (rank > 0) {
                mine = bench::runs_for(seconds, [&] {
                    mcs_lock();
                    std::int64_t v;
                    MPI_Fetch_and_op(nullptr, &v, MPI_INT64_T, 0, kCounter, MPI_NO_OP, win);
                    MPI_Win_flush(0, win);
                    ++v;
                    MPI_Accumulate(&v, 1, MPI_INT64_T, 0, kCounter, 1, MPI_INT64_T, MPI_REPLACE,
                                   win);
                    MPI_Win_flush(0, win);
                    mcs_unlock();
                });
            }
            idle_barrier();
            MPI_Reduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
            (phase == 0 ? adds : locked).push_back(static_cast<double>(total) / seconds);
        }
    }
    if (rank == 0 && size > 1) {
        bench::emit("raw MPI", size - 1, "Value.fetch_add", bench::median(adds), "ops/s");
        bench::emit("raw MPI", size - 1, "Lock + update + unlock", bench::median(locked), "ops/s");
    }
    MPI_Win_unlock_all(win);
    MPI_Win_free(&win);
    MPI_Finalize();
}
