#include "launch.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"
#include "files.hpp"
#include "job.hpp"
#include "slurm.hpp"

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// This program, which every rank runs.
std::string self_path() {
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) throw std::runtime_error("cannot find this program (/proc/self/exe)");
    return std::string(buf, static_cast<std::size_t>(n));
}

// The terminal's width on stderr, 80 when it does not say (script's pty says 0).
int terminal_columns() {
    winsize w{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
    return 80;
}

// How the ranks start here: inside an allocation its launcher, across a hostfile's hosts, or
// on this machine. mpirun passes the thread libraries' variables on to other hosts; srun
// passes the whole environment, and is given the allocation's cores per task (since Slurm
// 22.05 it does not take them from sbatch).
std::vector<std::string> launcher(const Args& args, int ranks, const std::string& hostfile) {
    const std::string np = std::to_string(ranks);
    std::vector<std::string> mpirun{"mpirun", "--bind-to", "none"};
    for (const char* name : kThreadVariables) {
        mpirun.push_back("-x");
        mpirun.push_back(name);
    }
    if (std::getenv("SLURM_JOB_ID") != nullptr && args.hostfile.empty()) {
        const char* which = std::getenv("MPROC_LAUNCHER");
        const std::string l = which && *which ? which : "mpirun";
        if (l == "srun") {
            std::vector<std::string> srun{"srun", "--mpi=pmix", "--kill-on-bad-exit=1"};
            if (const char* cpus = std::getenv("SLURM_CPUS_PER_TASK"))
                srun.push_back(std::string("--cpus-per-task=") + cpus);
            return srun;
        }
        if (l == "mpirun") return mpirun;
        throw std::invalid_argument("MPROC_LAUNCHER must be mpirun or srun, not '" + l + "'");
    }
    for (const std::string& a : {std::string("-np"), np, std::string("--oversubscribe")})
        mpirun.push_back(a);
    if (!hostfile.empty())
        for (const std::string& a : {std::string("--hostfile"), hostfile}) mpirun.push_back(a);
    return mpirun;
}

// Starts `argv` in a session of its own (a terminal's Ctrl-C reaches only this front, which
// turns it into a clean stop) that dies with this front: should the front be killed outright,
// the kernel sends the launcher SIGTERM and it ends the ranks. Its stderr goes to `err`.
pid_t start_launcher(const std::vector<std::string>& argv, const sigset_t& old_mask, int err) {
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("cannot start mpirun: ") + std::strerror(errno));
    if (pid == 0) {
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(3);
        sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        dup2(err, STDERR_FILENO);
        execvp(cargv[0], cargv.data());
        std::fprintf(stderr, "mproc: cannot run %s: %s\n", cargv[0], std::strerror(errno));
        _exit(127);
    }
    return pid;
}

// Passes the launcher's stderr on as it comes (the live bar included), and keeps the line
// that says why a run ended abnormally: mpirun's "... exited on signal 9 (Killed)." and the
// like, for the restart's log.
class LauncherErrors {
  public:
    LauncherErrors() {
        if (pipe2(fds_, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
        thread_ = std::thread([this] { copy(); });
    }
    ~LauncherErrors() {
        if (fds_[1] >= 0) close(fds_[1]);
        thread_.join();
        close(fds_[0]);
    }
    LauncherErrors(const LauncherErrors&) = delete;
    LauncherErrors& operator=(const LauncherErrors&) = delete;

    int write_end() const { return fds_[1]; }
    // Once the launcher has ended: everything it wrote has been passed on.
    std::string cause() {
        close(fds_[1]);
        fds_[1] = -1;
        thread_.join();
        thread_ = std::thread([] {});
        return cause_;
    }

  private:
    void copy() {
        char buf[4096];
        std::string line;
        for (;;) {
            const ssize_t n = read(fds_[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (ssize_t off = 0; off < n;) {
                const ssize_t k =
                    write(STDERR_FILENO, buf + off, static_cast<std::size_t>(n - off));
                if (k <= 0) break;
                off += k;
            }
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] != '\n') {
                    if (line.size() < 1000) line += buf[i];
                    continue;
                }
                for (const char* mark : {"exited on signal", "noticed that process rank",
                                         "lost communication", "stopped answering"})
                    if (line.find(mark) != std::string::npos) cause_ = line;
                line.clear();
            }
        }
    }

    int fds_[2] = {-1, -1};
    std::string cause_;
    std::thread thread_;
};

// The rank a launcher's message says was lost: mpirun's "... process rank 2 with PID ..."
// or the heartbeat's "rank 2 on node7 stopped answering".
std::optional<int> lost_rank(const std::string& cause) {
    for (const char* mark : {"process rank ", "threw mproc::Error: rank "}) {
        const auto at = cause.find(mark);
        if (at == std::string::npos) continue;
        const char* digits = cause.c_str() + at + std::strlen(mark);
        char* end = nullptr;
        const long r = std::strtol(digits, &end, 10);
        if (end != digits) return static_cast<int>(r);
    }
    return std::nullopt;
}

}  // namespace

bool runs_here(const Args& args) {
    return args.hostfile.empty() && std::getenv("SLURM_JOB_ID") == nullptr;
}

int launch_run(const Args& args, const Planned& planned, const std::string& saved) {
    const std::string rerun = rerun_line(args);
    setenv("MPROC_RERUN", rerun.c_str(), 1);
    TempFile status("status");
    // The hostfile as the plan placed the ranks on it, or the user's as it is.
    std::optional<TempFile> placed;
    if (!planned.hostfile_text.empty()) {
        placed.emplace("hosts");
        replace_file(placed->path(), planned.hostfile_text);
    }
    const std::string hostfile = placed ? placed->path() : args.hostfile;

    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    // One-sided windows: sm on one node, pt2pt across nodes over TCP; not rdma, which wins
    // over sm when allowed and crashes on 64-bit compare-and-swap in Open MPI 4.1.
    setenv("OMPI_MCA_osc", "sm,pt2pt", 0);
    const bool tty = isatty(STDERR_FILENO) != 0;
    if (tty) {  // a live bar on rank 0, as wide as this terminal (its stderr is a pipe)
        setenv("MPROC_TTY", "1", 1);
        setenv("MPROC_COLUMNS", std::to_string(terminal_columns()).c_str(), 1);
    } else {
        unsetenv("MPROC_TTY");
        unsetenv("MPROC_COLUMNS");
    }
    setenv("MPROC_STATUS_FILE", status.path().c_str(), 1);
    // Every task may use pool.cores_per_worker cores: thread libraries are told so, unless
    // the user told them otherwise.
    for (const char* name : kThreadVariables)
        setenv(name, std::to_string(planned.cores_per_worker).c_str(), 0);
    // Every run records what it did beside its results, for `mproc report` (see trace.hpp).
    if (planned.output != "-" && std::getenv("MPROC_TRACE") == nullptr)
        setenv("MPROC_TRACE", (planned.output + ".trace").c_str(), 1);

    // Signals are taken with sigtimedwait, in this one thread.
    sigset_t watched, old_mask;
    sigemptyset(&watched);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&watched, s);
    sigprocmask(SIG_BLOCK, &watched, &old_mask);

    for (int restart = 0;; ++restart) {
        // A restart continues what the runs before it did.
        const bool resume = args.resume || restart > 0;
        std::vector<std::string> argv = launcher(args, planned.ranks, hostfile);
        for (const std::string& a :
             {self_path(), std::string("run"), args.config, std::string("--saved"), saved})
            argv.push_back(a);
        if (resume) argv.push_back("--resume");
        if (args.restart && !resume) argv.push_back("--restart");
        if (args.retry_failed && restart == 0) argv.push_back("--retry-failed");
        if (args.shard)
            for (const std::string& a :
                 {std::string("--shard"),
                  std::to_string(args.shard->index) + "/" + std::to_string(args.shard->count)})
                argv.push_back(a);
        for (const auto& set : args.sets) {
            argv.push_back("--set");
            argv.push_back(set);
        }
        setenv("MPROC_RESTART_COUNT", std::to_string(restart).c_str(), 1);
        std::ofstream(status.path(), std::ios::trunc).close();

        LauncherErrors errors;
        const pid_t pid = start_launcher(argv, old_mask, errors.write_end());

        // A stop asks every rank to stop (SIGUSR1, which mpirun forwards): commands get
        // SIGTERM, then SIGKILL 2 s later, and rank 0 keeps what is done. A second stop, or
        // ranks still there 20 s after the first, gets mpirun SIGTERM, which ends them at once.
        bool interrupted = false;
        std::optional<Clock::time_point> escalate_at;
        int wstatus = 0;
        for (;;) {
            timespec wait{1, 0};
            if (escalate_at) {
                const auto left = *escalate_at - Clock::now();
                if (left <= Clock::duration::zero()) {
                    kill(pid, SIGTERM);
                    escalate_at.reset();
                }
            }
            const int sig = sigtimedwait(&watched, nullptr, &wait);
            if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
                if (interrupted) {
                    kill(pid, SIGTERM);
                } else {
                    interrupted = true;
                    if (tty) std::cerr << "\n";  // off the bar's line, for mpirun's notice
                    kill(pid, SIGUSR1);
                    escalate_at = Clock::now() + std::chrono::seconds(20);
                }
            }
            if (waitpid(pid, &wstatus, WNOHANG) == pid) break;
        }
        const std::string cause = errors.cause();

        std::string code;
        std::ifstream(status.path()) >> code;
        if (interrupted) {
            sigprocmask(SIG_SETMASK, &old_mask, nullptr);
            // Rank 0 says how to go on when it stops; ended at once (a second stop), it could
            // not.
            if (code.empty())
                std::cerr << "mproc: stopped at once; completed results are kept: continue with: "
                          << rerun << " --resume\n";
            return 3;
        }
        const int rc = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        if (rc == 0) {
            sigprocmask(SIG_SETMASK, &old_mask, nullptr);
            return code.empty() ? 0 : std::atoi(code.c_str());
        }
        // A rank was lost, or mpirun was killed: whatever the journal holds is kept. Killed by
        // a signal, mpirun was stopped on purpose (kill -9): that is not restarted.
        const std::string why = cause.empty() ? "mpirun exit " + std::to_string(rc) : cause;
        if (restart < planned.restarts && WIFEXITED(wstatus)) {
            // Which rank, for the input charged with it (crashes.hpp).
            if (const auto lost = lost_rank(cause); lost && planned.output != "-")
                std::ofstream(planned.output + ".crashes", std::ios::app)
                    << "lost " << *lost << "\n";
            std::cerr << "mproc: restart " << restart + 1 << " of " << planned.restarts
                      << " (errors.restarts) after a lost rank: " << why
                      << "\nmproc: continuing with --resume\n";
            continue;
        }
        sigprocmask(SIG_SETMASK, &old_mask, nullptr);
        std::cerr << "mproc: the run ended abnormally (" << why << ")"
                  << (planned.restarts > 0 ? " after " + std::to_string(restart) + " restart" +
                                                 (restart == 1 ? "" : "s") + " (errors.restarts)"
                                           : "")
                  << "; completed results are kept: continue with: " << rerun << " --resume\n";
        return 3;
    }
}

int submit(const Args& args) {
    const Config cfg = load_config(args.config, args.sets);
    const char* templates = std::getenv("MPROC_TEMPLATES");
    const char* self = std::getenv("MPROC_SELF");
    if (templates == nullptr || self == nullptr)
        throw std::invalid_argument("submit is started by the mproc command (tools/mproc)");
    const std::string script = render_sbatch(cfg, {std::string(templates) + "/mproc.sbatch.in",
                                                   self, args.config, args.sets, args.resume});
    if (args.dry_run) {
        std::cout << script;
        return 0;
    }
    if (std::system("command -v sbatch >/dev/null 2>&1") != 0) {
        std::cerr << "mproc submit: sbatch not found: submitting needs Slurm's client (Debian: "
                     "slurm-client); --dry-run prints the script\n";
        return 2;
    }
    const std::string path = sbatch_path(cfg);
    if (const fs::path dir = fs::path(path).parent_path(); !dir.empty())
        fs::create_directories(dir);
    if (!(std::ofstream(path) << script))
        throw std::runtime_error("cannot write the script to " + path);
    fs::permissions(path, fs::perms::owner_exec, fs::perm_options::add);
    // sbatch copies the script: later edits do not change a submitted job.
    std::string id;
    if (FILE* p = popen(("sbatch --parsable " + shell_quote(path)).c_str(), "r")) {
        char buf[256];
        while (std::fgets(buf, sizeof buf, p) != nullptr) id += buf;
        if (pclose(p) != 0) id.clear();
    }
    id = id.substr(0, id.find_first_of(";\n"));  // "id;cluster" on a federation
    if (id.empty()) {
        std::cerr << "mproc submit: sbatch refused " << path << "\n";
        return 2;
    }
    std::cout << id << "\n";
    std::cerr << "mproc: submitted job " << id << " (" << path << "); follow it with: squeue -j "
              << id << "\n";
    return 0;
}

}  // namespace mproc::runner
