#pragma once
// `mproc run CONFIG --dry-run [N]`: the first N tasks a run would start, in the order they
// would go out, one a line — a command as it would be executed (the line handed to
// /bin/sh -c, placeholders filled and quoted, or the program and its arguments where no shell
// is used, marked so), another job's as "JOB INPUT" — then how many there are in all. It runs
// nothing and writes nothing; with --resume it leaves out what the journal says is done.

#include <iosfwd>

#include "cli.hpp"

namespace mproc::runner {

// Prints the dry run of `args` (its dry_run_count tasks) to `out`; returns the exit code (0).
int dry_run(const Args& args, std::ostream& out);

}  // namespace mproc::runner
