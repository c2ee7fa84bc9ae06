#pragma once
// Shared by the C++ benchmark programs: timing, medians, peak memory, and one JSON line per
// figure so tools/bench/report can line them up with the Python anchors.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace bench {

inline double seconds_of(const auto& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// MPROC_BENCH_SCALE (default 1): every benchmark's sizes and durations scale with it.
inline double scale() {
    const char* s = std::getenv("MPROC_BENCH_SCALE");
    return s ? std::atof(s) : 1.0;
}

// Runs `body` for `seconds` and returns how many times it ran (the clock is read once per
// 64 runs, so it costs nothing next to one).
inline std::int64_t runs_for(double seconds, const auto& body) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::int64_t n = 0;
    while (std::chrono::steady_clock::now() < end) {
        for (int i = 0; i < 64; ++i) body();
        n += 64;
    }
    return n;
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Median rate over `reps` runs of fn, which handles `items` items per run.
inline double rate(int reps, double items, const auto& fn) {
    std::vector<double> r;
    for (int i = 0; i < reps; ++i) r.push_back(items / seconds_of(fn));
    return median(r);
}

inline long peak_rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

inline void emit(const char* impl, int workers, const std::string& figure, double value,
                 const char* unit) {
    std::printf(
        "{\"impl\": \"%s\", \"workers\": %d, \"figure\": \"%s\", \"value\": %.6g, "
        "\"unit\": \"%s\"}\n",
        impl, workers, figure.c_str(), value, unit);
    std::fflush(stdout);
}

// The seeds' CPU-bound task: the sum of i + i^2 + i^3 over [start, stop), wrapping mod 2^64.
inline std::uint64_t cpu_sum(std::uint64_t start, std::uint64_t stop) {
    std::uint64_t s = 0;
    for (std::uint64_t i = start; i < stop; ++i) s += i + i * i + i * i * i;
    return s;
}

}  // namespace bench
