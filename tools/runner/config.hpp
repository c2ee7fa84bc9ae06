#pragma once
// A batch job's YAML config, read and checked in full before any rank starts. Every problem
// is an mproc::ConfigError reading "CONFIG:LINE:COLUMN: what is wrong" (or "--set KEY=VALUE:
// what is wrong" for a command-line override), with a suggestion for a misspelt key.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "job.hpp"
#include "record_format.hpp"
#include "value.hpp"

namespace mproc::runner {

struct InputSpec {
    enum class Kind { range, values, lines, csv, files, grid } kind = Kind::range;
    std::int64_t start = 0, stop = 0, step = 1;  // range
    std::vector<Value> values;                   // values
    std::string path;                            // lines, csv
    std::vector<std::string> columns;            // csv: the header's names
    std::vector<std::string> files;              // files: the glob's matches, sorted
    std::vector<std::pair<std::string, std::vector<Value>>> grid;  // grid, in file order
};

enum class Policy { fail, skip, retry };

// pool.order: the order inputs go out in (results are written in input order either way).
enum class Order { input, longest_first };

// What to do when the allocation's time limit comes before the end of the run.
enum class OnTimeout { chain, requeue, stop };

// The `slurm:` section: what `mproc submit` writes into the sbatch script.
struct SlurmSpec {
    int nodes = 1;
    int ntasks_per_node = 2;
    std::string time = "00:10:00";
    std::string partition;
    std::string account;
    std::string job_name;            // default "mproc-<job>"
    std::string output, error;       // sbatch --output/--error patterns; "" leaves Slurm's default
    std::vector<std::string> extra;  // whole "#SBATCH ..." lines
    int signal = 120;                // seconds before the limit that the warning signal comes
    OnTimeout on_timeout = OnTimeout::chain;
    int max_restarts = 10;            // continuations at most, after the first allocation
    int array = 0;                    // > 0: a job array of that many tasks, each with its share
    std::string launcher = "mpirun";  // or "srun" (--mpi=pmix)
    int cpus_per_task = 0;            // sbatch --cpus-per-task; 0: pool.cores_per_worker
};

// Where a setting was given, for errors found after reading: a position in the file, or a
// --set (line 0).
struct Place {
    std::string file;
    int line = 0, column = 0;
};

struct Config {
    std::string file;
    const JobSpec* job = nullptr;
    InputSpec input;
    Value params;               // a mapping, defaults filled in
    int processes = 0;          // 0: every free worker
    Place processes_at;         // where pool.processes was set
    std::size_t chunksize = 0;  // 0: automatic
    bool ordered = true;
    // pool.isolate: each input runs in a child process of its worker, so a crash (a signal,
    // abort(), exit()) is that input's failure, not a lost rank.
    bool isolate = false;
    // pool.cores_per_worker: the cores each worker's tasks may use (OMP_NUM_THREADS and the
    // like); a node runs one worker per that many of its cores.
    int cores_per_worker = 1;
    // pool.gpus_per_worker: the devices each worker's tasks see, its own share of its node's:
    // those the allocation set (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES) or launch.gpus.
    int gpus_per_worker = 0;
    std::vector<std::string> gpus;  // launch.gpus, as written
    Place gpus_at;                  // where pool.gpus_per_worker was set
    // pool.order and pool.durations: an earlier run's results, summary or joblog, whose
    // seconds put the longest inputs first.
    Order order = Order::input;
    std::string durations;
    std::string output;  // "-": stdout
    Format format = Format::jsonl;
    // output.provenance: every record also says where, when and how long it ran (host, rank,
    // start, seconds, attempts). On for the command job, off for the others by default.
    bool provenance = false;
    std::string joblog;     // output.joblog: a GNU parallel --joblog file ("": none)
    std::string task_logs;  // output.task_logs: a folder for each task's stdout and stderr
    Policy policy = Policy::fail;
    int retries = 0;
    double task_timeout = 0;  // seconds; 0: none
    // errors.max_failures: stop dispatching once more tasks than this have failed (a count,
    // or a percentage of the run's inputs); unset: no budget.
    std::optional<std::uint64_t> max_failures;
    std::optional<double> max_failures_percent;
    // errors.max_crashes: an input charged with this many lost ranks is recorded as failed
    // and skipped. errors.restarts: how often the front runs the run again (--resume) after
    // a lost rank before giving up.
    int max_crashes = 3;
    int restarts = 5;  // max_crashes + 2 unless set
    int ranks = 0;     // launch.ranks, for `mproc run` outside an allocation; 0: unset
                       // (a worker per cores_per_worker cores of this machine, and rank 0)
    SlurmSpec slurm;
};

// Reads and checks CONFIG with the --set overrides ("key.path=value") applied.
Config load_config(const std::string& path, const std::vector<std::string>& sets);

const char* policy_name(Policy p);

// The ranks `mproc run` starts on this machine: launch.ranks, or else a worker per
// pool.cores_per_worker of the cores this process may use, at least one, and rank 0.
int local_ranks(const Config& cfg);

// A checked config saved whole and loaded again (saved_config.cpp): a run reads its YAML once.
// Loading gives nullopt for a missing, torn or foreign file.
void save_config(const Config& cfg, const std::string& path);
std::optional<Config> load_saved_config(const std::string& path);

// A YAML (or JSON) text as a Value, read as config values are: quoted scalars stay strings,
// plain ones become numbers, booleans or null where they read as such.
Value parse_value(const std::string& text);

// A Slurm time limit ("30", "1:30:00", "2-12", ...) in seconds, or nullopt when it is not one
// (or is under a minute, which Slurm would round up).
std::optional<long> slurm_time_seconds(const std::string& time);

}  // namespace mproc::runner
