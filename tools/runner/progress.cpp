#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mproc/pool.hpp>
#include <sstream>

#include "record_format.hpp"

namespace mproc::runner {
namespace {

// How often the front ran the ranks again after a lost rank before this run (errors.restarts).
std::int64_t restarts_before() {
    const char* n = std::getenv("MPROC_RESTART_COUNT");
    return n != nullptr ? std::atoll(n) : 0;
}

long peak_rss_mib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6)) / 1024;
    return -1;
}

}  // namespace

std::string seconds_text(double s) {
    std::ostringstream o;
    if (s < 60) {
        o << std::fixed << std::setprecision(s < 10 ? 1 : 0) << s << " s";
    } else {
        const auto t = static_cast<long>(s);
        o << t / 3600 << ":" << std::setw(2) << std::setfill('0') << (t / 60) % 60 << ":"
          << std::setw(2) << t % 60;
    }
    return o.str();
}

Progress::Progress(std::uint64_t total, std::uint64_t already)
    : total_(total),
      already_(already),
      started_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                   .count()),
      tty_(isatty(2) != 0 || std::getenv("MPROC_TTY") != nullptr) {
    const char* every = std::getenv("MPROC_PROGRESS_SECONDS");
    interval_ = every ? std::atof(every) : (tty_ ? 0.2 : 5.0);
    // The terminal's width, as tools/mproc found it (80 when unknown).
    const char* cols = std::getenv("MPROC_COLUMNS");
    columns_ = cols ? std::max(20, std::atoi(cols)) : 80;
}

void Progress::record(const Record& r) {
    ++done_;
    const double at = std::chrono::duration<double>(Clock::now() - start_).count();
    const auto index = Value(static_cast<std::int64_t>(r.index));
    if (!r.ok) {
        ++failed_;
        if (failures_.size() < kListed && r.extra)
            failures_.push_back(Value(Value::Map{{"index", index},
                                                 {"input", r.extra->input},
                                                 {"error", Value(r.extra->error)},
                                                 {"rank", Value(r.rank)},
                                                 {"at", Value(std::round(at * 1e3) / 1e3)}}));
    }
    if (r.attempts > 1 && retried_.size() < kListed)
        retried_.push_back(Value(Value::Map{{"index", index},
                                            {"attempts", Value(r.attempts)},
                                            {"rank", Value(r.rank)},
                                            {"at", Value(std::round(at * 1e3) / 1e3)}}));
    auto& s = ranks_[r.rank];
    ++s.tasks;
    s.busy += static_cast<double>(r.busy_ns) / 1e9;
    // What the report shows of task times: a histogram, and the slowest inputs.
    const double us = static_cast<double>(r.busy_ns) / 1e3;
    const auto bin =
        static_cast<std::size_t>(us < 1 ? 0 : std::min(40.0, std::floor(std::log2(us)) + 1));
    if (histogram_.size() <= bin) histogram_.resize(bin + 1, 0);
    ++histogram_[bin];
    if (slowest_.size() < kSlowest || r.busy_ns > slowest_.front().busy_ns) {
        if (slowest_.size() == kSlowest) {
            std::pop_heap(slowest_.begin(), slowest_.end(), faster_first);
            slowest_.pop_back();
        }
        slowest_.push_back({r.busy_ns, r.index, r.rank, r.line.substr(0, 300)});
        std::push_heap(slowest_.begin(), slowest_.end(), faster_first);
    }
}

void Progress::tick(bool force) {
    const auto now = Clock::now();
    if (!force && std::chrono::duration<double>(now - last_).count() < interval_) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
    const std::uint64_t todo = total_ - already_;
    const double eta = rate > 0 ? static_cast<double>(todo - std::min(todo, done_)) / rate : 0;
    const std::uint64_t shown = already_ + done_;
    const double frac = total_ ? static_cast<double>(shown) / static_cast<double>(total_) : 1;
    std::ostringstream count, speed;
    count << shown << "/" << total_ << " (" << std::fixed << std::setprecision(1) << 100 * frac
          << "%)";
    speed << std::fixed << std::setprecision(0) << rate << " tasks/s";
    // In order of what to drop first when the terminal is narrow.
    std::vector<std::string> fields{count.str(), speed.str(), "ETA " + seconds_text(eta),
                                    std::to_string(failed_) + " failed"};
    std::lock_guard lock(screen_);
    if (!tty_) {
        std::cerr << "progress: " << join(fields) << std::endl;
        return;
    }
    std::cerr << "\r\033[K" << bar_line(fields, frac, columns_) << std::flush;
}

void Progress::quiet(const std::vector<mproc::detail::QuietWorker>& workers, double first) {
    std::map<int, double> still;
    std::lock_guard lock(screen_);
    for (const auto& w : workers) {
        const auto it = quiet_.find(w.rank);
        double next = it == quiet_.end() ? first : it->second;
        if (w.seconds >= next) {
            if (tty_) std::cerr << "\r\033[K";
            std::cerr << "mproc: rank " << w.rank << (w.host.empty() ? "" : " on " + w.host)
                      << ": no answer for " << seconds_text(w.seconds)
                      << " (a task running long, or a stopped or lost rank)\n";
            next = 2 * w.seconds;
        }
        still[w.rank] = next;
    }
    quiet_ = std::move(still);  // a worker that answered starts afresh
}

std::string Progress::bar_line(std::vector<std::string> fields, double frac, int columns) {
    const std::size_t room = static_cast<std::size_t>(columns - 1);
    for (;;) {
        const std::string text = join(fields);
        if (text.size() + 4 + 10 <= room || fields.size() == 2) {
            const std::size_t width =
                std::min<std::size_t>(30, room > text.size() + 4 ? room - text.size() - 4 : 0);
            if (width < 10) return text.substr(0, room);
            const auto filled = static_cast<std::size_t>(frac * static_cast<double>(width));
            return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] " +
                   text;
        }
        fields.erase(fields.begin() + 1);  // the rate, then the ETA
    }
}

void Progress::summary(const std::string& outcome) {
    interject();
    std::lock_guard lock(screen_);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    std::cerr << outcome << ": " << done_ << " tasks in " << seconds_text(elapsed) << " ("
              << std::fixed << std::setprecision(0)
              << (elapsed > 0 ? static_cast<double>(done_) / elapsed : 0) << " tasks/s), "
              << failed_ << " failed";
    if (already_ > 0) std::cerr << "; " << already_ << " were done by an earlier run";
    std::cerr << "; rank 0 peak memory " << peak_rss_mib() << " MiB\n";
    for (const auto& [rank, s] : ranks_) {
        std::cerr << "  rank " << rank << ": " << s.tasks << " tasks, busy "
                  << seconds_text(s.busy) << " (" << std::setprecision(0)
                  << (elapsed > 0 ? 100 * s.busy / elapsed : 0) << "%)\n";
    }
}

Value Progress::json(const Config& cfg, const std::string& outcome, int code) const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    Value::List ranks;
    for (const auto& [rank, s] : ranks_)
        ranks.push_back(
            Value(Value::Map{{"rank", Value(rank)},
                             {"tasks", Value(static_cast<std::int64_t>(s.tasks))},
                             {"busy_seconds", Value(std::round(s.busy * 1e3) / 1e3)}}));
    const auto count = [](std::uint64_t n) { return Value(static_cast<std::int64_t>(n)); };
    return Value(
        Value::Map{{"config", Value(cfg.file)},
                   {"job", Value(cfg.job->name)},
                   {"results", Value(cfg.output)},
                   {"outcome", Value(outcome)},
                   {"exit_code", Value(code)},
                   {"started", Value(iso_time(started_))},
                   {"wall_seconds", Value(std::round(elapsed * 1e3) / 1e3)},
                   {"inputs", count(total_)},
                   {"done_earlier", count(already_)},
                   {"ran", count(done_)},
                   {"failed", count(failed_)},
                   {"failures", Value(failures_)},
                   {"failures_listed", count(failures_.size())},
                   {"ranks", Value(std::move(ranks))},
                   {"rank0_peak_mib", Value(static_cast<std::int64_t>(peak_rss_mib()))},
                   {"restarts", Value(restarts_before())},
                   {"retried", Value(retried_)},
                   {"task_seconds_log2_us", histogram_json()},
                   {"slowest", slowest_json()}});
}

void Progress::interject() {
    std::lock_guard lock(screen_);
    if (tty_) std::cerr << "\r\033[K";
}

Value Progress::histogram_json() const {
    Value::List l;
    for (std::uint64_t n : histogram_) l.push_back(Value(static_cast<std::int64_t>(n)));
    return Value(std::move(l));
}
Value Progress::slowest_json() const {
    std::vector<Slow> s = slowest_;
    std::sort(s.begin(), s.end(), faster_first);
    Value::List l;
    for (const Slow& x : s)
        l.push_back(Value(Value::Map{
            {"index", Value(static_cast<std::int64_t>(x.index))},
            {"seconds", Value(std::round(static_cast<double>(x.busy_ns) / 1e6) / 1e3)},
            {"rank", Value(x.rank)},
            {"record", Value(x.line)}}));
    return Value(std::move(l));
}
QuietWatch::QuietWatch(const mproc::Pool& pool, Progress& progress) {
    const char* env = std::getenv("MPROC_QUIET_SECONDS");
    const double first = env ? std::max(0.1, std::atof(env)) : 30.0;
    const auto every = std::chrono::duration<double>(std::min(5.0, first / 3));
    thread_ = std::thread([this, &pool, &progress, first, every] {
        std::unique_lock lock(mutex_);
        while (!cv_.wait_for(lock, every, [this] { return done_; })) {
            lock.unlock();
            progress.quiet(pool.quiet_workers(first), first);
            lock.lock();
        }
    });
}
QuietWatch::~QuietWatch() {
    {
        std::lock_guard lock(mutex_);
        done_ = true;
    }
    cv_.notify_one();
    thread_.join();
}
}  // namespace mproc::runner
