#include "plan.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "files.hpp"
#include "slurm.hpp"

namespace mproc::runner {
namespace {

// More ranks than this per core on one machine is a mistake (--ranks 100000 once wedged
// mpirun for ten minutes), unless --many-ranks says it is meant.
constexpr long kMaxRanksPerCore = 64;

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

Planned plan(const Args& args, bool local, const std::string& saved) {
    const Config cfg = run_config(args);
    const int ranks = args.ranks > 0 ? args.ranks : cfg.ranks;
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
    check_start(cfg, start_of(args), rerun_line(args));
    save_config(cfg, saved);
    // A run already writing these results is named now, before any rank starts (rank 0
    // takes the lock for good).
    if (cfg.output != "-" && std::filesystem::exists(cfg.output + ".lock"))
        release_lock(lock_output(cfg.output));
    return {ranks, cfg.restarts, cfg.output};
}

}  // namespace mproc::runner
