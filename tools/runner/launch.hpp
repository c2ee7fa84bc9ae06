#pragma once
// The front of `mproc run` and `mproc submit`, outside any rank: starts the ranks (mpirun, or
// srun in an allocation), turns Ctrl-C, SIGTERM and SIGHUP into a clean stop, and reports the
// run's outcome; writes and submits sbatch scripts.

#include <string>

#include "cli.hpp"
#include "plan.hpp"

namespace mproc::runner {

// Whether the run's ranks start on this machine: no hostfile, no allocation.
bool runs_here(const Args& args);

// `mproc run` outside mpirun, once planned (plan.hpp, which saved the checked config to
// `saved`): launches every rank with this program, waits. When a rank is lost (the launcher
// ends abnormally without rank 0's word), it runs the ranks again with --resume, up to
// errors.restarts times, saying why each time. Returns the exit code (0 done, 1 tasks failed,
// 2 refused, 3 interrupted).
int launch_run(const Args& args, const Planned& planned, const std::string& saved);

// `mproc submit`: the script for CONFIG, printed (--dry-run) or saved and handed to sbatch.
int submit(const Args& args);

}  // namespace mproc::runner
