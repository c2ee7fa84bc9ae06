#pragma once
// Writing results so that an interrupted run loses nothing and duplicates nothing.
//
// Records go to OUTPUT.part; OUTPUT.journal says which are complete. Records are written in
// blocks (every 1 MiB or 100 ms): the block's bytes are appended to the .part file, then
// journal lines naming its inputs as runs of consecutive indices ("<first> <last>", one line
// for a whole ordered block) and a closing line "= <.part size> <reduction so far>". On
// --resume only closed blocks count: the .part file is cut back to the last one, their
// indices are skipped, and the reduction continues from the journal. When the run finishes,
// .part is renamed to OUTPUT and the journal removed: a reader never sees a torn file.

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "config.hpp"
#include "items.hpp"

namespace mproc::runner {

class ResultWriter {
  public:
    ResultWriter(const Config& cfg, bool resume);
    ~ResultWriter();
    ResultWriter(const ResultWriter&) = delete;
    ResultWriter& operator=(const ResultWriter&) = delete;

    // Whether the input at `index` was completed by an earlier run (resume).
    bool done(std::uint64_t index) const { return index < done_.size() && done_[index]; }
    std::uint64_t done_count() const { return done_count_; }
    const Value& reduced() const { return reduced_; }
    // Replaces the reduction (a job's final touch, before finish() writes it).
    void set_reduced(Value v) { reduced_ = std::move(v); }
    std::size_t buffered_bytes() const { return pending_.size(); }

    // Adds a finished record (written at the next flush).
    void add(const Record& r);
    // Writes what is buffered and its journal lines; `sync` also fsyncs both files.
    void flush(bool sync = false);
    // Flushes, writes the reduction file if the job reduces, and renames .part into place.
    void finish();

  private:
    void resume_from_journal();
    std::string journal_header(std::uint64_t part_size) const;

    const Config& cfg_;
    bool to_stdout_;
    std::string part_path_, journal_path_;
    std::FILE* part_ = nullptr;
    std::FILE* journal_ = nullptr;
    int lock_fd_ = -1;
    std::uint64_t part_size_ = 0;
    std::string pending_;  // formatted records not yet written
    std::vector<std::uint64_t> pending_indices_;
    std::vector<bool> done_;
    std::uint64_t done_count_ = 0;
    Value reduced_;
};

// Appends the record of input `index` in `format`: its result, or (when `result` is null)
// its error. Workers call it, so rank 0 only copies finished lines.
void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, std::string& out);

// Where a job's reduction goes: OUTPUT without its extension, plus ".reduced.json".
std::string reduced_path(const std::string& output);

// Takes OUTPUT.lock (waiting up to 30 s for a run that is still ending): only one run or merge
// writes OUTPUT at a time. Returns the descriptor that holds the lock until it is closed.
int lock_output(const std::string& output);

}  // namespace mproc::runner
