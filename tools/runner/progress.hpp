#pragma once
// What a batch run shows while it runs and says when it ends: a live bar on a terminal
// (done/total, rate, ETA, failures; one line as wide as the terminal), a plain line every few
// seconds otherwise, workers that have owed a result for long named on their own line, and at
// the end a summary with each rank's tasks and busy time for people and OUTPUT.summary.json
// for programs.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mproc/detail/engine.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "record.hpp"
#include "value.hpp"

namespace mproc {
class Pool;
}

namespace mproc::runner {

// 4.2 s, 42 s, or 1:02:03.
std::string seconds_text(double s);

class Progress {
  public:
    // `total` inputs, `already` of them done by an earlier run. Under mpirun a rank's stderr
    // is a pipe to mpirun; tools/mproc says whether its own stderr is a terminal (MPROC_TTY)
    // and how wide it is (MPROC_COLUMNS).
    Progress(std::uint64_t total, std::uint64_t already);

    // Counts a record: its rank's tasks and busy time, failures and retries, task times.
    void record(const Record& r);
    // Redraws the bar (or prints a line) when it is due, or now with `force`.
    void tick(bool force = false);
    // Names the workers that have owed a result for at least `first` seconds — a stopped or
    // lost rank, or a long task — once when first seen, again each time the wait doubles.
    // From the watching thread (QuietWatch).
    void quiet(const std::vector<mproc::detail::QuietWorker>& workers, double first);
    // Clears the bar's line, so a message printed next starts on a clean one.
    void interject();
    // The summary for people: tasks, rate, failures, each rank's share.
    void summary(const std::string& outcome);
    // The run in JSON, for programs: what ran, what failed, each rank's share, the time.
    Value json(const Config& cfg, const std::string& outcome, int code) const;

    std::uint64_t failed() const { return failed_; }

    // One line that fits `columns` without touching the last one (which would wrap): the bar
    // shrinks from 30 to 10 cells, then fields go (the rate first, then the ETA), then the
    // bar, then the text is cut.
    static std::string bar_line(std::vector<std::string> fields, double frac, int columns);

  private:
    using Clock = std::chrono::steady_clock;
    struct RankStats {
        std::uint64_t tasks = 0;
        double busy = 0;
    };
    struct Slow {
        std::uint64_t busy_ns;
        std::uint64_t index;
        std::int32_t rank;
        std::string line;  // its record (the input, the result), cut short
    };
    static bool faster_first(const Slow& a, const Slow& b) { return a.busy_ns > b.busy_ns; }
    static constexpr std::size_t kSlowest = 20;
    static constexpr std::size_t kListed = 1000;  // failures named in the JSON summary

    Value histogram_json() const;
    Value slowest_json() const;

    std::uint64_t total_, already_, done_ = 0, failed_ = 0;
    Value::List failures_, retried_;
    std::vector<std::uint64_t> histogram_;  // tasks by log2 of their µs
    std::vector<Slow> slowest_;             // a heap, the fastest of them first
    double started_;                        // seconds since the epoch
    bool tty_;
    int columns_ = 80;
    double interval_;
    Clock::time_point start_ = Clock::now(), last_ = Clock::now();
    std::map<int, RankStats> ranks_;
    std::mutex screen_;            // the main thread draws, the watching thread names ranks
    std::map<int, double> quiet_;  // rank -> the wait at which it is named next
};

// Asks the pool every few seconds which workers have owed a result for long, and has
// Progress name them: with an ordered map, one stopped rank holds every result back, and the
// bar alone would just stand still. MPROC_QUIET_SECONDS (30) is how long first.
class QuietWatch {
  public:
    QuietWatch(const mproc::Pool& pool, Progress& progress);
    ~QuietWatch();
    QuietWatch(const QuietWatch&) = delete;
    QuietWatch& operator=(const QuietWatch&) = delete;

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

}  // namespace mproc::runner
