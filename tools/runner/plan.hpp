#pragma once
// Every check of `mproc run` that can be made before a rank starts, from one reading of the
// config, and the config as a run uses it. The front plans (main.cpp) and then launches
// (launch.hpp); rank 0 reads the config the plan saved (run.hpp).

#include <string>

#include "cli.hpp"
#include "config.hpp"
#include "journal.hpp"

namespace mproc::runner {

// What the front needs to know of a checked run.
struct Planned {
    int ranks = 1;       // to start
    int restarts = 0;    // errors.restarts: runs again after a lost rank
    std::string output;  // output.path ("-": stdout)
    int cores_per_worker = 1;
    // With --hostfile and no rank count given: the hostfile as mpirun is to read it, each
    // host's slots divided by cores_per_worker and one more on the first for rank 0.
    std::string hostfile_text;
};

// The ranks a hostfile holds for workers of `cores_per_worker` cores each (every host's
// slots= divided, at least one, and rank 0 on the first host besides its workers), and the
// hostfile that places them so. std::invalid_argument naming the line of a host without
// slots=.
std::pair<int, std::string> hostfile_ranks(const std::string& path, int cores_per_worker);

// How the run treats results an earlier run left, from --resume, --restart, --retry-failed.
Start start_of(const Args& args);

// The config as this run uses it (an array task writes its own part of the results): the
// copy the plan saved when this rank can see it (rank 0 may be on another host), so a large
// config is read once.
Config run_config(const Args& args);

// Refuses (ConfigError, at pool.processes) more processes than the run's `workers` of its
// `ranks` (all but rank 0 and any group leaders; one rank runs everything), naming the
// --ranks that would do.
void check_processes(const Config& cfg, int ranks, int workers);

// Checks the run (`local`: its ranks start on this machine, where more than 64 a core is
// refused without --many-ranks), refuses what it may not do with results an earlier run left,
// names a run already writing them, and saves the checked config to `saved`.
Planned plan(const Args& args, bool local, const std::string& saved);

}  // namespace mproc::runner
