#pragma once
// mproc's one error hierarchy. Everything mproc throws derives from mproc::Error, so
//
//     try { pool.map(f, xs); } catch (const mproc::RemoteError& e) { std::cerr << e.rank(); }
//
// catches a task that threw on a worker, and `catch (const mproc::Error&)` catches anything.

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace mproc {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A task threw on a worker. Carries what the worker knew: the exception's type and message,
// where it ran, which task, and the input index when the task was one item of a map.
class RemoteError : public Error {
  public:
    RemoteError(std::string task, std::string type_name, std::string message, int rank,
                std::string host, std::optional<std::uint64_t> index);

    const std::string& task() const noexcept { return task_; }
    const std::string& type_name() const noexcept { return type_name_; }
    const std::string& message() const noexcept { return message_; }
    int rank() const noexcept { return rank_; }
    const std::string& host() const noexcept { return host_; }
    std::optional<std::uint64_t> index() const noexcept { return index_; }

  private:
    std::string task_;
    std::string type_name_;
    std::string message_;
    int rank_;
    std::string host_;
    std::optional<std::uint64_t> index_;
};

class TimeoutError : public Error {
  public:
    using Error::Error;
};

// A lock released by a thread (RLock) or rank (Lock) that does not hold it, or a
// BoundedSemaphore released more often than acquired: Python's RuntimeError / ValueError.
class SyncError : public Error {
  public:
    using Error::Error;
};

// Barrier::wait on a barrier that was aborted or whose wait timed out.
class BrokenBarrierError : public Error {
  public:
    using Error::Error;
};

// Queue::get_nowait / get(timeout) found nothing.
class Empty : public Error {
  public:
    using Error::Error;
};

// Queue::put_nowait / put(timeout) found no room.
class Full : public Error {
  public:
    using Error::Error;
};

// Connection::recv on a pipe whose other end is closed and drained.
class EOFError : public Error {
  public:
    using Error::Error;
};

// A configuration file is wrong; what() reads "FILE:LINE:COLUMN: what is wrong" (just
// "FILE: what is wrong" when line is 0, for problems with no position, like a --set value).
class ConfigError : public Error {
  public:
    ConfigError(std::string file, int line, int column, const std::string& what);

    const std::string& file() const noexcept { return file_; }
    int line() const noexcept { return line_; }
    int column() const noexcept { return column_; }

  private:
    std::string file_;
    int line_;
    int column_;
};

// An MPI routine failed; what() names the routine and gives MPI's own error string.
class MpiError : public Error {
  public:
    MpiError(std::string routine, int code, const std::string& mpi_message);

    const std::string& routine() const noexcept { return routine_; }
    int code() const noexcept { return code_; }

  private:
    std::string routine_;
    int code_;
};

// An argument outside what it may be, as Python's ValueError: Pool(-1).
class ValueError : public Error {
  public:
    using Error::Error;
};

// Not enough of something the program asked for: free worker ranks, shared arena space.
class ResourceError : public Error {
  public:
    using Error::Error;
};

// Work was submitted to a pool that was closed or terminated, or was dropped by terminate().
class PoolClosed : public Error {
  public:
    using Error::Error;
};

// Unwinds a Process target that was terminated at an interruption point.
class Terminated : public Error {
  public:
    using Error::Error;
};

namespace detail {
// "Type: message" for an exception (a RemoteError's type is the worker's), for the messages
// mproc prints about exceptions nobody else can catch.
std::string describe_exception(std::exception_ptr e) noexcept;
}  // namespace detail

}  // namespace mproc
