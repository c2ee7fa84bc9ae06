#include "plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <optional>
#include <stdexcept>

#include "durations.hpp"
#include "files.hpp"
#include "items.hpp"
#include "slurm.hpp"

namespace mproc::runner {
namespace {

// More ranks than this per core on one machine is a mistake (--ranks 100000 once wedged
// mpirun for ten minutes), unless --many-ranks says it is meant.
constexpr long kMaxRanksPerCore = 64;

// The most workers one node of the run has, as far as the front can tell: all but rank 0
// here; in an allocation, its busiest node (SLURM_TASKS_PER_NODE, "4(x2),3"; rank 0 is on
// the first); across a hostfile's hosts it cannot (0), and each worker checks for itself.
int most_workers_on_a_node(bool local, int ranks) {
    if (local) return ranks - 1;
    const char* tasks = std::getenv("SLURM_TASKS_PER_NODE");
    if (std::getenv("SLURM_JOB_ID") == nullptr || tasks == nullptr) return 0;
    int most = 0;
    bool first = true;
    for (const char* at = tasks; *at != '\0';) {
        char* end = nullptr;
        const long count = std::strtol(at, &end, 10);
        if (end == at) return 0;  // not a form we know: the workers check
        most = std::max(most, static_cast<int>(count) - (first ? 1 : 0));
        first = false;
        at = end;
        if (*at == '(') at = std::strchr(at, ')') != nullptr ? std::strchr(at, ')') + 1 : "";
        if (*at == ',') ++at;
    }
    return most;
}

// Refuses, before any rank starts, a node with fewer devices than its workers need.
void check_devices(const Config& cfg, int workers) {
    if (cfg.gpus_per_worker == 0 || workers <= 0) return;
    try {
        worker_gpus(node_devices(cfg.gpus), cfg.gpus_per_worker, 0, workers, host_name());
    } catch (const std::runtime_error& e) {
        const Place& at = cfg.gpus_at;
        throw mproc::ConfigError(at.file, at.line, at.column, e.what());
    }
}

}  // namespace

Start start_of(const Args& args) {
    if (args.retry_failed) return Start::retry_failed;
    return args.resume ? Start::resume : args.restart ? Start::restart : Start::fresh;
}

Config run_config(const Args& args) {
    std::optional<Config> saved;
    if (!args.saved.empty()) saved = load_saved_config(args.saved);
    if (saved) return std::move(*saved);  // saved as run_config made it, shard and all
    Config cfg = load_config(args.config, args.sets);
    if (args.shard) {
        if (cfg.output == "-")
            throw mproc::ConfigError("--shard", 0, 0,
                                     "an array task needs a results file, not output.path: -");
        cfg.output = shard_path(cfg.output, *args.shard);
    }
    return cfg;
}

void check_processes(const Config& cfg, int ranks, int workers) {
    if (ranks <= 1 || cfg.processes <= workers) return;
    const Place& at = cfg.processes_at;
    const int leaders = ranks - 1 - workers;
    throw mproc::ConfigError(
        at.file, at.line, at.column,
        "pool.processes is " + std::to_string(cfg.processes) + ", but the run has " +
            std::to_string(workers) + " worker rank" + (workers == 1 ? "" : "s") + " (" +
            std::to_string(ranks) + " ranks, rank 0 the master" +
            (leaders > 0
                 ? ", " + std::to_string(leaders) + " leading node groups (MPROC_GROUP_SIZE)"
                 : std::string()) +
            "); start more with --ranks " + std::to_string(cfg.processes + 1 + leaders) +
            " or lower pool.processes");
}

std::pair<int, std::string> hostfile_ranks(const std::string& path, int cores_per_worker) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("--hostfile: cannot read '" + path + "'");
    std::string line, text;
    int ranks = 1;  // rank 0, on the first host
    for (int number = 1; std::getline(in, line); ++number) {
        const std::string words = line.substr(0, line.find('#'));
        std::istringstream fields(words);
        std::string host, field;
        if (!(fields >> host)) continue;
        std::optional<long> slots;
        while (fields >> field)
            if (field.rfind("slots=", 0) == 0) slots = std::strtol(field.c_str() + 6, nullptr, 10);
        if (!slots || *slots < 1)
            throw std::invalid_argument(
                path + ":" + std::to_string(number) + ": '" + host +
                "' has no slots=N; the run starts a worker per pool.cores_per_worker of each "
                "host's cores, so write '" + host + " slots=CORES', or give --ranks");
        const long workers = std::max(1L, *slots / cores_per_worker);
        text += host + " slots=" + std::to_string(workers + (ranks == 1 ? 1 : 0)) + "\n";
        ranks += static_cast<int>(workers);
    }
    if (text.empty()) throw std::invalid_argument("--hostfile: '" + path + "' names no host");
    return {ranks, text};
}

Planned plan(const Args& args, bool local, const std::string& saved) {
    const Config cfg = run_config(args);
    std::pair<int, std::string> by_hostfile;
    if (!args.hostfile.empty() && args.ranks == 0 && cfg.ranks == 0)
        by_hostfile = hostfile_ranks(args.hostfile, cfg.cores_per_worker);
    const int ranks = args.ranks > 0              ? args.ranks
                      : !by_hostfile.second.empty() ? by_hostfile.first
                                                    : local_ranks(cfg);
    if (local && !args.many_ranks) {
        const long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
        if (ranks > kMaxRanksPerCore * cores)
            throw std::invalid_argument(
                std::to_string(ranks) + " ranks on this machine's " + std::to_string(cores) +
                " cores is more than " + std::to_string(kMaxRanksPerCore) +
                " per core; give a --hostfile or run inside an allocation, or add --many-ranks " +
                "if you mean it");
    }
    check_processes(cfg, ranks, ranks - 1);
    check_devices(cfg, most_workers_on_a_node(local, ranks));
    if (cfg.order == Order::longest_first) read_durations(cfg.durations);  // refused now, not later
    check_start(cfg, start_of(args), rerun_line(args));
    save_config(cfg, saved);
    // A run already writing these results is named now, before any rank starts (rank 0
    // takes the lock for good).
    if (cfg.output != "-" && std::filesystem::exists(cfg.output + ".lock"))
        release_lock(lock_output(cfg.output));
    return {ranks, cfg.restarts, cfg.output, cfg.cores_per_worker, by_hostfile.second};
}

}  // namespace mproc::runner
