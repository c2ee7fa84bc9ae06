#pragma once
// The command line of `mproc` (tools/mproc hands every verb but test, build and bench to
// mproc-runner): one parser for every verb, with `mproc VERB --help` made from the same
// definitions.

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "inputs.hpp"

namespace mproc::runner {

struct Args {
    std::string verb, config;
    bool resume = false, restart = false, retry_failed = false;
    int ranks = 0;               // run: --ranks N (0: the config's launch.ranks)
    std::string hostfile;        // run: --hostfile FILE
    bool many_ranks = false;     // run: more than kMaxRanksPerCore on this machine is meant
    std::string saved;           // run, given by the launcher to every rank: the checked config
    std::optional<Shard> shard;  // --shard K/N: one task of a job array
    bool dry_run = false;        // submit
    int dry_run_count = 0;       // run --dry-run [N]: the commands to show (0: not a dry run)
    bool if_complete = false;    // merge
    std::string report_out;      // report -o FILE
    std::string chrome_trace;    // report --chrome-trace FILE
    std::vector<std::string> sets;
};

// Ends the program with `code` once the parser has said what it had to (a help text, or a
// mistake on the command line with the way to the help).
struct ExitNow {
    int code = 0;
};

// Parses argv (argv[1] the verb); throws ExitNow for --help (0) and command-line mistakes (2).
Args parse_command_line(int argc, char** argv);

// How the user started this: the front's name as typed (MPROC_FRONT, set by tools/mproc),
// "mproc" when run directly.
std::string front_name();

// The command line that started this run, for messages that say how to go on (without
// --resume, --restart or --retry-failed): on a rank, as the front made it (MPROC_RERUN).
std::string rerun_line(const Args& args);

}  // namespace mproc::runner
