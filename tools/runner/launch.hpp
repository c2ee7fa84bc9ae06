#pragma once
// The front of `mproc run` and `mproc submit`, outside any rank: starts the ranks (mpirun, or
// srun in an allocation), turns Ctrl-C, SIGTERM and SIGHUP into a clean stop, and reports the
// run's outcome; writes and submits sbatch scripts.

#include <functional>
#include <string>

#include "cli.hpp"

namespace mproc::runner {

// The command line that started this run, for messages that say how to go on (without
// --resume, --restart or --retry-failed).
std::string rerun_line(const Args& args);

// What the front needs to know of a checked run.
struct Planned {
    int ranks = 1;       // to start
    int restarts = 0;    // errors.restarts: runs again after a lost rank
    std::string output;  // output.path ("-": stdout)
};

// Every check that can be made before a rank starts (given the run's Args and whether its
// ranks start on this machine); saves the checked config to `saved`. Throws what a bad
// config or a refused run throws.
using Plan = std::function<Planned(const Args& args, bool local, const std::string& saved)>;

// `mproc run` outside mpirun: plans, launches every rank with this program, waits. When a
// rank is lost (the launcher ends abnormally without rank 0's word), it runs the ranks again
// with --resume, up to errors.restarts times, saying why each time. Returns the exit code
// (0 done, 1 tasks failed, 2 refused, 3 interrupted).
int launch_run(const Args& args, const Plan& plan);

// `mproc submit`: the script for CONFIG, printed (--dry-run) or saved and handed to sbatch.
int submit(const Args& args);

}  // namespace mproc::runner
