// A small mproc program whose behaviour the e2e script checks from outside:
//   program ok      prints the squares and exits 0
//   program throw   the main function throws: the error is printed, every rank ends, exit 1
//   program crash   a worker rank dies mid-map: the job ends (no rank left hanging)
//   program lock    a worker dies holding a shared Lock that rank 0 then waits for: the job
//                   ends rather than rank 0 waiting forever
//   program fails   an imap of 3000 inputs where 7 and 2900 throw: prints how many failed
//                   (the report test draws these failed chunks)

#include <cstdlib>
#include <iostream>
#include <mproc/mproc.hpp>
#include <stdexcept>
#include <string>

int square(int x) {
    return x * x;
}
MPROC_TASK(square);

int fails_on_7_and_2900(int x) {
    if (x == 7 || x == 2900) throw std::invalid_argument("input " + std::to_string(x));
    return x;
}
MPROC_TASK(fails_on_7_and_2900);

int die_on_3(int x) {
    if (x == 3 && mproc::worker_count() > 0) std::abort();
    return x;
}
MPROC_TASK(die_on_3);

// Takes the lock and dies with it held.
int die_holding(mproc::Lock lock, mproc::Event taken) {
    lock.lock();
    taken.set();
    std::abort();
}
MPROC_TASK(die_holding);

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "ok";
    return mproc::run(argc, argv, [&] {
        mproc::Pool pool;
        if (mode == "throw") {
            (void)pool.map(square, mproc::range(10));
            throw std::runtime_error("the user's code gave up");
        }
        if (mode == "crash") {
            (void)pool.map(die_on_3, mproc::range(10), 1);
            return;
        }
        if (mode == "fails") {
            int failed = 0;
            auto results = pool.imap(fails_on_7_and_2900, mproc::range(3000));
            for (auto it = results.begin(); it != results.end(); ++it) {
                try {
                    (void)*it;
                } catch (const mproc::RemoteError&) {
                    ++failed;
                }
            }
            std::cout << failed << " failed" << std::endl;
            return;
        }
        if (mode == "lock") {
            mproc::Lock lock;
            mproc::Event taken;
            auto result = pool.apply_async(die_holding, lock, taken);
            taken.wait();
            lock.lock();  // never granted: its holder is gone
            std::cerr << "rank 0 got a lock whose holder died\n";
            return;
        }
        for (int s : pool.map(square, mproc::range(5))) std::cout << s << ' ';
        std::cout << std::endl;
    });
}
