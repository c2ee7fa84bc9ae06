#pragma once
// The journal beside a results file, and the run's identity: what makes an interrupted run
// resumable without losing, mixing or redoing work.
//
// OUTPUT.journal holds the journal's version, the run's identity (what determines its
// records), the .part size before the first record, then for every block written to .part its
// inputs as runs of indices ("<first> <last>"; failed ones also as "x <first> <last>") and a
// closing line "= <.part size>"; "complete" once OUTPUT is in place. It stays after the run, so
// a later --resume can tell a finished run from a changed config. A last line without its
// newline is torn and ignored; a damaged line ends what is trusted.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"

namespace mproc::runner {

// The journal's layout (v3: with the run's identity and a separate reduction state; v4: the
// failed inputs of each block, "x <first> <last>"). A v3 journal is still read.
inline constexpr int kJournalVersion = 4;

// How a run treats results an earlier run left: start afresh (refused over partial results),
// continue them (--resume), or discard them (--restart). retry_failed runs again, in place,
// the inputs of a finished run whose records are failures.
enum class Start { fresh, resume, restart, retry_failed };

// What determines a run's records, as (key, JSON text) pairs: the job, each parameter, the
// input source (for lines, csv and files, a digest of their content or list), the order and
// the record format's version. A --resume with any of them different is refused.
using Identity = std::vector<std::pair<std::string, std::string>>;
Identity run_identity(const Config& cfg);

// "params.command changed since the RUN: was "a", now "b"" for the first three differences
// (and how many more), or "" when the identities agree.
std::string identity_change(const Identity& was, const Identity& now, const std::string& run);

// Index runs: [first, last] pairs, in order.
using Runs = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// Everything a journal says.
struct Journal {
    bool exists = false;
    bool complete = false;
    int version = 0;
    Identity identity;
    std::uint64_t begin = 0;  // .part size before the first record (the CSV header)
    struct Block {
        Runs runs;
        Runs failed;            // among the runs
        std::uint64_t end = 0;  // .part size once the block is written
    };
    std::vector<Block> blocks;  // closed blocks, in order
};

// Reads PATH (a journal that does not exist reads as one that does not: exists false).
// Refuses (RunRefused) a file that is not a journal, an empty one, or another version's.
Journal read_journal(const std::string& path);
// The journal's first lines: its version, the identity, the .part size before any record.
std::string journal_head(const Identity& identity, std::uint64_t begin);
// Appends the indices as journal lines "<prefix><first> <last>", one per run: of the marked
// indices in index order, or of `indices` in the order they came, one per consecutive stretch.
void append_runs(std::string& out, const std::vector<bool>& marks, const char* prefix);
void append_runs(std::string& out, const std::vector<std::uint64_t>& indices, const char* prefix);
// Marks the indices of `runs` in `marks` (grown to fit); returns how many were new.
std::uint64_t mark_runs(const Runs& runs, std::vector<bool>& marks);
// How many inputs the closed blocks name.
std::uint64_t journal_count(const Journal& j);
// The inputs the journal marks failed, and (in `count`) how many.
std::vector<bool> journal_failed(const Journal& j, std::uint64_t& count);

// What an earlier run left at a results file, decided from its journal and files.
enum class Left { nothing, partial, complete };
Left what_is_left(const std::string& output, const Journal& j);

// What `start` may do with what an earlier run left (journal `j`, identity now `identity`):
// returns what was left, or refuses (RunRefused) naming the way on; `rerun` is the command
// line that started this run.
Left decide_start(const Config& cfg, const Journal& j, const Identity& identity, Start start,
                  const std::string& rerun);
// --resume and --retry-failed need a results file: refused for output.path '-'.
void refuse_resume_to_stdout(const Config& cfg, Start start);
// Both, from the journal on disk: called before any rank starts, and again under the lock.
void check_start(const Config& cfg, Start start, const std::string& rerun);

// Whether OUTPUT is the finished results of a run (no journal at all, or a complete one).
bool results_complete(const std::string& output);

}  // namespace mproc::runner
