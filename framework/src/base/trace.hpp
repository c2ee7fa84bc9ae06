#pragma once
// What a run did, for a person to look at later (`mproc report`): every chunk's rank, start,
// length, items and outcome, gathered on rank 0 as results come in and written as one JSON
// file when the run ends. On when MPROC_TRACE=PATH is set (the batch runner sets it to
// OUTPUT.trace for every run).
//
// Bounded whatever the run's length: up to kMaxChunks chunks are kept one by one (a timeline
// of bars); past that only what aggregates is kept (busy time and items per rank per tenth
// of a second, each rank's totals, a histogram of per-item time, the 20 slowest chunks and
// the first 1000 failures), so 10^7 tasks cost what 10^5 do.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace mproc::detail {

class Trace {
  public:
    // nullptr-like when MPROC_TRACE is not set: see enabled().
    Trace();
    bool enabled() const { return !path_.empty(); }

    // A chunk of `items` items of task `task`, from input `first` of its job, ran on `rank`
    // from `start_ns` (system clock, ns since the epoch) for `busy_ns`; `ok` false when it
    // failed. On rank 0's MPI thread.
    void chunk(int rank, std::uint64_t first, std::uint64_t start_ns, std::uint64_t busy_ns,
               std::uint32_t items, bool ok, const std::string& task);
    // Writes PATH (through PATH.tmp and a rename); `hosts` by rank. Says on stderr if it cannot.
    void write(const std::vector<std::string>& hosts);

  private:
    struct Chunk {
        std::uint64_t first;  // the input index of its first item, in its job
        double start;         // seconds since start_
        float seconds;
        std::uint32_t items;
        std::int32_t rank;
        std::uint16_t task;
        bool ok;
    };
    static constexpr std::size_t kMaxChunks = 100000;
    static constexpr double kBucket = 0.1;  // seconds, when aggregating
    static constexpr std::size_t kSlowest = 20, kMaxFailures = 1000;

    void sample_rank0_cpu(double at);
    void aggregate(const Chunk& c);

    std::string path_;
    double start_ = 0;  // seconds since the epoch, when the runtime started
    double last_ = 0;   // the latest end seen, relative
    std::vector<std::string> tasks_;
    std::vector<Chunk> chunks_;  // while there are at most kMaxChunks
    bool aggregated_ = false;    // past that: buckets only
    std::map<std::pair<int, std::int64_t>, std::pair<double, std::uint64_t>> buckets_;
    std::map<int, std::pair<double, std::uint64_t>> per_rank_;  // busy seconds, items
    std::map<int, std::uint64_t> chunks_per_rank_;
    std::vector<std::uint64_t> histogram_;  // items by log2 of µs per item
    std::vector<Chunk> slowest_;            // the kSlowest longest, unordered
    std::vector<Chunk> failures_;
    std::vector<std::pair<double, double>> rank0_cpu_;  // (relative time, CPU seconds)
    double next_sample_ = 0;
};

}  // namespace mproc::detail
