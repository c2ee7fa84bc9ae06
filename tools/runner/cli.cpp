#include "cli.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include "job.hpp"

namespace mproc::runner {
namespace {

// "K/N" with 0 <= K < N.
Shard parse_shard(const std::string& s) {
    const auto slash = s.find('/');
    const auto digits = [](const std::string& t) {
        return !t.empty() && t.size() < 10 &&
               t.find_first_not_of("0123456789") == std::string::npos;
    };
    if (slash != std::string::npos && digits(s.substr(0, slash)) && digits(s.substr(slash + 1))) {
        Shard shard{std::stoull(s.substr(0, slash)), std::stoull(s.substr(slash + 1))};
        if (shard.index < shard.count) return shard;
    }
    throw std::invalid_argument("--shard needs K/N with 0 <= K < N (a job array task of N), not '" +
                                s + "'");
}

const char* const kExitCodes =
    "Exit codes: 0 done; 1 some tasks failed; 2 bad command line or config, or a run refused\n"
    "(partial results, a changed config on --resume, results another run is writing); 3\n"
    "interrupted (a signal, a lost rank, a full disk): continue with --resume.";

// `s` as one shell word: as it is when nothing in it is special to the shell, else quoted.
std::string shell_word(const std::string& s) {
    const bool plain = !s.empty() && s.find_first_not_of(
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
                                         "nopqrstuvwxyz0123456789_./:=+,@%-") == std::string::npos;
    return plain ? s : shell_quote(s);
}

// A line of shell for `args.config` and what follows it.
std::string quoted_tail(const Args& args) {
    std::string s = shell_word(args.config);
    if (args.ranks > 0) s += " --ranks " + std::to_string(args.ranks);
    if (!args.hostfile.empty()) s += " --hostfile " + shell_word(args.hostfile);
    if (args.shard)
        s += " --shard " + std::to_string(args.shard->index) + "/" +
             std::to_string(args.shard->count);
    if (args.many_ranks) s += " --many-ranks";
    for (const auto& set : args.sets) s += " --set " + shell_word(set);
    return s;
}

}  // namespace

std::string front_name() {
    const char* front = std::getenv("MPROC_FRONT");
    return front != nullptr && *front != '\0' ? front : "mproc";
}

std::string rerun_line(const Args& args) {
    if (const char* line = std::getenv("MPROC_RERUN"); line != nullptr && *line != '\0')
        return line;  // on a rank: as the front made it
    return front_name() + " run " + quoted_tail(args);
}

Args parse_command_line(int argc, char** argv) {
    Args a;
    std::string shard;
    CLI::App app{
        "Python's multiprocessing model on MPI: batch jobs in YAML, on a laptop or a cluster.",
        front_name()};
    app.require_subcommand(1);
    app.set_help_flag("-h,--help", "this text");
    app.footer(kExitCodes);

    const auto config = [&a](CLI::App* verb) {
        verb->add_option("CONFIG", a.config, "the job's YAML file")->required();
    };
    const auto sets = [&a](CLI::App* verb) {
        verb->add_option("--set", a.sets,
                         "override a config key, e.g. --set params.samples=1000 (repeatable)")
            ->type_name("KEY=VALUE")
            ->allow_extra_args(false);
    };

    CLI::App* run = app.add_subcommand(
        "run",
        "Runs the YAML batch job CONFIG: checks it, starts rank 0 and the workers with mpirun\n"
        "(or inside the allocation it runs in), shows progress, writes the results.");
    config(run);
    run->add_option("--ranks", a.ranks,
                    "MPI ranks to start, rank 0 included (default: launch.ranks)")
        ->check(CLI::Range(1, 1'000'000));
    run->add_option("--hostfile", a.hostfile, "start them on the hosts of an Open MPI hostfile")
        ->check(CLI::ExistingFile);
    auto* resume = run->add_flag("--resume", a.resume,
                                 "continue an interrupted run: only the inputs not yet done run");
    auto* restart = run->add_flag("--restart", a.restart,
                                  "discard an interrupted run's partial results and start again");
    auto* retry = run->add_flag(
        "--retry-failed", a.retry_failed,
        "run again, in place, the inputs of a finished run whose records are failures");
    resume->excludes(restart)->excludes(retry);
    restart->excludes(retry);
    run->add_option("--shard", shard, "run the K-th of N shares of the inputs (a job array task)")
        ->type_name("K/N");
    run->add_flag("--many-ranks", a.many_ranks,
                  "allow more than 64 ranks per core on this machine");
    run->add_option("--dry-run", a.dry_run_count,
                    "print the first N commands as they would run (default 10), and the count; "
                    "run nothing, write nothing")
        ->expected(0, 1)
        ->default_str("10")
        ->type_name("[N]")
        ->check(CLI::Validator(
            [](const std::string& n) -> std::string {
                if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos &&
                    n.size() < 10 && std::stoi(n) > 0)
                    return "";
                return "takes how many commands to show (a number, 10 if left out), not '" + n +
                       "'; put it after CONFIG: run CONFIG --dry-run [N]";
            },
            "N"));
    sets(run);
    run->add_option("--saved", a.saved, "the checked config (given to every rank by the launcher)")
        ->group("");
    run->footer(kExitCodes);

    CLI::App* validate = app.add_subcommand(
        "validate",
        "Checks CONFIG without running anything: prints a one-line summary (exit 0), or\n"
        "CONFIG:LINE:COLUMN: what is wrong (exit 2).");
    config(validate);
    sets(validate);

    app.add_subcommand("jobs", "Lists the built-in jobs and their parameters.");
    app.add_subcommand("version", "Prints the version.");

    CLI::App* submit = app.add_subcommand(
        "submit",
        "Writes an sbatch script from the Slurm template and the config's slurm: section, saves\n"
        "it next to the results (OUTPUT.sbatch) and submits it; prints the job id.");
    config(submit);
    submit->add_flag("--dry-run", a.dry_run, "print the script instead of submitting it");
    submit->add_flag("--resume", a.resume, "the job continues an interrupted run");
    sets(submit);

    CLI::App* merge = app.add_subcommand(
        "merge",
        "Joins the parts a job array (slurm.array) wrote into the config's results, once every\n"
        "part is complete; exit 3 (naming them) while parts are missing.");
    config(merge);
    merge
        ->add_flag("--if-complete", a.if_complete,
                   "merge only if every part is there, else exit 0 (the last part merges)")
        ->group("");
    sets(merge);

    CLI::App* report = app.add_subcommand(
        "report",
        "Writes one self-contained HTML file showing a run: each rank's timeline, tasks/s and\n"
        "workers busy over time, task times, the slowest inputs, failures and retries, rank 0's\n"
        "load. PATH is the job's CONFIG (the run's results name its files) or a TRACE file\n"
        "(MPROC_TRACE of a C++ program).");
    report->add_option("PATH", a.config, "CONFIG or TRACE")->required();
    report->add_option("-o,--output", a.report_out, "the HTML file (default: RESULTS.html)");
    report->add_option("--chrome-trace", a.chrome_trace,
                       "also write the events for Perfetto / chrome://tracing to this file");
    sets(report);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        throw ExitNow{app.exit(e, std::cout, std::cerr)};
    } catch (const CLI::ParseError& e) {
        const std::string verb = argc > 1 ? argv[1] : "";
        bool known = false;
        for (const char* name : {"run", "validate", "jobs", "version", "submit", "merge", "report"})
            known = known || verb == name;
        const std::string who = front_name() + (known ? " " + verb : "");
        std::cerr << who << ": " << e.what() << "\n"
                  << "see: " << who << " --help\n";
        throw ExitNow{2};
    }
    a.verb = app.get_subcommands().front()->get_name();
    if (!shard.empty()) {
        try {
            a.shard = parse_shard(shard);
        } catch (const std::invalid_argument& e) {
            std::cerr << front_name() << " run: " << e.what() << "\n";
            throw ExitNow{2};
        }
    }
    return a;
}

}  // namespace mproc::runner
