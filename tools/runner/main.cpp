// mproc-runner: the `mproc` command's C++ side (tools/mproc builds it and hands it every verb
// but test, build and bench), and the program every rank of a batch run runs.
//
//   mproc-runner run CONFIG [options]     # outside mpirun: checks the run, starts the ranks
//                                         # (launch.cpp), waits; as a rank (--saved, or under
//                                         # an mpirun/srun): rank 0 drives the job, the
//                                         # others serve tasks
//   mproc-runner validate CONFIG [--set KEY=VALUE ...]   # exit 0, or 2 with CONFIG:LINE:COL
//   mproc-runner jobs | version
//   mproc-runner submit CONFIG [--dry-run] [--resume] [--set ...]
//   mproc-runner merge CONFIG [--set ...]               # a job array's parts into one
//
// Every verb's options are in cli.cpp (`mproc VERB --help`). Exit codes: 0 done; 1 some
// tasks failed; 2 bad command line or config; 3 interrupted (or, for merge, parts missing).

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mproc/mproc.hpp>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "cli.hpp"
#include "config.hpp"
#include "crashes.hpp"
#include "inputs.hpp"
#include "items.hpp"
#include "launch.hpp"
#include "output.hpp"
#include "report.hpp"
#include "slurm.hpp"

namespace {

using namespace mproc::runner;
using Clock = std::chrono::steady_clock;

// Rank 0 stops dispatching; every rank stops the tasks it is running (see TaskInterrupted).
extern "C" void on_stop_signal(int) {
    request_stop();
}

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

// Progress on stderr: a live bar on a terminal, a plain line every few seconds otherwise,
// and a summary with per-rank counts and busy time at the end.
class Progress {
  public:
    // Under mpirun a rank's stderr is a pipe to mpirun; tools/mproc says whether its own
    // stderr is a terminal.
    Progress(std::uint64_t total, std::uint64_t already)
        : total_(total),
          already_(already),
          tty_(isatty(2) != 0 || std::getenv("MPROC_TTY") != nullptr) {
        const char* every = std::getenv("MPROC_PROGRESS_SECONDS");
        interval_ = every ? std::atof(every) : (tty_ ? 0.2 : 5.0);
        // The terminal's width, as tools/mproc found it (80 when unknown).
        const char* cols = std::getenv("MPROC_COLUMNS");
        columns_ = cols ? std::max(20, std::atoi(cols)) : 80;
    }

    void record(const Record& r) {
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

    void tick(bool force = false) {
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
        std::cerr << "\r\033[K" << bar_line(fields, frac) << std::flush;
    }

    // Names the workers that have owed a result for long — a stopped or lost rank, or a long
    // task — on the screen and in the log: once when first seen, again each time the wait
    // doubles. From the watching thread.
    void quiet(const std::vector<mproc::Pool::QuietWorker>& workers, double first) {
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

    // One line that fits the terminal without touching its last column (which would wrap):
    // the bar shrinks from 30 to 10 cells, then fields go (the rate first, then the ETA),
    // then the bar, then the text is cut.
    std::string bar_line(std::vector<std::string> fields, double frac) const {
        const std::size_t room = static_cast<std::size_t>(columns_ - 1);
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

    static std::string join(const std::vector<std::string>& fields) {
        std::string s;
        for (const auto& f : fields) s += (s.empty() ? "" : ", ") + f;
        return s;
    }

    void summary(const std::string& outcome) {
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

    std::uint64_t failed() const { return failed_; }

    // The run in JSON, for programs: what ran, what failed, each rank's share, the time.
    Value json(const Config& cfg, const std::string& outcome, int code) const {
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

    // Clears the bar's line, so a message printed next starts on a clean one.
    void interject() {
        std::lock_guard lock(screen_);
        if (tty_) std::cerr << "\r\033[K";
    }

  private:
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

    Value histogram_json() const {
        Value::List l;
        for (std::uint64_t n : histogram_) l.push_back(Value(static_cast<std::int64_t>(n)));
        return Value(std::move(l));
    }
    Value slowest_json() const {
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
    static constexpr std::size_t kListed = 1000;  // failures named in the JSON summary
    std::uint64_t total_, already_, done_ = 0, failed_ = 0;
    Value::List failures_, retried_;
    std::vector<std::uint64_t> histogram_;  // tasks by log2 of their µs
    std::vector<Slow> slowest_;             // a heap, the fastest of them first
    double started_ =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    bool tty_;
    int columns_ = 80;
    double interval_;
    Clock::time_point start_ = Clock::now(), last_ = Clock::now();
    std::map<int, RankStats> ranks_;
    std::mutex screen_;            // the main thread draws, the watching thread names ranks
    std::map<int, double> quiet_;  // rank -> the wait at which it is named next
};

// Asks the pool every few seconds which workers have owed a result for long, and has
// Progress name them: with an ordered map, one stopped rank holds every result back, and
// the bar alone would just stand still.
class QuietWatch {
  public:
    QuietWatch(const mproc::Pool& pool, Progress& progress) {
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
    ~QuietWatch() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    QuietWatch(const QuietWatch&) = delete;
    QuietWatch& operator=(const QuietWatch&) = delete;

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// Calls the job's stop hook on the way out of drive(), however it ends.
class StopJob {
  public:
    StopJob(const JobSpec& job, const Value& params) : job_(job), params_(params) {}
    ~StopJob() {
        if (!job_.stop) return;
        try {
            job_.stop(params_);
        } catch (const std::exception& e) {
            std::cerr << "mproc: stopping job " << job_.name << ": " << e.what() << "\n";
        }
    }
    StopJob(const StopJob&) = delete;
    StopJob& operator=(const StopJob&) = delete;

  private:
    const JobSpec& job_;
    const Value& params_;
};

Start start_of(const Args& args) {
    if (args.retry_failed) return Start::retry_failed;
    return args.resume ? Start::resume : args.restart ? Start::restart : Start::fresh;
}

// The config as this run uses it: an array task writes its own part of the results. `run`
// takes the copy `plan` saved when it can see it (rank 0 may be on another host), so a
// large config is read once.
Config run_config(const Args& args) {
    std::optional<Config> saved;
    if (!args.saved.empty()) saved = load_saved_config(args.saved);
    if (saved) return std::move(*saved);  // saved as run_config made it, shard and all
    Config cfg = load_config(args.config, args.sets);
    if (args.shard) {
        if (cfg.output == "-")
            throw mproc::ConfigError("--shard", 0, 0,
                                     "an array task needs a results file, not output.path: -");
        cfg.output = shard_path(cfg.output, *args.shard);
    }
    return cfg;
}

// pool.processes against the ranks that run tasks: `workers` of the run's `ranks` (all but
// rank 0 and any group leaders; one rank runs everything).
void check_processes(const Config& cfg, int ranks, int workers) {
    if (ranks <= 1 || cfg.processes <= workers) return;
    const Place& at = cfg.processes_at;
    const int leaders = ranks - 1 - workers;
    throw mproc::ConfigError(
        at.file, at.line, at.column,
        "pool.processes is " + std::to_string(cfg.processes) + ", but the run has " +
            std::to_string(workers) + " worker rank" + (workers == 1 ? "" : "s") + " (" +
            std::to_string(ranks) + " ranks, rank 0 the master" +
            (leaders > 0
                 ? ", " + std::to_string(leaders) + " leading node groups (MPROC_GROUP_SIZE)"
                 : std::string()) +
            "); start more with --ranks " + std::to_string(cfg.processes + 1 + leaders) +
            " or lower pool.processes");
}

// More ranks than this per core on one machine is a mistake (--ranks 100000 once wedged
// mpirun for ten minutes), unless --many-ranks says it is meant.
constexpr long kMaxRanksPerCore = 64;

// Every check that can be made before a rank starts, from one reading of the config (see
// Plan in launch.hpp).
Planned plan(const Args& args, bool local, const std::string& saved) {
    const Config cfg = run_config(args);
    const int ranks = args.ranks > 0 ? args.ranks : cfg.ranks;
    if (local && !args.many_ranks) {
        const long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
        if (ranks > kMaxRanksPerCore * cores)
            throw std::invalid_argument(
                std::to_string(ranks) + " ranks on this machine's " + std::to_string(cores) +
                " cores is more than " + std::to_string(kMaxRanksPerCore) +
                " per core; give a --hostfile or run inside an allocation, or add --many-ranks " +
                "if you mean it");
    }
    check_processes(cfg, ranks, ranks - 1);
    check_start(cfg, start_of(args), rerun_line(args));
    save_config(cfg, saved);
    // A run already writing these results is named now, before any rank starts (rank 0
    // takes the lock for good).
    if (cfg.output != "-" && std::filesystem::exists(cfg.output + ".lock"))
        release_lock(lock_output(cfg.output));
    return {ranks, cfg.restarts, cfg.output};
}

// Rank 0's part of `run`: returns the exit code.
int drive(const Args& args) {
    const Config cfg = run_config(args);
    const int world = mproc::rank_count();
    check_processes(cfg, world, mproc::worker_count());
    const std::string rerun = rerun_line(args);
    if (!cfg.task_logs.empty()) {  // before the results are touched: nothing to undo
        std::error_code ec;
        std::filesystem::create_directories(cfg.task_logs, ec);
        if (ec) {
            std::cerr << cfg.file << ": output.task_logs: cannot create " << cfg.task_logs << ": "
                      << ec.message() << "\n";
            return 3;
        }
    }
    ResultWriter out(cfg, start_of(args), rerun);
    if (out.complete()) {
        if (out.failed_count() == 0)
            std::cerr << "mproc: " << cfg.output << " is complete"
                      << (args.retry_failed ? ", and no input failed: nothing to run again\n"
                                            : "; nothing to resume\n");
        else
            std::cerr << "mproc: " << cfg.output << " is complete; " << out.failed_count()
                      << " of its inputs failed: run them again with: " << rerun
                      << " --retry-failed\n";
        return 0;
    }
    // Inputs that were out on workers when a rank was lost run first, each alone (see
    // crashes.hpp); `handled` is what that phase recorded, which the main phase skips.
    std::optional<CrashBook> crashes;
    if (cfg.output != "-") crashes.emplace(cfg.output, cfg.max_crashes);
    std::unordered_set<std::uint64_t> handled;
    const auto skip = [&](std::uint64_t i) { return out.done(i) || handled.count(i) != 0; };
    ItemRange items(cfg.input, skip, args.shard.value_or(Shard{}));
    Progress progress(items.total(), out.done_count());

    const Value params =
        cfg.job->prepare ? cfg.job->prepare(cfg.params, out.reduced()) : cfg.params;
    // A job's own Processes (started below) get the worker ranks the pool leaves free.
    int processes = cfg.processes;
    if (processes == 0 && cfg.job->reserve_ranks && mproc::worker_count() > 0)
        processes = std::max(1, mproc::worker_count() - cfg.job->reserve_ranks(params));
    // Declared before the pool, so it runs after the pool has drained: the job's Processes
    // answer every task that was handed out before they are stopped.
    StopJob stop_job(*cfg.job, params);
    Setup setup{cfg.job->name,
                params,
                cfg.task_timeout,
                cfg.policy == Policy::retry ? 1 + cfg.retries : 1,
                static_cast<int>(cfg.format),
                cfg.provenance,
                !cfg.joblog.empty(),
                cfg.task_logs,
                std::vector<mproc::Queue<SuspectStart>>(1),
                std::vector<mproc::Event>(static_cast<std::size_t>(world))};

    mproc::Pool pool({.processes = processes, .isolate = cfg.isolate}, setup_worker, setup);
    if (cfg.job->start) cfg.job->start(params);
    const QuietWatch watch(pool, progress);

    // errors.max_failures: past this many failures no more inputs go out; those running
    // finish and are recorded.
    std::optional<std::uint64_t> budget = cfg.max_failures;
    if (cfg.max_failures_percent)
        budget = static_cast<std::uint64_t>(*cfg.max_failures_percent / 100 *
                                            static_cast<double>(items.total()));
    bool over_budget = false;
    int code = 0;
    std::string outcome = "done", io_error;
    auto last_flush = Clock::now();
    std::optional<Running> running;
    if (crashes) running.emplace(*crashes, items.first());
    // Takes one record; false when the run is to stop.
    // `whatever_the_policy`: recorded even under errors.policy fail (an input that crashed
    // its worker errors.max_crashes times: run again, it would only crash again).
    auto take = [&](Record& r, bool whatever_the_policy = false) {
        if (stop_requested()) {  // what comes back now may have been cut short: not kept
            code = 3;
            outcome = "interrupted";
            return false;
        }
        if (running) running->recorded(r.index);
        progress.record(r);
        if (!r.ok && cfg.policy == Policy::fail && !whatever_the_policy) {
            // Not recorded as done: a --resume after the fix runs it again.
            progress.interject();
            std::cerr << cfg.file << ": input " << r.index << " (" << r.extra->input.json()
                      << ") failed: " << r.error() << "\nmproc: stopping (errors.policy: fail)\n";
            code = 1;
            outcome = "stopped";
            return false;
        }
        if (!r.ok && budget && !over_budget && progress.failed() > *budget) {
            over_budget = true;
            items.stop();  // what is running still comes back and is recorded
        }
        try {
            out.add(r);
            const auto now = Clock::now();
            if (out.buffered_bytes() >= (1u << 20) ||
                now - last_flush > std::chrono::milliseconds(100)) {
                out.flush();
                if (running) running->save(skip);
                last_flush = now;
            }
        } catch (const IoError& e) {
            io_error = e.what();
            code = 3;
            outcome = "interrupted";
            return false;
        }
        progress.tick();
        return true;
    };
    // A record for an input that failed where no task could say so: crashed its worker too
    // often, or crashed its child process (pool.isolate).
    auto failed_record = [&](const Item& item, const std::string& error) {
        Record r;
        r.index = item.index;
        r.ok = false;
        format_record(cfg.format, item.index, item.input, nullptr, error, nullptr, r.line);
        r.extra = std::make_unique<Record::Extra>();
        r.extra->input = item.input;
        r.extra->error = error;
        return r;
    };
    // pool.isolate: an input whose child process crashed comes back as a RemoteError, not a
    // record. Each input is its own chunk and results are taken in input order, so the input
    // is the oldest one handed out; under errors.policy retry it runs again, alone.
    std::mutex read_mutex;
    std::deque<Item> read_items;
    items.on_read([&](const Item& item) {
        // What is out on workers is named in OUTPUT.running before it goes: the suspects if
        // a rank is lost.
        if (running) running->reading(item.index);
        if (cfg.isolate) {
            std::lock_guard lock(read_mutex);
            read_items.push_back(item);
        }
    });
    auto oldest_read = [&] {
        std::lock_guard lock(read_mutex);
        Item item = std::move(read_items.front());
        read_items.pop_front();
        return item;
    };
    // "crashed: the task's child process was killed by signal 11 (Segmentation fault)": the
    // pool's message names the input by its place in this run, the record has its index.
    const auto crash_text = [](const mproc::RemoteError& e) {
        const std::string m = e.message();
        return "crashed: " + m.substr(0, m.find(" while running input"));
    };
    auto crashed_record = [&](const Item& item, const mproc::RemoteError& first) {
        std::string error = crash_text(first);
        const int attempts = cfg.policy == Policy::retry ? 1 + cfg.retries : 1;
        for (int attempt = 2; attempt <= attempts; ++attempt) {
            try {
                Record r = pool.apply(run_item, item);
                r.attempts = attempt;
                return r;
            } catch (const mproc::RemoteError& e) {
                if (e.type_name() != "mproc::TaskCrashed") throw;
                error = crash_text(e);
            }
        }
        Record r = failed_record(item, error);
        r.attempts = attempts;
        return r;
    };
    auto consume = [&](auto&& results) {
        for (auto it = results.begin(); it != results.end(); ++it) {
            if (!cfg.isolate) {
                if (!take(*it)) return;
                continue;
            }
            const Item item = oldest_read();
            Record crashed;
            try {
                if (!take(*it)) return;
                continue;
            } catch (const mproc::RemoteError& e) {
                if (e.type_name() != "mproc::TaskCrashed") throw;
                crashed = crashed_record(item, e);
            }
            if (!take(crashed)) return;
        }
    };

    // The suspects first, each alone on its worker; under pool.isolate a crash costs only
    // its input, so they simply run again with the rest.
    const std::uint64_t shard_end = items.first() + items.total();
    std::uint64_t suspect_count = 0;
    if (crashes && !cfg.isolate)
        for (std::uint64_t i : crashes->suspects())
            if (i >= items.first() && i < shard_end && !out.done(i)) ++suspect_count;
    if (suspect_count > 0) {
        progress.interject();
        std::cerr << "mproc: " << suspect_count
                  << " input(s) may have been out on workers when a rank was lost; each runs "
                     "first, alone on its worker\n";
        ItemRange suspects(
            cfg.input, [&](std::uint64_t i) { return out.done(i) || !crashes->suspect(i); },
            args.shard.value_or(Shard{}));
        struct Out {
            std::uint64_t index;
            mproc::AsyncResult<Record> result;
        };
        std::deque<Out> out_q;  // in submission order
        const std::size_t most = 2 * static_cast<std::size_t>(std::max(1, pool.processes()));
        // Lets each suspect that says it starts go (run_suspect waits for this), `noting` its
        // rank in the crash book first, until the oldest one out has come back.
        const auto await_oldest = [&](bool noting) {
            while (!out_q.front().result.ready()) {
                try {
                    const SuspectStart s =
                        setup.suspect_started.at(0).get(std::chrono::milliseconds(10));
                    if (noting) crashes->trying(s.index, s.rank);
                    setup.suspect_go.at(static_cast<std::size_t>(s.rank)).set();
                } catch (const mproc::Empty&) {
                }
            }
        };
        auto next = suspects.begin();
        bool go_on = true;
        while (go_on) {
            while (out_q.size() < most && !(next == suspects.end())) {
                Item item = *next;
                ++next;
                handled.insert(item.index);
                if (crashes->poisoned(item.index)) {
                    Record r = failed_record(
                        item, "crashed its worker " + std::to_string(crashes->charges(item.index)) +
                                  " times (errors.max_crashes; the rank running it was lost each "
                                  "time)");
                    if (!(go_on = take(r, true))) break;
                    continue;
                }
                const std::uint64_t index = item.index;
                out_q.push_back({index, pool.apply_async(run_suspect, std::move(item))});
            }
            if (!go_on || out_q.empty()) break;
            await_oldest(true);
            Out o = std::move(out_q.front());
            out_q.pop_front();
            Record r = std::move(o.result).get();
            crashes->tried(o.index);
            go_on = take(r);
        }
        // Stopped early: what is still out is waited for and dropped (not recorded: run again).
        while (!out_q.empty()) {
            await_oldest(false);
            out_q.pop_front();
        }
    }
    if (code == 0) {
        if (cfg.isolate) {
            consume(pool.imap(run_item, items, 1));
        } else if (cfg.ordered) {
            consume(pool.imap(run_item, items, cfg.chunksize));
        } else {
            consume(pool.imap_unordered(run_item, items, cfg.chunksize));
        }
    }
    if (code == 0 && over_budget) {
        code = 1;
        outcome = "stopped";
        progress.interject();
        std::cerr << "mproc: " << progress.failed()
                  << " tasks failed, more than errors.max_failures allows (" << *budget
                  << "); the inputs not run are left for --resume\n";
    }
    // A stop that comes after the last result changes nothing: the run is complete.
    bool finished = false;  // the results are in place
    try {
        if (code == 0) {
            std::function<Value(Value)> touch;
            if (cfg.job->finish)
                touch = [&](Value reduced) { return cfg.job->finish(std::move(reduced), params); };
            out.finish(touch);
            finished = true;
            if (crashes) crashes->finish();
            if (progress.failed() > 0) code = 1;
        } else if (io_error.empty()) {
            out.flush(true);
        }
    } catch (const IoError& e) {
        io_error = e.what();
        code = 3;
        outcome = "interrupted";
    }
    progress.tick(true);
    progress.summary(outcome);
    if (cfg.output != "-") {
        // Beside the results, for programs; a failure to write it loses no result.
        try {
            replace_file(summary_path(cfg.output), progress.json(cfg, outcome, code).json() + "\n",
                         false);
        } catch (const IoError& e) {
            std::cerr << "mproc: " << e.what() << "\n";
        }
    }
    if (!io_error.empty()) std::cerr << "mproc: " << io_error << "\n";
    if (cfg.job->reduce && code != 3) {
        std::cerr << (cfg.job->describe ? cfg.job->describe(out.reduced(), params)
                                        : out.reduced().json())
                  << "\n";
    }
    if (finished) {
        if (cfg.output != "-") {
            std::cerr << "results: " << cfg.output;
            if (cfg.job->reduce) std::cerr << ", reduction: " << reduced_path(cfg.output);
            std::cerr << "\nsee the run: " << front_name() << " report " << args.config
                      << "  (writes " << cfg.output << ".html)\n";
        }
    } else if (cfg.output != "-") {
        std::cerr << "mproc: partial results kept in " << cfg.output << ".part; "
                  << (io_error.empty() ? "" : "once that is fixed, ") << "continue with: " << rerun
                  << " --resume\n";
    }
    return code;
}

void list_jobs() {
    for (const JobSpec* j : all_jobs()) {
        std::cout << j->name << "\n    " << j->description << "\n";
        for (const Param& p : j->params) {
            std::cout << "    params." << p.name << " (" << type_name(p.type) << ", "
                      << (p.default_value.is_null() ? std::string("required")
                                                    : "default " + p.default_value.json())
                      << "): " << p.help << "\n";
        }
        if (j->reduce) std::cout << "    reduces its results to one value\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    // mpirun forwards SIGUSR1 (the front's stop) to every rank: workers stop their running
    // tasks, rank 0 (below) also stops dispatching.
    {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, nullptr);
    }
    Args args;
    try {
        args = parse_command_line(argc, argv);
    } catch (const ExitNow& e) {
        return e.code;
    }
    // `run` is the front (plan, launch the ranks, wait) unless this is one of the ranks: one
    // the front started (--saved), or one of an mpirun or srun the user started.
    const bool rank = !args.saved.empty() || std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                      std::getenv("PMIX_RANK") != nullptr;
    try {
        if (args.verb == "jobs") {
            list_jobs();
            return 0;
        }
        if (args.verb == "version") {
            std::cout << MPROC_VERSION << "\n";
            return 0;
        }
        if (args.verb == "validate") {
            const Config cfg = load_config(args.config, args.sets);
            InputStream in(cfg.input);
            std::cout << cfg.file << ": ok: job " << cfg.job->name << ", " << in.size()
                      << " inputs, results to " << cfg.output << ", errors.policy "
                      << policy_name(cfg.policy) << ", " << cfg.ranks << " ranks\n";
            return 0;
        }
        if (args.verb == "submit") return submit(args);
        if (args.verb == "report") return report(args);
        if (args.verb == "merge")
            return merge_parts(load_config(args.config, args.sets), args.if_complete);
        if (args.verb == "run" && !rank) return launch_run(args, plan);
    } catch (const mproc::ConfigError& e) {
        std::cerr << e.what() << "\n";
        return 2;
    } catch (const RunRefused& e) {
        std::cerr << "mproc: " << e.what() << "\n";
        return 2;
    } catch (const IoError& e) {
        std::cerr << "mproc: " << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        std::cerr << "mproc: " << e.what() << "\n";
        return 2;
    }
    int code = 0;
    // mpirun reports any non-zero rank as a failed job; "some tasks failed" (1) and
    // "interrupted" (3) are normal outcomes, so rank 0 reports them through this file.
    const char* status_file = std::getenv("MPROC_STATUS_FILE");
    const int rc = mproc::run(argc, argv, [&] {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaction(sig, &sa, nullptr);
        // Only rank 0 reads the config (workers get what they need from the pool's
        // initializer); tools/mproc has validated it already, so this is a backstop.
        try {
            code = drive(args);
        } catch (const mproc::ConfigError& e) {
            std::cerr << e.what() << "\n";
            code = 2;
        } catch (const RunRefused& e) {
            std::cerr << "mproc: " << e.what() << "\n";
            code = 2;
        } catch (const IoError& e) {  // before the first record: nothing to keep
            std::cerr << "mproc: " << e.what() << "\n";
            code = 3;
        }
        if (status_file != nullptr) std::ofstream(status_file) << code << "\n";
    });
    if (rc != 0) return rc;
    return status_file != nullptr ? 0 : code;
}
