// mproc's side of tools/bench: task rates, CPU-bound scaling and imap memory, printed as JSON
// lines. Run under mpirun with 1 + W ranks; W is the worker count reported.
//
//   mproc_bench          rates and CPU-bound scaling
//   mproc_bench memory   rank 0's peak memory for imap over 10^8 lazy inputs, measured in a
//                        process of its own (freed heap from earlier runs would count too)
//   mproc_bench costs    what the scale simulator (tools/model) is fed: a timed wake-up's CPU,
//                        rank 0's CPU per chunk, a ring record's copying, a yield that
//                        switches threads (run with 2 ranks)
//   mproc_bench sleep [MS]  rank 0's CPU time per task, the whole host's, and the share of
//                        the ideal task rate reached, for tasks that sleep MS milliseconds
//                        (default 2) at chunksize 1: what rank 0 itself costs when workers
//                        are many (run it oversubscribed, flat or with MPROC_GROUP_SIZE),
//                        beside what a timed wake-up cost on the host meanwhile (WakeProbe)

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mproc/mproc.hpp>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "bench_common.hpp"

namespace {

int empty(int x) {
    return x;
}
MPROC_TASK(empty);

std::int64_t empty64(std::int64_t x) {
    return x;
}
MPROC_TASK(empty64);

// Sleeps `us` microseconds and returns how long it took: on a loaded host a sleep ends late,
// by however long the waking rank waits for a core; the scale simulator's check runs tasks
// of the length measured.
int sleep_us(int us) {
    const auto start = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(std::chrono::microseconds(us));
    return static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - start)
                                .count());
}
MPROC_TASK(sleep_us);

// CPU seconds used, user and system: by this process (RUSAGE_SELF: every thread of rank 0) or
// by the calling thread (RUSAGE_THREAD).
double cpu_seconds(int who = RUSAGE_SELF) {
    rusage u{};
    getrusage(who, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Times this process's threads have gone to sleep: during a map nearly all are its MPI
// thread's loop, beside which the scale simulator sets its own rank 0's wake-ups.
long sleeps() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_nvcsw;
}

// A thermometer for the host: a thread of rank 0 that sleeps 1 ms at a time on a condition
// variable (as rank 0's loop does) and counts its own CPU, so that a measurement says what a
// timed wake-up cost on this host while it ran. That moves with the host (another tenant, the
// cores' state) by a third from one run to the next, and rank 0's own wake-ups move with it:
// 9 ranks in groups on 2 ms tasks, 6 runs, rank 0 21-35 µs per wake-up, the probe 12-19, the
// ratio 1.73-1.96. What it costs is taken out of rank 0's figures.
class WakeProbe {
  public:
    // Sleeping `period` at a time (1 ms, as rank 0's loop sleeps at most).
    explicit WakeProbe(std::chrono::microseconds period = std::chrono::milliseconds(1))
        : thread_([this, period] {
              std::mutex m;
              std::condition_variable cv;
              std::unique_lock lock(m);
              const double cpu0 = cpu_seconds(RUSAGE_THREAD);
              while (running_.load()) {
                  cv.wait_for(lock, period);
                  ++wakes_;
              }
              cpu_us_ = (cpu_seconds(RUSAGE_THREAD) - cpu0) * 1e6;
          }) {}
    ~WakeProbe() { stop(); }
    void stop() {
        running_ = false;
        if (thread_.joinable()) thread_.join();
    }
    // After stop(): its CPU (µs), its wake-ups, and the first over the second.
    double cpu_us() const { return cpu_us_; }
    long wakes() const { return wakes_; }
    double per_wake() const { return cpu_us_ / static_cast<double>(std::max(1L, wakes_)); }

  private:
    std::atomic<bool> running_{true};
    double cpu_us_ = 0;
    long wakes_ = 0;
    std::thread thread_;  // last: it starts once the rest is set
};

// CPU seconds every thread on the host has run, from each one's /proc/PID/task/TID/schedstat
// (the scheduler's own count, in ns). Not /proc/stat: that samples at the timer tick, and a
// host whose cores wake often for a few µs and sleep between ticks shows there as nearly idle
// (9 ranks on 2 ms tasks read 6-11 µs per task from it, less than one wake-up of a task costs).
// Threads that end between two readings drop out; the ranks do not end during a map.
double host_cpu_seconds() {
    std::uint64_t ns = 0;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return 0;
    while (const dirent* p = readdir(proc)) {
        if (p->d_name[0] < '0' || p->d_name[0] > '9') continue;
        const std::string tasks = std::string("/proc/") + p->d_name + "/task";
        DIR* dir = opendir(tasks.c_str());
        if (dir == nullptr) continue;  // it ended meanwhile
        while (const dirent* t = readdir(dir)) {
            if (t->d_name[0] < '0' || t->d_name[0] > '9') continue;
            std::ifstream stat(tasks + "/" + t->d_name + "/schedstat");
            std::uint64_t on_cpu = 0;
            if (stat >> on_cpu) ns += on_cpu;
        }
        closedir(dir);
    }
    closedir(proc);
    return static_cast<double>(ns) / 1e9;
}

// About two seconds of tasks of `ms` milliseconds per worker, one per chunk.
void rank0_cost(mproc::Pool& pool, double scale, double ms) {
    const int w = pool.processes();
    const int n = std::max(1, static_cast<int>(2000 / ms * w * scale));
    const int us = static_cast<int>(ms * 1000);
    (void)pool.map(sleep_us, std::vector<int>(static_cast<std::size_t>(w), us), 1);  // all started
    const std::vector<int> tasks(static_cast<std::size_t>(n), us);
    // The host's count is read outside rank 0's: reading it takes rank 0 a few ms.
    const double host0 = host_cpu_seconds();
    WakeProbe probe;
    const double cpu0 = cpu_seconds();
    const long sleeps0 = sleeps();
    std::vector<int> took;
    const double wall = bench::seconds_of([&] { took = pool.map(sleep_us, tasks, 1); });
    probe.stop();
    const double cpu = cpu_seconds() - cpu0 - probe.cpu_us() / 1e6;
    const double wakes = static_cast<double>(sleeps() - sleeps0 - probe.wakes());
    const double host = host_cpu_seconds() - host0;
    double slept = 0;
    for (int t : took) slept += t;
    std::ostringstream what;
    what << ms << " ms task";
    bench::emit("mproc", w, "rank 0 CPU per " + what.str(), cpu / n * 1e6, "us");
    bench::emit("mproc", w, "host CPU per " + what.str(), host / n * 1e6, "us");
    bench::emit("mproc", w, what.str() + "s efficiency", (n * ms * 1e-3 / w) / wall * 100, "%");
    bench::emit("mproc", w, "length of a " + what.str(), slept / n, "us");
    // How far the late ends spread: most sleeps end a little late, a few much later.
    std::sort(took.begin(), took.end());
    bench::emit("mproc", w, "90th percentile length of a " + what.str(), took[took.size() * 9 / 10],
                "us");
    bench::emit("mproc", w, "rank 0 wake-ups per " + what.str(), wakes / n, "");
    bench::emit("mproc", w, "probe's CPU per wake-up, " + what.str() + "s", probe.per_wake(), "us");
}

// Threads on the worker's rank that sleep 500 µs in a loop until told to stop: other timed
// wake-ups on the host, as a busy run's workers make (the two tasks start and stop them).
struct Sleepers {
    std::atomic<bool> run{false};
    std::vector<std::thread> threads;
};
Sleepers& sleepers() {
    static Sleepers s;
    return s;
}
int start_sleepers(int k) {
    Sleepers& s = sleepers();
    s.run = true;
    for (int i = 0; i < k; ++i)
        s.threads.emplace_back([&s] {
            while (s.run.load(std::memory_order_relaxed))
                std::this_thread::sleep_for(std::chrono::microseconds(500));
        });
    return k;
}
MPROC_TASK(start_sleepers);
int stop_sleepers(int) {
    Sleepers& s = sleepers();
    s.run = false;
    for (std::thread& t : s.threads) t.join();
    const auto k = static_cast<int>(s.threads.size());
    s.threads.clear();
    return k;
}
MPROC_TASK(stop_sleepers);

// The costs the scale simulator (tools/model) is fed, measured here with 1 worker:
// - a timed wake-up: a thread waking from a 200 µs wait on a condition variable (how rank 0's
//   and a leader's loops sleep), its CPU per wake;
// - rank 0's CPU per 2 ms task, where its loop mostly sleeps and wakes (a turn of the loop),
//   beside the probe's CPU per wake-up (WakeProbe): alone and among 2, 8, 32 and 64 threads
//   elsewhere that sleep and wake, since a wake-up costs less when the host's cores wake often
//   and more again when they are busy (24 µs a wake-up alone, 16 among 8 such threads, in one
//   run), and the probe's moves with it;
// - rank 0's CPU per chunk of a tiny task at chunksize 1 (packing, matching, delivering, and
//   its share of the messages, which carry 8 chunks each);
// - a relay hop's copying: a 128-byte record written into a ring buffer and read back;
// - a yield that hands the core over: two threads on one core taking turns by sched_yield
//   (how a worker with nothing to do waits on a host where others want the core).
void model_costs(mproc::Pool& pool, double scale) {
    {
        // A bare thread's timed wake-up after 200 µs, about 5000 of them, on an idle host.
        WakeProbe bare(std::chrono::microseconds(200));
        std::this_thread::sleep_for(std::chrono::microseconds(200) *
                                    std::max(100, static_cast<int>(5000 * scale)));
        bare.stop();
        bench::emit("mproc", 1, "cost: timed wake-up", bare.per_wake(), "us");
    }

    const int n = std::max(1000, static_cast<int>(1'000'000 * scale));
    (void)pool.map(empty, mproc::range(1000), 1);
    std::vector<double> per_chunk;
    for (int i = 0; i < 3; ++i) {
        const double cpu0 = cpu_seconds();
        (void)pool.map(empty, mproc::range(n), 1);
        per_chunk.push_back((cpu_seconds() - cpu0) / n * 1e6);
    }
    bench::emit("mproc", pool.processes(), "cost: rank 0 CPU per chunk", bench::median(per_chunk),
                "us");

    // Rank 0's loop asleep between results: 2 ms tasks on the one worker, where rank 0 wakes
    // once or twice per task (it sleeps until a result is due) and does little else; alone,
    // then with k threads on the worker's rank sleeping and waking meanwhile (the "workers" of
    // the figures below are k).
    const int slow = std::max(50, static_cast<int>(500 * scale));
    const std::vector<int> tasks(static_cast<std::size_t>(slow), 2000);
    for (int k : {0, 2, 8, 32, 64}) {
        (void)pool.apply(start_sleepers, k);
        WakeProbe probe;
        const double cpu0 = cpu_seconds();
        (void)pool.map(sleep_us, tasks, 1);
        probe.stop();
        const double cpu = cpu_seconds() - cpu0 - probe.cpu_us() / 1e6;
        (void)pool.apply(stop_sleepers, 0);
        bench::emit("mproc", k, "cost: rank 0 CPU per 2 ms task", cpu / slow * 1e6, "us");
        bench::emit("mproc", k, "cost: probe's CPU per wake-up", probe.per_wake(), "us");
    }

    std::vector<char> ring(256 * 1024), record(128, 'x'), out(128);
    std::atomic<std::uint64_t> head{0}, tail{0};
    const double copy_s = bench::seconds_of([&] {
        for (int i = 0; i < n; ++i) {
            const std::uint64_t h = head.load(std::memory_order_relaxed);
            std::memcpy(ring.data() + h % (ring.size() - 128), record.data(), record.size());
            head.store(h + 128, std::memory_order_release);
            const std::uint64_t t = tail.load(std::memory_order_relaxed);
            std::memcpy(out.data(), ring.data() + t % (ring.size() - 128), out.size());
            tail.store(t + 128, std::memory_order_release);
        }
    });
    bench::emit("mproc", 1, "cost: ring record", copy_s / n * 1e6, "us");

    // Both threads on the core this one runs on, so each yield switches to the other (timed
    // by the clock: the host is otherwise idle here).
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(std::max(0, sched_getcpu()), &one);
    const int yields = std::max(1000, static_cast<int>(200'000 * scale));
    std::atomic<bool> go{false};
    const auto yielder = [&] {
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        while (!go.load()) sched_yield();
        for (int i = 0; i < yields; ++i) sched_yield();
    };
    const double yield_s = bench::seconds_of([&] {
        std::thread a(yielder), b(yielder);
        go.store(true);
        a.join();
        b.join();
    });
    bench::emit("mproc", 1, "cost: yield to another thread", yield_s / (2.0 * yields) * 1e6, "us");
}

struct Span {
    std::uint64_t start, stop;
};
std::uint64_t cpu_span(Span s) {
    return bench::cpu_sum(s.start, s.stop);
}
MPROC_TASK(cpu_span);

// CPU-bound: a fixed amount of work in 64 spans; its time is compared across worker counts.
void cpu_bound(mproc::Pool& pool, double scale, int reps) {
    const auto total = static_cast<std::uint64_t>(3e9 * scale);
    std::vector<Span> spans;
    for (std::uint64_t i = 0; i < 64; ++i) spans.push_back({total * i / 64, total * (i + 1) / 64});
    std::vector<double> times;
    for (int i = 0; i < reps; ++i)
        times.push_back(bench::seconds_of([&] { (void)pool.map(cpu_span, spans, 1); }));
    bench::emit("mproc", pool.processes(), "cpu_sum seconds", bench::median(times), "s");
}

}  // namespace

int main(int argc, char** argv) {
    // Sizes scale with MPROC_BENCH_SCALE (default 1) so a quick run stays quick.
    const double scale = bench::scale();
    const int reps = 3;
    const std::string mode = argc > 1 ? argv[1] : "";
    const bool memory = mode == "memory";
    return mproc::run(argc, argv, [&] {
        mproc::Pool pool;
        const int w = pool.processes();
        if (memory) {
            const auto nbig = static_cast<std::int64_t>(100'000'000 * scale);
            double secs = bench::seconds_of([&] {
                std::int64_t s = 0;
                for (std::int64_t y :
                     pool.imap(empty64, mproc::range<std::int64_t>(0, nbig), 10'000))
                    s += y;
                if (s != nbig * (nbig - 1) / 2) std::abort();
            });
            bench::emit("mproc", w, "imap 1e8 peak RSS", bench::peak_rss_kib() / 1024.0, "MiB");
            bench::emit("mproc", w, "imap 1e8 rate", static_cast<double>(nbig) / secs, "tasks/s");
            return;
        }
        if (mode == "sleep") {
            rank0_cost(pool, scale, argc > 2 ? std::atof(argv[2]) : 2.0);
            return;
        }
        if (mode == "costs") {
            model_costs(pool, scale);
            return;
        }
        if (mode == "cpu") {
            cpu_bound(pool, scale, reps);
            return;
        }
        const auto n1 = static_cast<int>(1'000'000 * scale);
        const auto n1000 = static_cast<int>(20'000'000 * scale);

        bench::emit("mproc", w, "map cs=1",
                    bench::rate(reps, n1, [&] { (void)pool.map(empty, mproc::range(n1), 1); }),
                    "tasks/s");
        bench::emit(
            "mproc", w, "map cs=1000",
            bench::rate(reps, n1000, [&] { (void)pool.map(empty, mproc::range(n1000), 1000); }),
            "tasks/s");
        // 64-bit results over 10^7 items (the Python side's integers are one type).
        const auto n64 = static_cast<std::int64_t>(10'000'000 * scale);
        bench::emit(
            "mproc", w, "map cs=1000, int64",
            bench::rate(reps, static_cast<double>(n64),
                        [&] { (void)pool.map(empty64, mproc::range<std::int64_t>(0, n64), 1000); }),
            "tasks/s");
        bench::emit("mproc", w, "map cs=auto",
                    bench::rate(reps, n1000, [&] { (void)pool.map(empty, mproc::range(n1000)); }),
                    "tasks/s");
        for (std::size_t cs : {1, 1000}) {
            const int n = cs == 1 ? n1 : n1000;
            bench::emit("mproc", w, "imap cs=" + std::to_string(cs),
                        bench::rate(reps, n,
                                    [&] {
                                        long long s = 0;
                                        for (int y : pool.imap(empty, mproc::range(n), cs)) s += y;
                                        if (s < 0) std::abort();
                                    }),
                        "tasks/s");
            bench::emit(
                "mproc", w, "imap_unordered cs=" + std::to_string(cs),
                bench::rate(reps, n,
                            [&] {
                                long long s = 0;
                                for (int y : pool.imap_unordered(empty, mproc::range(n), cs))
                                    s += y;
                                if (s < 0) std::abort();
                            }),
                "tasks/s");
        }
        const auto napply = static_cast<int>(200'000 * scale);
        bench::emit("mproc", w, "apply_async",
                    bench::rate(reps, napply,
                                [&] {
                                    std::vector<mproc::AsyncResult<int>> rs;
                                    rs.reserve(static_cast<std::size_t>(napply));
                                    for (int i = 0; i < napply; ++i)
                                        rs.push_back(pool.apply_async(empty, i));
                                    for (auto& r : rs) (void)r.get();
                                }),
                    "tasks/s");

        cpu_bound(pool, scale, reps);

        // The same map with every chunk run in a child process of its worker (isolate): the
        // cost of a crash costing only its task.
        {
            pool.close();
            pool.join();  // hands its workers back to the next pool
            mproc::Pool isolated({.isolate = true});
            bench::emit("mproc", w, "map cs=1000, isolate",
                        bench::rate(reps, n1000,
                                    [&] { (void)isolated.map(empty, mproc::range(n1000), 1000); }),
                        "tasks/s");
            const int n_iso = n1 / 10;
            bench::emit("mproc", w, "map cs=1, isolate",
                        bench::rate(reps, n_iso,
                                    [&] { (void)isolated.map(empty, mproc::range(n_iso), 1); }),
                        "tasks/s");
        }
    });
}
