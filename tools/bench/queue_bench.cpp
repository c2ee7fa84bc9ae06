// mproc's side of the queue benchmark: items per second through a Queue from producers to
// consumers, each a Process (8-byte and 64 KiB items), and Pipe round trips per second
// between two processes.
//
//   mpirun -np 1+2P queue_bench P      P producers and P consumers (1 or 2)

#include <chrono>
#include <cstdlib>
#include <mproc/mproc.hpp>
#include <string>

#include "bench_common.hpp"

namespace {

template <class T>
void produce(mproc::Queue<T> q, T item, long n) {
    for (long i = 0; i < n; ++i) q.put(item);
}
void produce_small(mproc::Queue<std::int64_t> q, long n) {
    produce<std::int64_t>(q, 42, n);
}
void produce_big(mproc::Queue<std::string> q, long n) {
    produce(q, std::string(64 * 1024, 'x'), n);
}
MPROC_TASK(produce_small);
MPROC_TASK(produce_big);

template <class T>
void consume(mproc::Queue<T> q, long n) {
    for (long i = 0; i < n; ++i) (void)q.get();
}
void consume_small(mproc::Queue<std::int64_t> q, long n) {
    consume(q, n);
}
void consume_big(mproc::Queue<std::string> q, long n) {
    consume(q, n);
}
MPROC_TASK(consume_small);
MPROC_TASK(consume_big);

// The far end of the round trips: sends back what it receives, `n` times.
void bounce(mproc::Connection<std::int64_t> end, long n) {
    for (long i = 0; i < n; ++i) end.send(end.recv());
}
MPROC_TASK(bounce);

// The near end, on a worker too: `n` round trips, timed here; the rate goes back on `out`.
void ping(mproc::Connection<std::int64_t> end, long n, mproc::Queue<double> out) {
    const double s = bench::seconds_of([&] {
        for (long i = 0; i < n; ++i) {
            end.send(i);
            (void)end.recv();
        }
    });
    out.put(static_cast<double>(n) / s);
}
MPROC_TASK(ping);

// Items per second through one queue, `pairs` producers and consumers, `n` items in all.
template <class T, class P, class C>
double queue_rate(P& producer, C& consumer, int pairs, long n) {
    mproc::Queue<T> q;
    return static_cast<double>(n) / bench::seconds_of([&] {
               std::vector<mproc::Process> ps;
               for (int i = 0; i < pairs; ++i) {
                   ps.emplace_back(producer, q, n / pairs);
                   ps.emplace_back(consumer, q, n / pairs);
               }
               for (auto& p : ps) p.start();
               for (auto& p : ps) p.join();
           });
}

// Round trips between two worker processes would need a third to time them; the parent
// (rank 0) is one end, as in Python's benchmark.
double round_trips(long n) {
    auto [mine, theirs] = mproc::Pipe<std::int64_t>();
    mproc::Process far(bounce, theirs, n);
    far.start();
    const double s = bench::seconds_of([&] {
        for (long i = 0; i < n; ++i) {
            mine.send(i);
            (void)mine.recv();
        }
    });
    far.join();
    return static_cast<double>(n) / s;
}

// Round trips between two worker processes (needs 3 ranks).
double worker_round_trips(long n) {
    auto [a, b] = mproc::Pipe<std::int64_t>();
    mproc::Queue<double> out;
    mproc::Process near(ping, a, n, out), far(bounce, b, n);
    far.start();
    near.start();
    const double rate = out.get();
    near.join();
    far.join();
    return rate;
}

}  // namespace

int main(int argc, char** argv) {
    const int pairs = argc > 1 ? std::atoi(argv[1]) : 1;
    return mproc::run(argc, argv, [&] {
        const long small = static_cast<long>(200'000 * bench::scale()) / pairs * pairs;
        const long big = static_cast<long>(4'000 * bench::scale()) / pairs * pairs;
        std::vector<double> a, b, c, d;
        for (int rep = 0; rep < 3; ++rep) {
            a.push_back(queue_rate<std::int64_t>(produce_small, consume_small, pairs, small));
            b.push_back(queue_rate<std::string>(produce_big, consume_big, pairs, big));
            if (pairs == 1) c.push_back(round_trips(static_cast<long>(20'000 * bench::scale())));
            if (pairs == 1 && mproc::worker_count() >= 2)
                d.push_back(worker_round_trips(static_cast<long>(20'000 * bench::scale())));
        }
        const std::string who = std::to_string(pairs) + " → " + std::to_string(pairs);
        bench::emit("mproc", pairs, "queue " + who + ", 8-byte items", bench::median(a), "items/s");
        bench::emit("mproc", pairs, "queue " + who + ", 64 KiB items", bench::median(b), "items/s");
        if (pairs == 1)
            bench::emit("mproc", pairs, "pipe round trips", bench::median(c), "round trips/s");
        if (!d.empty())
            bench::emit("mproc", pairs, "pipe round trips, worker ↔ worker", bench::median(d),
                        "round trips/s");
    });
}
