#include "mproc/error.hpp"

#include <sstream>
#include <typeinfo>

#include "mproc/detail/registry.hpp"

namespace mproc {
namespace {

std::string describe_remote(const std::string& task, const std::string& type,
                            const std::string& message, int rank, const std::string& host,
                            std::optional<std::uint64_t> index) {
    std::ostringstream s;
    s << "task '" << task << "' raised " << type << ": " << message << " (";
    if (index) s << "input index " << *index << ", ";
    s << "rank " << rank << " on " << host << ")";
    return s.str();
}

}  // namespace

RemoteError::RemoteError(std::string task, std::string type_name, std::string message, int rank,
                         std::string host, std::optional<std::uint64_t> index)
    : Error(describe_remote(task, type_name, message, rank, host, index)),
      task_(std::move(task)),
      type_name_(std::move(type_name)),
      message_(std::move(message)),
      rank_(rank),
      host_(std::move(host)),
      index_(index) {}

ConfigError::ConfigError(std::string file, int line, int column, const std::string& what)
    : Error(line > 0
                ? file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what
                : file + ": " + what),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

MpiError::MpiError(std::string routine, int code, const std::string& mpi_message)
    : Error(routine + " failed: " + mpi_message), routine_(std::move(routine)), code_(code) {}

std::string detail::describe_exception(std::exception_ptr e) noexcept {
    try {
        try {
            std::rethrow_exception(e);
        } catch (const RemoteError& r) {
            return r.type_name() + ": " + r.message();
        } catch (const std::exception& x) {
            return demangle(typeid(x).name()) + ": " + x.what();
        } catch (...) {
            return "a non-standard exception";
        }
    } catch (...) {
        return "an exception that could not be described";  // out of memory
    }
}

}  // namespace mproc
