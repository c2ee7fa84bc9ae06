#pragma once
// Rank 0's part of `mproc run`: the run itself, in phases. It opens the results (resuming
// what an earlier run left), starts a Pool whose workers are set up for the job, then
//   1. the suspects: inputs that were out on workers when a rank was lost, each alone on its
//      worker, so that a crash is charged to the input that caused it (crashes.hpp);
//   2. the inputs: pool.imap over the inputs not yet done, each record appended as it comes
//      (in blocks, under the journal), under the error policy and the failure budget;
//   3. the finish: the results renamed into place (or the partial ones kept), the summary,
//      and the message that says how to go on.
// A stop (SIGINT, SIGTERM, Slurm's warning) ends the phase it is in: what is done is kept.

#include "cli.hpp"

namespace mproc::runner {

// Runs the batch job `args` names, on rank 0 inside mproc::run; returns the exit code (0
// done, 1 some tasks failed, 3 interrupted). Throws ConfigError and RunRefused (exit 2) and
// IoError (3) for what stops it before the first record.
int drive(const Args& args);

}  // namespace mproc::runner
