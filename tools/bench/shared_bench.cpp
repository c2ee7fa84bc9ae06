// mproc's side of the shared-state benchmark: Value::fetch_add, and Lock + update + unlock,
// per second from every worker at once, each worker busy for the same fixed time.
//
//   mpirun -np 1+W shared_bench

#include <chrono>
#include <cstdlib>
#include <mproc/mproc.hpp>
#include <mutex>

#include "bench_common.hpp"

namespace {

using Counter = mproc::Value<std::int64_t>;

std::int64_t fetch_adds(Counter counter, double seconds) {
    return bench::runs_for(seconds, [&] { counter.fetch_add(1); });
}
MPROC_TASK(fetch_adds);

std::int64_t locked_updates(Counter counter, mproc::Lock lock, double seconds) {
    return bench::runs_for(seconds, [&] {
        std::lock_guard hold(lock);
        counter.store(counter.load() + 1);
    });
}
MPROC_TASK(locked_updates);

}  // namespace

int main(int argc, char** argv) {
    return mproc::run(argc, argv, [] {
        const int workers = mproc::worker_count();
        if (workers < 1) return;
        mproc::Pool pool;
        const double seconds = 0.5 * bench::scale();
        std::vector<double> adds, locked;
        for (int rep = 0; rep < 3; ++rep) {
            Counter counter(0);
            mproc::Lock lock;
            std::int64_t total = 0;
            const std::vector<std::tuple<Counter, double>> a(workers, {counter, seconds});
            for (auto n : pool.starmap(fetch_adds, a, 1)) total += n;
            if (counter.load() != total) std::fprintf(stderr, "fetch_add lost updates!\n");
            adds.push_back(static_cast<double>(total) / seconds);

            counter.store(0);
            total = 0;
            const std::vector<std::tuple<Counter, mproc::Lock, double>> l(workers,
                                                                          {counter, lock, seconds});
            for (auto n : pool.starmap(locked_updates, l, 1)) total += n;
            if (counter.load() != total) std::fprintf(stderr, "the lock lost updates!\n");
            locked.push_back(static_cast<double>(total) / seconds);
        }
        bench::emit("mproc", workers, "Value.fetch_add", bench::median(adds), "ops/s");
        bench::emit("mproc", workers, "Lock + update + unlock", bench::median(locked), "ops/s");
    });
}
