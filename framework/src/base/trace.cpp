#include "base/trace.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace mproc::detail {
namespace {

double now_epoch() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A JSON string: quotes, backslashes and control characters escaped.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

Trace::Trace() {
    if (const char* p = std::getenv("MPROC_TRACE"); p != nullptr) path_ = p;
    start_ = now_epoch();
}

void Trace::sample_rank0_cpu(double at) {
    if (at < next_sample_) return;
    next_sample_ = at + 0.2;
    rank0_cpu_.emplace_back(at, cpu_seconds());
}

void Trace::aggregate(const Chunk& c) {
    // Busy time split over the tenths of a second the chunk overlaps (by their numbers, so
    // rounding can never stall it); its items counted where it ends.
    const double end = c.start + c.seconds;
    const auto first = static_cast<std::int64_t>(std::floor(c.start / kBucket));
    const auto last = static_cast<std::int64_t>(std::floor(end / kBucket));
    for (std::int64_t b = first; b <= last; ++b) {
        const double lo = std::max(c.start, static_cast<double>(b) * kBucket);
        const double hi = std::min(end, static_cast<double>(b + 1) * kBucket);
        if (hi > lo) buckets_[{c.rank, b}].first += hi - lo;
    }
    buckets_[{c.rank, last}].second += c.items;
}

void Trace::chunk(int rank, std::uint64_t first, std::uint64_t start_ns, std::uint64_t busy_ns,
                  std::uint32_t items, bool ok, const std::string& task) {
    if (!enabled()) return;
    auto it = std::find(tasks_.begin(), tasks_.end(), task);
    if (it == tasks_.end()) it = tasks_.insert(tasks_.end(), task);
    Chunk c;
    c.first = first;
    c.start = std::max(0.0, static_cast<double>(start_ns) / 1e9 - start_);
    c.seconds = static_cast<float>(static_cast<double>(busy_ns) / 1e9);
    c.items = items;
    c.rank = rank;
    c.task = static_cast<std::uint16_t>(it - tasks_.begin());
    c.ok = ok;
    last_ = std::max(last_, c.start + c.seconds);
    sample_rank0_cpu(now_epoch() - start_);
    auto& [busy, n] = per_rank_[rank];
    busy += c.seconds;
    n += items;
    ++chunks_per_rank_[rank];
    if (items > 0) {
        const double us = static_cast<double>(busy_ns) / 1e3 / items;
        const auto bin =
            static_cast<std::size_t>(us < 1 ? 0 : std::min(40.0, std::floor(std::log2(us)) + 1));
        if (histogram_.size() <= bin) histogram_.resize(bin + 1, 0);
        histogram_[bin] += items;
    }
    if (slowest_.size() < kSlowest) {
        slowest_.push_back(c);
    } else {
        auto least =
            std::min_element(slowest_.begin(), slowest_.end(),
                             [](const Chunk& a, const Chunk& b) { return a.seconds < b.seconds; });
        if (least->seconds < c.seconds) *least = c;
    }
    if (!ok && failures_.size() < kMaxFailures) failures_.push_back(c);
    if (!aggregated_) {
        chunks_.push_back(c);
        if (chunks_.size() > kMaxChunks) {
            for (const Chunk& k : chunks_) aggregate(k);
            chunks_.clear();
            chunks_.shrink_to_fit();
            aggregated_ = true;
        }
    } else {
        aggregate(c);
    }
}

void Trace::write(const std::vector<std::string>& hosts) {
    if (!enabled()) return;
    sample_rank0_cpu(now_epoch() - start_);
    const double end = std::max(last_, now_epoch() - start_);
    std::ostringstream o;
    o << std::setprecision(9);
    const auto chunk_json = [&](const Chunk& c) {
        o << "[" << c.rank << "," << c.start << "," << c.seconds << "," << c.items << ","
          << (c.ok ? 1 : 0) << "," << c.task << "," << c.first << "]";
    };
    const auto list = [&](const std::vector<Chunk>& cs) {
        o << "[";
        for (std::size_t i = 0; i < cs.size(); ++i) {
            if (i) o << ",";
            chunk_json(cs[i]);
        }
        o << "]";
    };
    o << "{\"mproc_trace\": 1,\n\"start\": " << start_ << ",\n\"seconds\": " << end
      << ",\n\"ranks\": [";
    for (std::size_t r = 0; r < hosts.size(); ++r)
        o << (r ? "," : "") << "{\"rank\": " << r << ", \"host\": " << quoted(hosts[r]) << "}";
    o << "],\n\"tasks\": [";
    for (std::size_t i = 0; i < tasks_.size(); ++i) o << (i ? "," : "") << quoted(tasks_[i]);
    o << "],\n\"per_rank\": [";
    bool first = true;
    for (const auto& [rank, v] : per_rank_) {
        o << (first ? "" : ",") << "[" << rank << "," << chunks_per_rank_[rank] << "," << v.second
          << "," << v.first << "]";
        first = false;
    }
    o << "],\n\"histogram_log2_us\": [";
    for (std::size_t i = 0; i < histogram_.size(); ++i) o << (i ? "," : "") << histogram_[i];
    o << "],\n\"rank0_cpu\": [";
    for (std::size_t i = 0; i < rank0_cpu_.size(); ++i)
        o << (i ? "," : "") << "[" << rank0_cpu_[i].first << "," << rank0_cpu_[i].second << "]";
    std::vector<Chunk> slow = slowest_;
    std::sort(slow.begin(), slow.end(),
              [](const Chunk& a, const Chunk& b) { return a.seconds > b.seconds; });
    o << "],\n\"slowest\": ";
    list(slow);
    o << ",\n\"failures\": ";
    list(failures_);
    o << ",\n\"chunks\": ";
    list(chunks_);
    o << ",\n\"bucket_seconds\": " << kBucket << ",\n\"buckets\": [";
    first = true;
    for (const auto& [key, v] : buckets_) {
        o << (first ? "" : ",") << "[" << key.first << "," << key.second << "," << v.first << ","
          << v.second << "]";
        first = false;
    }
    o << "]}\n";
    const std::string tmp = path_ + ".tmp";
    std::ofstream f(tmp, std::ios::trunc);
    f << o.str();
    f.close();
    if (!f || std::rename(tmp.c_str(), path_.c_str()) != 0) {
        std::cerr << "mproc: cannot write the trace to " << path_ << " (MPROC_TRACE)" << std::endl;
        std::remove(tmp.c_str());
    }
}

}  // namespace mproc::detail
