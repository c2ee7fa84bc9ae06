// The host's own floor under the scale rows: the same number of MPI ranks, every one but rank
// 0 sleeping `ms` in a loop for about two seconds, with no mproc and nothing else of the
// bench's running. On a host where all the ranks share a few cores, a sleep ends late by
// however long the woken rank waits for a core, so even ranks that do nothing else fall short
// of the ideal rate; what mproc reaches in the same row should not be better, but for the
// runs' noise (and a grouped row's fewer workers, whose sleeps crowd the cores less).
//
// Usage: host_floor_bench MS (under mpirun, as many ranks as the scale row).

#include <mpi.h>
#include <sys/prctl.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "bench_common.hpp"

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const double ms = argc > 1 ? std::atof(argv[1]) : 2.0;
    const double seconds = 2 * bench::scale();
    const auto task = std::chrono::microseconds(static_cast<long>(ms * 1000));
    // As mproc's workers do (tighten_timer_slack), so the sleeps are timed alike.
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    MPI_Barrier(MPI_COMM_WORLD);
    double mine[2] = {0, 0};  // the mean length of a sleep, the share of the ideal rate
    if (rank == 0) {
        // Asleep, not waiting in MPI: an oversubscribed rank waiting in MPI polls and yields,
        // and would take the cores from the sleepers. It wakes after them.
        std::this_thread::sleep_for(std::chrono::duration<double>(seconds + 0.1));
    } else {
        using Clock = std::chrono::steady_clock;
        const auto start = Clock::now();
        long n = 0;
        double slept = 0;
        while (Clock::now() - start < std::chrono::duration<double>(seconds)) {
            const auto t = Clock::now();
            std::this_thread::sleep_for(task);
            slept += std::chrono::duration<double, std::micro>(Clock::now() - t).count();
            ++n;
        }
        const double wall = std::chrono::duration<double>(Clock::now() - start).count();
        mine[0] = slept / static_cast<double>(n);
        mine[1] = static_cast<double>(n) * ms * 1e-3 / wall;
    }
    double sum[2] = {0, 0};
    MPI_Reduce(mine, sum, 2, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0 && size > 1) {
        const int sleepers = size - 1;
        std::ostringstream what;
        what << ms << " ms task";
        bench::emit("MPI ranks sleeping", sleepers, what.str() + "s efficiency",
                    sum[1] / sleepers * 100, "%");
        bench::emit("MPI ranks sleeping", sleepers, "length of a " + what.str(), sum[0] / sleepers,
                    "us");
    }
    MPI_Finalize();
}
