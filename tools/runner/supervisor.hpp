#pragma once
// A worker rank's end of mproc-supervise (supervise.cpp): runs one command at a time under a
// supervisor that ends everything the command starts, and outlives the rank to do so.
//
//     Supervised run = run_supervised({"wc", "-l", "a.txt"}, deadline, stop_requested, 4096);
//     if (run.timed_out) ...;  WEXITSTATUS(run.status), run.out.text, run.err.text
//
// Supervisors are started on first use and kept; one runs one command at a time, so callers
// on several threads each get their own.

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mproc::runner {

// One output stream of a command, bounded.
struct Captured {
    std::string text;
    bool cut = false;  // more was written than was kept
};

struct Supervised {
    int status = 0;          // the command's wait status
    bool timed_out = false;  // it ran past the deadline and was ended
    bool stopped = false;    // `stop` said so, and it was ended
    Captured out, err;
};

// Runs `argv` (argv[0] looked up in PATH), with `env` ("NAME=VALUE" each) added to its
// environment, and stdout and stderr kept apart, each up to
// `max_output` bytes. Past `deadline`, or once `stop()` is true, the command and all it
// started get SIGTERM, then SIGKILL after `grace`. Throws std::runtime_error when the command
// cannot be handed to a supervisor.
// `copy_out` and `copy_err`, when not -1, also get the whole of each stream.
Supervised run_supervised(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env,
                          std::optional<std::chrono::steady_clock::time_point> deadline,
                          const std::function<bool()>& stop, std::size_t max_output,
                          std::chrono::milliseconds grace, int copy_out = -1, int copy_err = -1);

}  // namespace mproc::runner
