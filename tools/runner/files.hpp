#pragma once
// Durable file I/O, for every file the runner writes: writes that are checked and name the
// path and the system's reason when they fail (IoError, exit 3), a whole file replaced
// through a temporary and a rename (PATH is whole or as it was), reading a whole file, and
// the lock that lets one run at a time write a results file.

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace mproc::runner {

// A read or write that failed (exit 3): the path and the system's reason.
class IoError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A run that must not go ahead as asked (exit 2): the message names the way on.
class RunRefused : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The system's reason for the last failed call (errno), as words.
std::string reason();
// Throws IoError "cannot WHAT PATH: REASON".
[[noreturn]] void io_failed(const std::string& what, const std::string& path);

// std::fopen, or IoError.
std::FILE* open_file(const std::string& path, const char* mode);
// Writes all of `s` and flushes it to the kernel, or IoError.
void write_all(std::FILE* f, const std::string& s, const std::string& path);
// fsync, or IoError: what is written survives a power loss.
void sync_file(std::FILE* f, const std::string& path);
// Closes `f` (and sets it to null), or IoError: a close can report a failed write.
void close_file(std::FILE*& f, const std::string& path);

// Appends the file FROM to `out` (open on PATH), past its first line with `skip_first_line`;
// or IoError.
void append_file(std::FILE* out, const std::string& path, const std::string& from,
                 bool skip_first_line);

// The whole file, or IoError.
std::string read_file(const std::string& path);
// The whole file, or "" when there is none (or it cannot be read): for what may be absent.
std::string read_file_if_any(const std::string& path);
// Its size in bytes, or 0 when there is none.
std::uint64_t file_size(const std::string& path);

// Writes `text` to PATH through PATH.tmp and a rename: PATH is whole or as it was. `durable`
// also fsyncs it first, so it survives a power loss too.
void replace_file(const std::string& path, const std::string& text, bool durable = true);
// Renames FROM to TO, or IoError.
void rename_file(const std::string& from, const std::string& to);

// A temporary file that is removed when this goes out of scope, however the run ends.
class TempFile {
  public:
    // $TMPDIR/mproc-WHAT-XXXXXX (or /tmp/...), made empty; IoError when it cannot be.
    explicit TempFile(const char* what);
    ~TempFile() { std::remove(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// Takes OUTPUT.lock at once, or refuses (RunRefused) naming the run that holds it. Returns
// the descriptor that holds the lock; release_lock() lets it go. The lock file is never
// deleted, so the lock can be neither lost nor held twice.
int lock_output(const std::string& output);
void release_lock(int fd);

// This machine's host name, read once: the lock names its holder by it, records and joblog
// lines say where they ran, and device checks name the node.
const std::string& host_name();

}  // namespace mproc::runner
