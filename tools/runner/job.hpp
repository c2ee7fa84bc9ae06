#pragma once
// The interface of a built-in batch job. A job is one .cpp in jobs/ that registers a
// JobSpec; `mproc jobs` lists them, and a YAML config names one with `job:`.
//
//     MPROC_JOB({
//         .name = "squares",
//         .description = "x -> x*x for integer inputs",
//         .params = {},
//         .run = [](const Value& input, const Value& params, const TaskContext& ctx) {
//             return Value(input.as_int() * input.as_int());
//         },
//     });
//
// `run` executes on a worker for one input and returns the result, or throws: the error's
// message is recorded for that input and the config's `errors.policy` decides what follows.

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "value.hpp"

namespace mproc::runner {

enum class ParamType { integer, number, string, boolean, list };

struct Param {
    std::string name;
    ParamType type = ParamType::string;
    Value default_value;  // null: the parameter is required
    std::string help;
};

// A task that failed with something to show for it: the record keeps `detail` (a command's
// exit code and output) as its "result" beside the "error".
class TaskFailed : public std::runtime_error {
  public:
    explicit TaskFailed(const std::string& what, Value detail = Value())
        : std::runtime_error(what), detail_(std::move(detail)) {}
    const Value& detail() const { return detail_; }

  private:
    Value detail_;
};

// Thrown when a task's errors.task_timeout has passed.
class TaskTimeout : public TaskFailed {
  public:
    using TaskFailed::TaskFailed;
};

// Thrown when the run is being stopped (Ctrl-C, SIGTERM, a time limit's warning) while the
// task runs: it is never retried and never recorded, so a --resume runs it again.
class TaskInterrupted : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The run's stop request, on every rank (mpirun forwards the front's SIGUSR1 to each). Set
// from a signal handler, so request_stop() only stores an atomic flag.
void request_stop() noexcept;
bool stop_requested() noexcept;

// Where a worker runs its tasks: its slot (1 to the run's workers: GNU parallel's job slot),
// its place among its node's workers (from 0), its rank and host, the cores its tasks may use
// (pool.cores_per_worker) and the devices they see (pool.gpus_per_worker).
struct WorkerPlace {
    int slot = 1;
    int node_slot = 0;
    int rank = 0;
    std::string host;
    int cores = 1;
    std::vector<std::string> gpus;
};

// What a running task knows besides its input: its deadline and where it runs.
class TaskContext {
  public:
    using Clock = std::chrono::steady_clock;
    explicit TaskContext(std::optional<Clock::time_point> deadline, std::uint64_t index = 0)
        : deadline_(deadline), index_(index) {}

    // Throws TaskTimeout once the deadline has passed, TaskInterrupted once the run is being
    // stopped; long-running jobs call it in their loops.
    void check() const;
    std::optional<Clock::time_point> deadline() const { return deadline_; }
    // The input's index (0-based) in the run.
    std::uint64_t index() const { return index_; }
    double timeout_seconds() const { return timeout_seconds_; }
    void set_timeout_seconds(double s) { timeout_seconds_ = s; }
    // output.task_logs: the folder a job writes each task's whole output to ("": none).
    const std::string& log_dir() const { return *log_dir_; }
    void set_log_dir(const std::string& dir) { log_dir_ = &dir; }  // outlives the task
    // Where it runs; the cores it may use (OMP_NUM_THREADS is set to the same).
    const WorkerPlace& place() const { return *place_; }
    int cores() const { return place_->cores; }
    void set_place(const WorkerPlace& place) { place_ = &place; }  // outlives the task

    // What the task ran, as the joblog shows it (GNU parallel's Command, Exitval and Signal
    // columns): a job that runs programs says so; others are shown as "job input".
    struct Ran {
        std::string command;
        int exit_code = 0;
        int signal = 0;
    };
    void report(Ran ran) const { ran_ = std::move(ran); }
    const std::optional<Ran>& ran() const { return ran_; }

  private:
    mutable std::optional<Ran> ran_;  // set by the job while it runs
    std::optional<Clock::time_point> deadline_;
    std::uint64_t index_ = 0;
    double timeout_seconds_ = 0;
    const std::string* log_dir_ = &kNoDir;
    const WorkerPlace* place_ = &kNowhere;
    static inline const std::string kNoDir;
    static inline const WorkerPlace kNowhere;
};

// What every input of a config gives a task, for checks that need to know: whether each is
// a mapping (a grid point, or values that are all mappings) and the fields all of them have.
struct InputShape {
    bool mapping = false;
    std::vector<std::string> fields;
};

// A parameter's problem found against the input: which parameter, and what is wrong.
struct ParamProblem {
    std::string param;
    std::string what;
};

struct JobSpec {
    std::string name;
    std::string description;
    std::vector<Param> params;
    // Whether records say where, when and how long each task ran unless the config says
    // otherwise (output.provenance).
    bool provenance = false;
    std::function<Value(const Value& input, const Value& params, const TaskContext& ctx)> run;
    // Jobs that reduce: the reduction starts at reduce_init and folds in every result.
    std::function<Value(Value acc, const Value& result)> reduce;
    Value reduce_init;
    // Two reductions (of a job array's parts) into one, for `mproc merge`; unset, the parts'
    // records still merge but their reductions do not.
    std::function<Value(Value acc, const Value& other)> combine;
    // What the reduction reads as on the terminal, e.g. "pi ≈ 3.1416".
    std::function<std::string(const Value& reduced, const Value& params)> describe;
    // Checks on parameters beyond their types: an error message, or "" when fine.
    std::function<std::string(const Value& params)> check;
    // Checks on parameters against what the inputs are (a command template's placeholders).
    std::function<std::optional<ParamProblem>(const Value& params, const InputShape& input)>
        check_input;
    // Rank 0, before the first task: the parameters workers get, which may add shared
    // objects' handles (see handle_value). `reduced` is the reduction so far (on --resume).
    std::function<Value(const Value& params, const Value& reduced)> prepare;
    // Rank 0, after the last task: the reduction as it is written and shown.
    std::function<Value(Value reduced, const Value& params)> finish;
    // Jobs with Processes of their own: how many worker ranks to leave them (the pool of
    // `processes: all` takes the rest, at least one), and, on rank 0, starting them once the
    // pool has its ranks and stopping them after it has drained, however the run ends.
    std::function<int(const Value& params)> reserve_ranks;
    std::function<void(const Value& params)> start;
    std::function<void(const Value& params)> stop;
};

// A shared object's handle (mproc::Value, Lock, ...) carried inside a parameter Value, as its
// bytes: handles are plain bytes by design, valid on every rank of the run.
template <class Handle>
Value handle_value(const Handle& h) {
    const auto bytes = std::bit_cast<std::array<char, sizeof(Handle)>>(h);
    return Value(std::string(bytes.begin(), bytes.end()));
}
template <class Handle>
Handle handle_of(const Value& v) {
    std::array<char, sizeof(Handle)> bytes{};
    const std::string& s = v.as_string();
    if (s.size() != bytes.size()) throw std::logic_error("handle_of: not a handle of this type");
    std::copy(s.begin(), s.end(), bytes.begin());
    return std::bit_cast<Handle>(bytes);
}

bool register_job(JobSpec spec);
const JobSpec* find_job(const std::string& name);
std::vector<const JobSpec*> all_jobs();
const char* type_name(ParamType t);

// `s` as one word for /bin/sh or bash, whatever it holds: in single quotes.
std::string shell_quote(const std::string& s);
// The words with `between` between them: "a, b, c".
std::string join(const std::vector<std::string>& words, const std::string& between = ", ");

// What a task sees of its worker's share of a node: the cores it may use, in the variables
// thread libraries read (unless the user set them), and its devices.
inline constexpr const char* kThreadVariables[] = {"OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                   "OPENBLAS_NUM_THREADS"};
inline constexpr const char* kDeviceVariables[] = {"CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
                                                   "ROCR_VISIBLE_DEVICES"};

}  // namespace mproc::runner

#define MPROC_JOB_CONCAT2(a, b) a##b
#define MPROC_JOB_CONCAT(a, b) MPROC_JOB_CONCAT2(a, b)
#define MPROC_JOB(...)                                                                          \
    [[maybe_unused]] static const bool MPROC_JOB_CONCAT(mproc_job_registration_, __COUNTER__) = \
        ::mproc::runner::register_job(::mproc::runner::JobSpec __VA_ARGS__)
