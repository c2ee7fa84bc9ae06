#include "run.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mproc/mproc.hpp>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "config.hpp"
#include "crashes.hpp"
#include "durations.hpp"
#include "files.hpp"
#include "inputs.hpp"
#include "items.hpp"
#include "plan.hpp"
#include "progress.hpp"
#include "record_format.hpp"
#include "results_writer.hpp"

namespace mproc::runner {
namespace {

using Clock = std::chrono::steady_clock;

// Calls the job's stop hook on the way out of the run, however it ends.
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

// One run once its results are open: the inputs, the pool and what the phases share.
class BatchRun {
  public:
    BatchRun(const Args& args, const Config& cfg, ResultWriter& out, const std::string& rerun);
    BatchRun(const BatchRun&) = delete;
    BatchRun& operator=(const BatchRun&) = delete;

    // The phases, in this order; each does nothing once the run is to stop.
    void suspects();
    void inputs();
    int finish();

  private:
    // Takes one record; false when the run is to stop. `whatever_the_policy`: recorded even
    // under errors.policy fail (an input that crashed its worker errors.max_crashes times: run
    // again, it would only crash again).
    bool take(Record& r, bool whatever_the_policy = false);
    // Ends the run with `code` and `outcome` ("interrupted", "stopped"); false, for take.
    bool end_run(int code, const char* outcome);
    // A record for an input that failed where no task could say so: it crashed its worker too
    // often, or its child process (pool.isolate).
    Record failed_record(const Item& item, const std::string& error) const;
    // pool.isolate: an input whose child process crashed comes back as a RemoteError, not a
    // record. Each input is its own chunk and results are taken in input order, so the input
    // is the oldest one handed out (oldest_read); under errors.policy retry it runs again,
    // alone, and otherwise its failure is recorded.
    Item oldest_read();
    Record crashed_record(const Item& item, const mproc::RemoteError& first);
    // Takes every result of an imap, in the order it gives them.
    template <class Results>
    void consume(Results&& results);
    // A suspect's record when it is back, letting the suspects that say they start go first
    // (`noting` each one's rank in the crash book).
    void await_oldest(bool noting);

    const Args& args_;
    const Config& cfg_;
    ResultWriter& out_;
    const std::string& rerun_;
    // Inputs that were out on workers when a rank was lost run first, each alone (see
    // crashes.hpp); `handled_` is what that phase recorded, which the main phase skips.
    std::optional<CrashBook> crashes_;
    std::unordered_set<std::uint64_t> handled_;
    ItemRange items_;
    Progress progress_;
    Value params_;
    // Declared before the pool, so it runs after the pool has drained: the job's Processes
    // answer every task that was handed out before they are stopped.
    StopJob stop_job_;
    Setup setup_;
    mproc::Pool pool_;
    const QuietWatch watch_;  // names the workers that owe a result for long
    // errors.max_failures: past this many failures no more inputs go out; those running
    // finish and are recorded.
    std::optional<std::uint64_t> budget_;
    bool over_budget_ = false;
    int code_ = 0;
    std::string outcome_ = "done", io_error_;
    Clock::time_point last_flush_ = Clock::now();
    std::optional<Running> running_;
    std::mutex read_mutex_;
    std::deque<Item> read_items_;  // pool.isolate: the inputs handed out, oldest first
    struct Suspect {
        std::uint64_t index;
        mproc::AsyncResult<Record> result;
    };
    std::deque<Suspect> suspects_out_;  // in submission order
};

// The pool's workers: every free one, less those the job's own Processes need.
int pool_processes(const Config& cfg, const Value& params) {
    int processes = cfg.processes;
    if (processes == 0 && cfg.job->reserve_ranks && mproc::worker_count() > 0)
        processes = std::max(1, mproc::worker_count() - cfg.job->reserve_ranks(params));
    return processes;
}

BatchRun::BatchRun(const Args& args, const Config& cfg, ResultWriter& out,
                   const std::string& rerun)
    : args_(args),
      cfg_(cfg),
      out_(out),
      rerun_(rerun),
      items_(
          cfg.input,
          [this](std::uint64_t i) { return out_.done(i) || handled_.count(i) != 0; },
          args.shard.value_or(Shard{})),
      progress_(items_.total(), out.done_count()),
      params_(cfg.job->prepare ? cfg.job->prepare(cfg.params, out.reduced()) : cfg.params),
      stop_job_(*cfg.job, params_),
      setup_{cfg.job->name,
             params_,
             cfg.task_timeout,
             cfg.policy == Policy::retry ? 1 + cfg.retries : 1,
             static_cast<int>(cfg.format),
             cfg.provenance,
             !cfg.joblog.empty(),
             cfg.task_logs,
             cfg.cores_per_worker,
             cfg.gpus_per_worker,
             cfg.gpus,
             std::vector<mproc::Queue<SuspectStart>>(1),
             std::vector<mproc::Event>(static_cast<std::size_t>(mproc::rank_count()))},
      pool_({.processes = pool_processes(cfg, params_), .isolate = cfg.isolate}, setup_worker,
            setup_),
      watch_(pool_, progress_),
      budget_(cfg.max_failures) {
    if (cfg.job->start) cfg.job->start(params_);
    if (cfg.max_failures_percent)
        budget_ = static_cast<std::uint64_t>(*cfg.max_failures_percent / 100 *
                                             static_cast<double>(items_.total()));
    if (cfg.output != "-") {
        crashes_.emplace(cfg.output, cfg.max_crashes);
        running_.emplace(*crashes_, items_.first());
    }
    apply_order(cfg, items_, [this](std::uint64_t i) { return out_.done(i); });
    items_.on_read([this](const Item& item) {
        // What is out on workers is named in OUTPUT.running before it goes: the suspects if
        // a rank is lost.
        if (running_) running_->reading(item.index);
        if (cfg_.isolate) {
            std::lock_guard lock(read_mutex_);
            read_items_.push_back(item);
        }
    });
}

bool BatchRun::end_run(int code, const char* outcome) {
    code_ = code;
    outcome_ = outcome;
    return false;
}

bool BatchRun::take(Record& r, bool whatever_the_policy) {
    // What comes back after a stop may have been cut short: not kept.
    if (stop_requested()) return end_run(3, "interrupted");
    if (running_) running_->recorded(r.index);
    progress_.record(r);
    if (!r.ok && cfg_.policy == Policy::fail && !whatever_the_policy) {
        // Not recorded as done: a --resume after the fix runs it again.
        progress_.interject();
        std::cerr << cfg_.file << ": input " << r.index << " (" << r.extra->input.json()
                  << ") failed: " << r.error() << "\nmproc: stopping (errors.policy: fail)\n";
        return end_run(1, "stopped");
    }
    if (!r.ok && budget_ && !over_budget_ && progress_.failed() > *budget_) {
        over_budget_ = true;
        items_.stop();  // what is running still comes back and is recorded
    }
    try {
        out_.add(r);
        const auto now = Clock::now();
        if (out_.buffered_bytes() >= (1u << 20) ||
            now - last_flush_ > std::chrono::milliseconds(100)) {
            out_.flush();
            if (running_)
                running_->save(
                    [this](std::uint64_t i) { return out_.done(i) || handled_.count(i) != 0; });
            last_flush_ = now;
        }
    } catch (const IoError& e) {
        io_error_ = e.what();
        return end_run(3, "interrupted");
    }
    progress_.tick();
    return true;
}

Record BatchRun::failed_record(const Item& item, const std::string& error) const {
    Record r;
    r.index = item.index;
    r.ok = false;
    format_record(cfg_.format, item.index, item.input, nullptr, error, nullptr, r.line);
    r.extra = std::make_unique<Record::Extra>();
    r.extra->input = item.input;
    r.extra->error = error;
    return r;
}

Item BatchRun::oldest_read() {
    std::lock_guard lock(read_mutex_);
    Item item = std::move(read_items_.front());
    read_items_.pop_front();
    return item;
}

Record BatchRun::crashed_record(const Item& item, const mproc::RemoteError& first) {
    // "crashed: the task's child process was killed by signal 11 (Segmentation fault)": the
    // pool's message names the input by its place in this run, the record has its index.
    const auto crash_text = [](const mproc::RemoteError& e) {
        const std::string m = e.message();
        return "crashed: " + m.substr(0, m.find(" while running input"));
    };
    std::string error = crash_text(first);
    const int attempts = cfg_.policy == Policy::retry ? 1 + cfg_.retries : 1;
    for (int attempt = 2; attempt <= attempts; ++attempt) {
        try {
            Record r = pool_.apply(run_item, item);
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
}

template <class Results>
void BatchRun::consume(Results&& results) {
    for (auto it = results.begin(); it != results.end(); ++it) {
        if (!cfg_.isolate) {
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
}

void BatchRun::await_oldest(bool noting) {
    while (!suspects_out_.front().result.ready()) {
        try {
            const SuspectStart s = setup_.suspect_started.at(0).get(std::chrono::milliseconds(10));
            if (noting) crashes_->trying(s.index, s.rank);
            setup_.suspect_go.at(static_cast<std::size_t>(s.rank)).set();
        } catch (const mproc::Empty&) {
        }
    }
}

// Under pool.isolate a crash costs only its input, so the suspects simply run again with the
// rest.
void BatchRun::suspects() {
    if (!crashes_ || cfg_.isolate) return;
    const std::uint64_t shard_end = items_.first() + items_.total();
    std::uint64_t count = 0;
    for (std::uint64_t i : crashes_->suspects())
        if (i >= items_.first() && i < shard_end && !out_.done(i)) ++count;
    if (count == 0) return;
    progress_.interject();
    std::cerr << "mproc: " << count
              << " input(s) may have been out on workers when a rank was lost; each runs first, "
                 "alone on its worker\n";
    ItemRange suspects(
        cfg_.input, [&](std::uint64_t i) { return out_.done(i) || !crashes_->suspect(i); },
        args_.shard.value_or(Shard{}));
    // Two per worker out at most: each waits for rank 0 to note its rank before it runs.
    const std::size_t most = 2 * static_cast<std::size_t>(std::max(1, pool_.processes()));
    auto next = suspects.begin();
    bool go_on = true;
    while (go_on) {
        while (suspects_out_.size() < most && !(next == suspects.end())) {
            Item item = *next;
            ++next;
            handled_.insert(item.index);
            if (crashes_->poisoned(item.index)) {
                Record r = failed_record(
                    item, "crashed its worker " + std::to_string(crashes_->charges(item.index)) +
                              " times (errors.max_crashes; the rank running it was lost each "
                              "time)");
                if (!(go_on = take(r, true))) break;
                continue;
            }
            const std::uint64_t index = item.index;
            suspects_out_.push_back({index, pool_.apply_async(run_suspect, std::move(item))});
        }
        if (!go_on || suspects_out_.empty()) break;
        await_oldest(true);
        Suspect s = std::move(suspects_out_.front());
        suspects_out_.pop_front();
        Record r = std::move(s.result).get();
        crashes_->tried(s.index);
        go_on = take(r);
    }
    // Stopped early: what is still out is waited for and dropped (not recorded: run again).
    while (!suspects_out_.empty()) {
        await_oldest(false);
        suspects_out_.pop_front();
    }
}

void BatchRun::inputs() {
    if (code_ != 0) return;
    if (cfg_.isolate) {
        consume(pool_.imap(run_item, items_, 1));
    } else if (cfg_.ordered) {
        consume(pool_.imap(run_item, items_, cfg_.chunksize));
    } else {
        consume(pool_.imap_unordered(run_item, items_, cfg_.chunksize));
    }
    if (code_ == 0 && over_budget_) {
        end_run(1, "stopped");
        progress_.interject();
        std::cerr << "mproc: " << progress_.failed()
                  << " tasks failed, more than errors.max_failures allows (" << *budget_
                  << "); the inputs not run are left for --resume\n";
    }
}

int BatchRun::finish() {
    // A stop that comes after the last result changes nothing: the run is complete.
    bool finished = false;  // the results are in place
    try {
        if (code_ == 0) {
            std::function<Value(Value)> touch;
            if (cfg_.job->finish)
                touch = [&](Value reduced) { return cfg_.job->finish(std::move(reduced), params_); };
            out_.finish(touch);
            finished = true;
            if (crashes_) crashes_->finish();
            if (progress_.failed() > 0) code_ = 1;
        } else if (io_error_.empty()) {
            out_.flush(true);
        }
    } catch (const IoError& e) {
        io_error_ = e.what();
        end_run(3, "interrupted");
    }
    progress_.tick(true);
    progress_.summary(outcome_);
    if (cfg_.output != "-") {
        // Beside the results, for programs; a failure to write it loses no result.
        try {
            replace_file(summary_path(cfg_.output),
                         progress_.json(cfg_, outcome_, code_).json() + "\n", false);
        } catch (const IoError& e) {
            std::cerr << "mproc: " << e.what() << "\n";
        }
    }
    if (!io_error_.empty()) std::cerr << "mproc: " << io_error_ << "\n";
    if (cfg_.job->reduce && code_ != 3) {
        std::cerr << (cfg_.job->describe ? cfg_.job->describe(out_.reduced(), params_)
                                         : out_.reduced().json())
                  << "\n";
    }
    if (cfg_.output == "-") return code_;
    if (finished) {
        std::cerr << "results: " << cfg_.output;
        if (cfg_.job->reduce) std::cerr << ", reduction: " << reduced_path(cfg_.output);
        std::cerr << "\nsee the run: " << front_name() << " report " << args_.config << "  (writes "
                  << cfg_.output << ".html)\n";
    } else {
        std::cerr << "mproc: partial results kept in " << cfg_.output << ".part; "
                  << (io_error_.empty() ? "" : "once that is fixed, ")
                  << "continue with: " << rerun_ << " --resume\n";
    }
    return code_;
}

// What a run of complete results says (--resume or --retry-failed found nothing to do).
int nothing_to_do(const Config& cfg, const ResultWriter& out, const Args& args,
                  const std::string& rerun) {
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

}  // namespace

int drive(const Args& args) {
    const Config cfg = run_config(args);
    check_processes(cfg, mproc::rank_count(), mproc::worker_count());
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
    if (out.complete()) return nothing_to_do(cfg, out, args, rerun);
    BatchRun run(args, cfg, out, rerun);
    run.suspects();
    run.inputs();
    return run.finish();
}

}  // namespace mproc::runner
