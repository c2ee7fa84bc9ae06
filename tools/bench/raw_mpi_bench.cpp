// The transport's limit: rank 0 sends 8-byte tasks to every worker and receives 8-byte
// replies, keeping 4 in flight per worker, with no library in between.

#include <mpi.h>

#include <cstdlib>
#include <vector>

#include "bench_common.hpp"

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const double scale = bench::scale();
    const long n = static_cast<long>(2'000'000 * scale);
    constexpr int kInFlight = 4;
    const int workers = size - 1;
    if (rank == 0) {
        std::vector<double> rates;
        for (int rep = 0; rep < 3; ++rep) {
            std::vector<long> out(static_cast<std::size_t>(workers * kInFlight));
            std::vector<MPI_Request> req(out.size(), MPI_REQUEST_NULL);
            long sent = 0, got = 0, reply = 0;
            rates.push_back(
                static_cast<double>(n) / bench::seconds_of([&] {
                    for (int w = 0; w < workers; ++w)
                        for (int k = 0; k < kInFlight && sent < n; ++k, ++sent) {
                            const std::size_t slot = static_cast<std::size_t>(w * kInFlight + k);
                            out[slot] = sent;
                            MPI_Isend(&out[slot], 1, MPI_LONG, w + 1, 1, MPI_COMM_WORLD,
                                      &req[slot]);
                        }
                    std::vector<int> next(static_cast<std::size_t>(workers), 0);
                    while (got < n) {
                        MPI_Status st;
                        MPI_Recv(&reply, 1, MPI_LONG, MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &st);
                        ++got;
                        if (sent < n) {
                            const int w = st.MPI_SOURCE - 1;
                            const std::size_t slot = static_cast<std::size_t>(
                                w * kInFlight + next[static_cast<std::size_t>(w)]);
                            next[static_cast<std::size_t>(w)] =
                                (next[static_cast<std::size_t>(w)] + 1) % kInFlight;
                            MPI_Wait(&req[slot], MPI_STATUS_IGNORE);
                            out[slot] = sent++;
                            MPI_Isend(&out[slot], 1, MPI_LONG, st.MPI_SOURCE, 1, MPI_COMM_WORLD,
                                      &req[slot]);
                        }
                    }
                    MPI_Waitall(static_cast<int>(req.size()), req.data(), MPI_STATUSES_IGNORE);
                }));
            long go = rep < 2 ? 1 : 0;
            for (int w = 1; w < size; ++w) MPI_Send(&go, 1, MPI_LONG, w, 3, MPI_COMM_WORLD);
        }
        bench::emit("raw MPI", workers, "8-byte round trips, 4 in flight", bench::median(rates),
                    "tasks/s");
    } else {
        for (;;) {
            long v = 0, reply = 0;
            MPI_Status st;
            MPI_Recv(&v, 1, MPI_LONG, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            if (st.MPI_TAG == 3) {
                if (v == 0) break;
                continue;
            }
            reply = v;
            MPI_Send(&reply, 1, MPI_LONG, 0, 2, MPI_COMM_WORLD);
        }
    }
    MPI_Finalize();
}
