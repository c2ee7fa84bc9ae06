#pragma once
// Writing a run's results so that an interrupted run loses nothing, duplicates nothing and is
// never mixed with another run's. Beside OUTPUT (each side file's name is the whole results
// name plus a suffix, so x.jsonl and x.csv share none):
//   OUTPUT.part      the records so far, in blocks; renamed to OUTPUT when the run ends
//   OUTPUT.journal   the run's identity and what each block holds (journal.hpp)
//   OUTPUT.state     a reducing job's reduction so far and the .part size it covers, replaced
//                    whole (never appended), at most as often as keeps its cost near 5%
//   OUTPUT.lock      flock()ed by the one run (or merge) writing OUTPUT (files.hpp)
//   OUTPUT.reduced.json   the reduction of a finished run
// On --resume a block counts when it is closed and its bytes are in .part; a reducing job's
// blocks past the state's checkpoint are folded in again from their .jsonl records (.csv and
// .txt: run again). .part is cut back to the last block that counts, never padded.
// --retry-failed copies the records that stand into a new .part, leaves the failed inputs out
// of its journal, and resumes that; records that came after a hole, or out of order (pool.order:
// longest_first), are put back in index order at the end.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "config.hpp"
#include "journal.hpp"
#include "record.hpp"

namespace mproc::runner {

// Where a job's reduction goes: OUTPUT plus ".reduced.json".
std::string reduced_path(const std::string& output);
// Where the run's summary in JSON goes: OUTPUT plus ".summary.json".
std::string summary_path(const std::string& output);

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
    void resume(const Journal& j);
    void retry_failed(const Journal& j);
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

}  // namespace mproc::runner
