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

// Every check that can be made before a rank starts (given the run's Args and whether its
// ranks start on this machine); saves the checked config to `saved` and returns the number of
// ranks to start. Throws what a bad config or a refused run throws.
using Plan = std::function<int(const Args& args, bool local, const std::string& saved)>;

// `mproc run` outside mpirun: plans, launches every rank with this program, waits. Returns
// the exit code (0 done, 1 tasks failed, 2 refused, 3 interrupted).
int launch_run(const Args& args, const Plan& plan);

// `mproc submit`: the script for CONFIG, printed (--dry-run) or saved and handed to sbatch.
int submit(const Args& args);

}  // namespace mproc::runner
