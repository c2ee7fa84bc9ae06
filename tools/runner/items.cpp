#include "items.hpp"

#include <mpi.h>

#include <chrono>
#include <exception>
#include <mproc/mproc.hpp>
#include <optional>
#include <stdexcept>
#include <typeinfo>

#include "files.hpp"
#include "job.hpp"
#include "record_format.hpp"

namespace mproc::runner {
namespace {
Setup g_setup;
const JobSpec* g_job = nullptr;
int g_rank = 0;
WorkerPlace g_place;

// A task's error as a record says it: the message, a sentence. The exception's C++ type is
// added only when it says something the message may not (std::out_of_range from .at(),
// std::bad_alloc), not for the plain kinds jobs throw on purpose.
std::string error_text(const std::exception& e) {
    const bool plain =
        dynamic_cast<const TaskFailed*>(&e) != nullptr || typeid(e) == typeid(std::runtime_error) ||
        typeid(e) == typeid(std::invalid_argument) || typeid(e) == typeid(std::overflow_error) ||
        typeid(e) == typeid(std::range_error) || typeid(e) == typeid(std::domain_error);
    if (plain) return e.what();
    return std::string(e.what()) + " (" + detail::demangle(typeid(e).name()) + ")";
}

double wall_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string item_text(const Item& item) {
    return item.input.is_string() ? item.input.as_string() : item.input.json();
}

// A line of GNU parallel's --joblog: Seq Host Starttime JobRuntime Send Receive Exitval Signal
// Command, tab-separated (Send and Receive, bytes to and from a remote host, are 0 here).
std::string joblog_line(std::uint64_t index, const std::string& host, double start, double seconds,
                        const TaskContext::Ran& ran) {
    char times[64];
    std::snprintf(times, sizeof times, "%.3f\t%10.3f", start, seconds);
    std::string command = ran.command;
    for (char& c : command)
        if (c == '\n' || c == '\t') c = ' ';  // one line, nine columns
    return std::to_string(index + 1) + "\t" + host + "\t" + times + "\t0\t0\t" +
           std::to_string(ran.exit_code) + "\t" + std::to_string(ran.signal) + "\t" + command +
           "\n";
}

}  // namespace

NodeDevices node_devices(const std::vector<std::string>& configured) {
    if (!configured.empty()) return {configured, "launch.gpus"};
    for (const char* name : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"}) {
        const char* set = std::getenv(name);
        if (set == nullptr) continue;
        NodeDevices found{{}, name};
        for (std::string_view rest = set; !rest.empty();) {
            const auto comma = rest.find(',');
            if (comma != 0) found.ids.emplace_back(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
        }
        return found;
    }
    return {};
}

std::vector<std::string> worker_gpus(const NodeDevices& node, int per_worker, int node_slot,
                                     int node_workers, const std::string& host) {
    const auto need = static_cast<std::size_t>(per_worker) * static_cast<std::size_t>(node_workers);
    if (node.ids.size() < need) {
        const std::string found =
            node.source.empty()
                ? "none (no launch.gpus, and neither CUDA_VISIBLE_DEVICES nor "
                  "ROCR_VISIBLE_DEVICES is set)"
                : std::to_string(node.ids.size()) + " (" +
                      (node.ids.empty() ? "an empty list" : join(node.ids)) + ", from " +
                      node.source + ")";
        throw std::runtime_error(
            "pool.gpus_per_worker: " + std::to_string(node_workers) + " worker" +
            (node_workers == 1 ? "" : "s") + " on " + host + " need " + std::to_string(need) +
            " device" + (need == 1 ? "" : "s") + " (" + std::to_string(per_worker) +
            " each), but it has " + found +
            "; start fewer workers (pool.cores_per_worker, --ranks) or lower "
            "pool.gpus_per_worker");
    }
    const auto first = node.ids.begin() + static_cast<std::ptrdiff_t>(node_slot) * per_worker;
    return {first, first + per_worker};
}

void setup_worker(Setup setup) {
    g_job = find_job(setup.job);
    if (g_job == nullptr) throw std::runtime_error("no job '" + setup.job + "' in this build");
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    const mproc::WorkerSlot slot = mproc::worker_slot();
    g_place = WorkerPlace{slot.slot + 1, slot.node_slot, g_rank, host_name(),
                          setup.cores_per_worker, {}};
    if (setup.gpus_per_worker > 0) {
        g_place.gpus = worker_gpus(node_devices(setup.gpus), setup.gpus_per_worker,
                                   slot.node_slot, slot.node_workers, host_name());
        // For a C++ job's own device runtime, which reads them once, when it starts: set
        // before the first task. (The MPI thread reads no variable by now.)
        const std::string mine = join(g_place.gpus, ",");
        for (const char* name : kDeviceVariables) setenv(name, mine.c_str(), 1);
    }
    g_setup = std::move(setup);
}

Record run_item(Item item) {
    using Clock = std::chrono::steady_clock;
    Record r;
    r.index = item.index;
    r.rank = g_rank;
    const auto start = Clock::now();
    // When it started, seconds since the epoch: for provenance and the joblog only.
    const double started = g_setup.provenance || g_setup.joblog ? wall_now() : 0;
    Value result;
    bool has_result = false;  // a success, or a failure with something to show (TaskFailed)
    std::string error;
    std::optional<TaskContext::Ran> ran;  // what the last attempt said it ran
    for (r.attempts = 1;; ++r.attempts) {
        std::optional<Clock::time_point> deadline;
        if (g_setup.task_timeout > 0)
            deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(g_setup.task_timeout));
        TaskContext ctx(deadline, item.index);
        ctx.set_timeout_seconds(g_setup.task_timeout);
        ctx.set_log_dir(g_setup.task_logs);
        ctx.set_place(g_place);
        // After the attempt, however it ends.
        struct Keep {
            const TaskContext& ctx;
            std::optional<TaskContext::Ran>& ran;
            ~Keep() { ran = ctx.ran(); }
        } keep{ctx, ran};
        try {
            ctx.check();  // a stopped run starts nothing more
            result = g_job->run(item.input, g_setup.params, ctx);
            r.ok = has_result = true;
            error.clear();
            break;
        } catch (const TaskInterrupted& e) {
            r.ok = has_result = false;  // rank 0 records nothing once the run stops: no retry
            error = e.what();
            break;
        } catch (const TaskFailed& e) {
            r.ok = false;
            error = error_text(e);
            result = e.detail();
            has_result = !result.is_null();
        } catch (const std::exception& e) {
            r.ok = has_result = false;
            error = error_text(e);
        }
        if (r.attempts >= g_setup.attempts) break;
    }
    const auto busy = Clock::now() - start;
    // The record is formatted here, where the work is spread over the workers; rank 0 only
    // copies it. Rank 0 still gets the input of a failure (to name it) and the result of a
    // job that reduces (to fold it in).
    r.line.reserve(96);  // one allocation: appending from empty regrew it several times
    std::optional<Provenance> where;
    if (g_setup.provenance)
        where = Provenance{host_name(), g_rank, started,
                           std::chrono::duration<double>(busy).count(), r.attempts};
    format_record(static_cast<Format>(g_setup.format), r.index, item.input,
                  has_result ? &result : nullptr, r.ok ? std::string() : error,
                  where ? &*where : nullptr, r.line);
    std::string joblog;
    if (g_setup.joblog) {
        if (!ran) ran = TaskContext::Ran{g_job->name + " " + item_text(item), r.ok ? 0 : 1, 0};
        joblog = joblog_line(r.index, host_name(), started,
                             std::chrono::duration<double>(busy).count(), *ran);
    }
    if (!r.ok || g_job->reduce || g_setup.joblog) {
        r.extra = std::make_unique<Record::Extra>(
            Record::Extra{r.ok ? Value() : std::move(item.input),
                          r.ok ? std::move(result) : Value(), std::move(error), std::move(joblog)});
    }
    r.busy_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(busy).count());
    return r;
}

Record run_suspect(Item item) {
    g_setup.suspect_started.at(0).put({item.index, g_rank});
    mproc::Event& go = g_setup.suspect_go.at(static_cast<std::size_t>(g_rank));
    go.wait();
    go.clear();  // before this rank's next suspect can say it starts
    return run_item(std::move(item));
}

MPROC_TASK(setup_worker);
MPROC_TASK(run_item);
MPROC_TASK(run_suspect);

}  // namespace mproc::runner

namespace mproc::runner {
// What goes to workers and back per input uses the byte codecs, not Boost archives.
static_assert(detail::CustomPacked<Item> && detail::CustomPacked<Record> &&
              detail::CustomPacked<Value>);
}  // namespace mproc::runner
