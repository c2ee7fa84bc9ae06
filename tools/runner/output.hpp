#pragma once
// Writing results so that an interrupted run loses nothing and duplicates nothing.
//
// Records go to OUTPUT.part; OUTPUT.journal says which are complete. Records are written in
// blocks: the block's bytes are appended to the .part file, then one journal line per record
// ("<index> <.part size after it>") and a closing line "= <reduction so far>". On --resume
// only whole blocks count: the .part file is cut back to the last complete block, its
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

    // Adds a finished record (written at the next flush).
    void add(const Record& r);
    // Writes what is buffered and its journal lines; `sync` also fsyncs both files.
    void flush(bool sync = false);
    // Flushes, writes the reduction file if the job reduces, and renames .part into place.
    void finish();

  private:
    void resume_from_journal();

    const Config& cfg_;
    bool to_stdout_;
    std::string part_path_, journal_path_;
    std::FILE* part_ = nullptr;
    std::FILE* journal_ = nullptr;
    int lock_fd_ = -1;
    std::uint64_t part_size_ = 0;
    std::string pending_;                      // formatted records not yet written
    std::vector<std::uint64_t> pending_ends_;  // .part size after each pending record
    std::vector<std::uint64_t> pending_indices_;
    std::vector<bool> done_;
    std::uint64_t done_count_ = 0;
    Value reduced_;
};

// Appends the record for `r` (whose input is `input`) in `format`. Workers call it, so rank 0
// only copies finished lines.
void format_record(Format format, const Record& r, const Value& input, std::string& out);

// Where a job's reduction goes: OUTPUT without its extension, plus ".reduced.json".
std::string reduced_path(const std::string& output);

}  // namespace mproc::runner
