#include "base/execute.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <typeinfo>

#include "mproc/detail/registry.hpp"
#include "mproc/detail/serialize.hpp"

MPROC_PLAIN_SERIALIZABLE(mproc::detail::TaskFailure)

namespace mproc::detail {

TaskFailure describe_current_exception() {
    TaskFailure f;
    try {
        throw;
    } catch (const std::exception& e) {
        f.type_name = demangle(typeid(e).name());
        f.message = e.what();
    } catch (...) {
        const std::type_info* t = abi::__cxa_current_exception_type();
        f.type_name = t != nullptr ? demangle(t->name()) : "unknown exception";
        f.message = "(not derived from std::exception)";
    }
    return f;
}

void append_failure(const TaskHeader& header, TaskFailure failure, Buffer& out, const Place& here,
                    std::uint64_t busy_ns) {
    failure.rank = here.rank;
    failure.host = here.host;
    const std::size_t at = out.size();
    // A failure's start: when its busy time began, as far as the clock now can tell.
    const auto now_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    ResultHeader result{header.job,
                        header.seq,
                        busy_ns,
                        now_ns - std::min(now_ns, busy_ns),
                        0,
                        header.count,
                        ResultStatus::task_failed};
    out.resize(at + sizeof result);
    Packer<TaskFailure> packer(out);
    packer.put(failure);
    packer.finish();
    result.size = out.size() - at - sizeof result;
    std::memcpy(out.data() + at, &result, sizeof result);
}

void execute_chunk(const TaskHeader& header, const char* args, Buffer& out, const Place& here) {
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    const auto start_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    const auto busy_ns = [&] {
        return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    };
    const std::size_t at = out.size();
    ResultHeader result{header.job, header.seq, 0, start_ns, 0, header.count, ResultStatus::ok};
    out.resize(at + sizeof(ResultHeader));
    if (const TaskEntry* entry = find_task(header.task)) {
        std::uint32_t done = 0;
        try {
            entry->invoke(args, header.size, header.count, out, done);
            // The message these results go back in must stay within what MPI can send; room
            // is kept for the failures of the chunks after this one.
            if (out.size() > kMaxMessageBytes - 64 * 1024) {
                done = 0;
                throw Error("the results of " + std::to_string(header.count) + " inputs take " +
                            std::to_string(out.size() - at) +
                            " bytes, more than one MPI message carries (" +
                            std::to_string(kMaxMessageBytes) +
                            "): return smaller results, or pass a smaller chunksize");
            }
        } catch (...) {
            TaskFailure failure = describe_current_exception();
            failure.index = header.first + done;
            out.resize(at);
            // Results over the limit left a buffer of gigabytes behind: give it back.
            if (out.capacity() > kMaxMessageBytes) out.shrink_to_fit();
            append_failure(header, std::move(failure), out, here, busy_ns());
            return;
        }
    } else {
        result.status = ResultStatus::unknown_task;
    }
    result.size = out.size() - at - sizeof(ResultHeader);
    result.busy_ns = busy_ns();
    std::memcpy(out.data() + at, &result, sizeof result);
}

std::exception_ptr remote_error(const std::string& task, const char* data, std::size_t size) {
    Unpacker<TaskFailure> unpacker(data, size);
    TaskFailure f = unpacker.get();
    return std::make_exception_ptr(
        RemoteError(task, f.type_name, f.message, f.rank, f.host, f.index));
}

}  // namespace mproc::detail
