// mproc-runner: the `mproc` command's C++ side (tools/mproc builds it and hands it every verb
// but test, build and bench), and the program every rank of a batch run runs.
//
//   mproc-runner run CONFIG [options]     # outside mpirun: plans the run (plan.hpp), starts
//                                         # the ranks (launch.hpp), waits; as a rank (--saved,
//                                         # or under an mpirun/srun): rank 0 drives the job
//                                         # (run.hpp), the others serve tasks
//   mproc-runner validate CONFIG [--set KEY=VALUE ...]   # exit 0, or 2 with CONFIG:LINE:COL
//   mproc-runner jobs | version
//   mproc-runner submit CONFIG [--dry-run] [--resume] [--set ...]
//   mproc-runner merge CONFIG [--set ...]               # a job array's parts into one
//   mproc-runner report CONFIG|TRACE [-o FILE] [--chrome-trace FILE]
//
// Every verb's options are in cli.cpp (`mproc VERB --help`). Exit codes: 0 done; 1 some
// tasks failed; 2 bad command line or config; 3 interrupted (or, for merge, parts missing).

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mproc/runtime.hpp>
#include <string>

#include "cli.hpp"
#include "config.hpp"
#include "dry_run.hpp"
#include "exit_code.hpp"
#include "files.hpp"
#include "inputs.hpp"
#include "launch.hpp"
#include "plan.hpp"
#include "report.hpp"
#include "run.hpp"
#include "slurm.hpp"

namespace {

using namespace mproc::runner;

// Rank 0 stops dispatching; every rank stops the tasks it is running (see TaskInterrupted).
extern "C" void on_stop_signal(int) {
    request_stop();
}

void list_jobs() {
    for (const JobSpec* j : all_jobs()) {
        std::cout << j->name << "\n    " << j->description << "\n";
        for (const Param& p : j->params) {
            std::cout << "    params." << p.name << " (" << type_name(p.type) << ", "
                      << (p.default_value.is_null() ? std::string("required")
                                                    : "default " + p.default_value.json())
                      << "): " << p.help << "\n";
        }
        if (j->reduce) std::cout << "    reduces its results to one value\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    // mpirun forwards SIGUSR1 (the front's stop) to every rank: workers stop their running
    // tasks, rank 0 (below) also stops dispatching.
    {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGUSR1, &sa, nullptr);
    }
    Args args;
    try {
        args = parse_command_line(argc, argv);
    } catch (const ExitNow& e) {
        return e.code;
    }
    // `run` is the front (plan, launch the ranks, wait) unless this is one of the ranks: one
    // the front started (--saved), or one of an mpirun or srun the user started.
    const bool rank = !args.saved.empty() || std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                      std::getenv("PMIX_RANK") != nullptr;
    try {
        if (args.verb == "jobs") {
            list_jobs();
            return 0;
        }
        if (args.verb == "version") {
            std::cout << MPROC_VERSION << "\n";
            return 0;
        }
        if (args.verb == "validate") {
            const Config cfg = load_config(args.config, args.sets);
            InputStream in(cfg.input);
            std::cout << cfg.file << ": ok: job " << cfg.job->name << ", " << in.size()
                      << " inputs, results to " << cfg.output << ", errors.policy "
                      << policy_name(cfg.policy) << ", " << local_ranks(cfg) << " ranks\n";
            return 0;
        }
        if (args.verb == "submit") return submit(args);
        if (args.verb == "report") return report(args);
        if (args.verb == "merge")
            return merge_parts(load_config(args.config, args.sets), args.if_complete);
        if (args.verb == "run" && !rank && args.dry_run_count > 0) return dry_run(args, std::cout);
        if (args.verb == "run" && !rank) {
            const TempFile saved("config");
            const Planned planned = plan(args, runs_here(args), saved.path());
            return launch_run(args, planned, saved.path());
        }
    } catch (...) {
        return exit_code_of_current(2);
    }
    int code = 0;
    // mpirun reports any non-zero rank as a failed job; "some tasks failed" (1) and
    // "interrupted" (3) are normal outcomes, so rank 0 reports them through this file.
    const char* status_file = std::getenv("MPROC_STATUS_FILE");
    const int rc = mproc::run(argc, argv, [&] {
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        for (int sig : {SIGINT, SIGTERM, SIGUSR1}) sigaction(sig, &sa, nullptr);
        // Only rank 0 reads the config (workers get what they need from the pool's
        // initializer); tools/mproc has validated it already, so this is a backstop.
        try {
            code = drive(args);
        } catch (...) {  // before the first record: nothing to keep
            code = exit_code_of_current(0);  // anything else is mproc::run's to report
        }
        if (status_file != nullptr) std::ofstream(status_file) << code << "\n";
    });
    if (rc != 0) return rc;
    return status_file != nullptr ? 0 : code;
}
