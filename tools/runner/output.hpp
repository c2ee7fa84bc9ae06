#pragma once
// Writing results so that an interrupted run loses nothing, duplicates nothing and is never
// mixed with another run's.
//
// Beside OUTPUT (every side file's name is the whole results name plus a suffix, so x.jsonl
// and x.csv share none):
//   OUTPUT.part      the records so far, in blocks
//   OUTPUT.journal   what determines the records (the run's identity), then for every block
//                    its inputs as runs of indices ("<first> <last>") and a closing line
//                    "= <.part size>"; "complete" once OUTPUT is in place. Kept after the run,
//                    so a later --resume can tell a finished run from a changed config.
//   OUTPUT.state     a reducing job's reduction so far and the .part size it covers, replaced
//                    whole (never appended), at most as often as keeps its cost near 5%
//   OUTPUT.lock      flock()ed by the one run (or merge) writing OUTPUT; never deleted, so the
//                    lock cannot be lost or duplicated; holds that run's host and pid
//   OUTPUT.reduced.json   the reduction of a finished run
// The journal also marks failed inputs ("x <first> <last>"), which --retry-failed runs again:
// their records are left out of a new .part, which is then resumed, and put back in index
// order at the end.
// On --resume a block counts when it is closed and its bytes are in .part; a reducing job's
// blocks past the state's checkpoint are folded in again from their .jsonl records (.csv and
// .txt: run again). .part is cut back to the last block that counts, never padded.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "items.hpp"

namespace mproc::runner {

// A run that must not go ahead as asked (exit 2): the message names the way on.
class RunRefused : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A read or write of the results that failed (exit 3): path and the system's reason.
class IoError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// How a run treats results an earlier run left: start afresh (refused over partial results),
// continue them (--resume), or discard them (--restart).
// retry_failed runs again, in place, the inputs of a finished run whose records are failures.
enum class Start { fresh, resume, restart, retry_failed };

// What determines a run's records, as (key, JSON text) pairs: the job, each parameter, the
// input source (for lines and files, a digest of their content or list), the order and the
// record format's version. A --resume with any of them different is refused.
using Identity = std::vector<std::pair<std::string, std::string>>;
Identity run_identity(const Config& cfg);

// Refuses (RunRefused) what `start` may not do with the results an earlier run left at
// cfg.output; `rerun` is the command line that started this run, for the message. Called
// before any rank starts and again under the lock.
void check_start(const Config& cfg, Start start, const std::string& rerun);

// Whether OUTPUT is the finished results of a run (no journal at all, or a complete one).
bool results_complete(const std::string& output);

class ResultWriter {
  public:
    ResultWriter(const Config& cfg, Start start, const std::string& rerun);
    ~ResultWriter();
    ResultWriter(const ResultWriter&) = delete;
    ResultWriter& operator=(const ResultWriter&) = delete;

    // True when --resume found the run already finished: there is nothing to write.
    bool complete() const { return complete_; }
    // Whether the input at `index` was completed by an earlier run (resume).
    bool done(std::uint64_t index) const { return index < done_.size() && done_[index]; }
    std::uint64_t done_count() const { return done_count_; }
    // The failures of the finished run found (resume, retry_failed).
    std::uint64_t failed_count() const { return failed_count_; }
    const Value& reduced() const { return reduced_; }
    std::size_t buffered_bytes() const { return pending_.size(); }

    // Adds a finished record (written at the next flush).
    void add(const Record& r);
    // Writes what is buffered and its journal lines; `sync` also fsyncs and checkpoints the
    // reduction. Throws IoError, after which the files on disk are still a valid journal.
    void flush(bool sync = false);
    // Flushes, writes the reduction file if the job reduces (after `touch`, a job's final
    // touch to it), renames .part into place and marks the journal complete.
    void finish(const std::function<Value(Value)>& touch = {});

  private:
    void start_fresh(const Identity& identity);
    void open_joblog(bool fresh);
    void resume(const struct Journal& j);
    void retry_failed(const struct Journal& j);
    // Puts .part's records in index order (after a resume that filled holes).
    void sort_part();
    void write_state(bool sync);
    // Folds the .jsonl records in .part bytes [from, to) into the reduction (resume).
    void fold_records(std::uint64_t from, std::uint64_t to);

    const Config& cfg_;
    bool to_stdout_;
    bool complete_ = false;
    std::string part_path_, journal_path_, state_path_;
    std::FILE* part_ = nullptr;
    std::FILE* joblog_ = nullptr;  // output.joblog, appended to as records are
    std::string pending_joblog_;
    std::FILE* journal_ = nullptr;
    int lock_fd_ = -1;
    std::uint64_t part_size_ = 0;
    std::string pending_;  // formatted records not yet written
    std::vector<std::uint64_t> pending_indices_;
    std::vector<std::uint64_t> pending_failed_;  // those of pending_indices_ that failed
    std::uint64_t failed_count_ = 0;
    std::uint64_t begin_ = 0;  // .part's size before the first record (the CSV header)
    bool needs_sort_ = false;
    std::vector<bool> done_;
    std::uint64_t done_count_ = 0;
    Value reduced_;
    double state_cost_ = 0;                             // seconds the last state write took
    std::chrono::steady_clock::time_point state_time_;  // when it was written
    std::uint64_t state_covers_ = 0;                    // the .part size it covered
};

// Where, when and how long a task ran, for records with output.provenance.
struct Provenance {
    std::string host;
    int rank = 0;
    double start = 0;  // seconds since the epoch
    double seconds = 0;
    int attempts = 1;
};

// The CSV header line for these records.
std::string csv_header(bool provenance);

// Appends the record of input `index` in `format`: its result, its error (when `error` is not
// empty), or both (a failure with something to show, such as a command's output), and its
// provenance when given. Workers call it, so rank 0 only copies finished lines.
void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, const Provenance* where, std::string& out);

// `t` (seconds since the epoch) as UTC ISO 8601 to the millisecond: 2026-11-28T21:50:01.123Z.
std::string iso_time(double t);

// Where a job's reduction goes: OUTPUT plus ".reduced.json".
std::string reduced_path(const std::string& output);
// Where the run's summary in JSON goes: OUTPUT plus ".summary.json".
std::string summary_path(const std::string& output);

// Takes OUTPUT.lock at once, or refuses (RunRefused) naming the run that holds it. Returns
// the descriptor that holds the lock; release_lock() lets it go.
int lock_output(const std::string& output);
void release_lock(int fd);

// Writes `text` to PATH through PATH.tmp and a rename: PATH is whole or as it was. `durable`
// also fsyncs it first, so it survives a power loss too.
void replace_file(const std::string& path, const std::string& text, bool durable = true);

}  // namespace mproc::runner
