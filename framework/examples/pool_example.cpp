// The README's Pool example: run it with 1, 3 or 5 ranks and get the same answers.
//
//     build/framework/pool_example                 # one rank, no mpirun
//     mpirun -np 3 build/framework/pool_example    # rank 0 + 2 workers

#include <iostream>
#include <mproc/mproc.hpp>
#include <numeric>

int square(int x) {
    return x * x;
}
MPROC_TASK(square);

int main(int argc, char** argv) {
    return mproc::run(argc, argv, [] {
        mproc::Pool pool;  // every free worker rank
        std::vector<int> squares = pool.map(square, mproc::range(10));
        for (int s : squares) std::cout << s << ' ';
        std::cout << "\n";

        long long total = 0;  // lazily, in input order, with bounded memory
        for (int s : pool.imap(square, mproc::range(1000), 50)) total += s;
        std::cout << "sum of squares below 1000: " << total << "\n";

        mproc::AsyncResult<int> r = pool.apply_async(square, 12);
        std::cout << "12 squared on a worker: " << r.get() << "\n";
        std::cout << "workers: " << mproc::worker_count() << "\n";
    });
}
