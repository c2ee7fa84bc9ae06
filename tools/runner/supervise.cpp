// mproc-supervise: runs one command of the `command` job and answers for everything it starts.
//
//   mproc-supervise PARENT_PID GRACE_MS PROGRAM [ARGS...]
//
// A worker rank starts one of these per task. It runs PROGRAM in a process group of its own and
// is a child subreaper (prctl), so every descendant of the command stays in its tree — even
// one that calls setsid or whose parent has exited — and can be found and ended:
//
// - when the command exits, whatever it left running is sent SIGTERM, then SIGKILL after
//   GRACE_MS: a task ends with everything it started;
// - on SIGTERM, SIGINT or SIGHUP (the rank ending the task: a timeout or a stop), the same,
//   at once;
// - when the rank that started it dies (kill -9 of a rank, or of mpirun), the kernel sends it
//   SIGTERM (PR_SET_PDEATHSIG), so nothing outlives the run.
//
// It exits as the command did (the same code, or killed by the same signal), so the rank
// reads the command's own status. Exit 127 with a message on stderr when PROGRAM cannot be run.
//
// It is a separate small program, not code in the rank, because it must keep running when
// the rank is killed, and because a fork of an MPI process is not safe to run code in.

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unordered_map>
#include <vector>

namespace {

// Every process below `self` in the tree, from /proc. (A subreaper's tree has no holes: an
// orphan is re-parented to it, not to init.)
std::vector<pid_t> descendants(pid_t self) {
    std::unordered_multimap<pid_t, pid_t> children;  // parent -> child
    if (DIR* proc = opendir("/proc")) {
        while (const dirent* e = readdir(proc)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (pid <= 0 || *end != '\0') continue;
            char path[64], stat[512];
            std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
            FILE* f = std::fopen(path, "r");
            if (f == nullptr) continue;  // it has just exited
            const std::size_t n = std::fread(stat, 1, sizeof stat - 1, f);
            std::fclose(f);
            stat[n] = '\0';
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read
            // from the last ')'.
            const char* close = std::strrchr(stat, ')');
            char state = 0;
            int ppid = 0;
            if (close != nullptr && std::sscanf(close + 1, " %c %d", &state, &ppid) == 2)
                children.emplace(ppid, static_cast<pid_t>(pid));
        }
        closedir(proc);
    }
    std::vector<pid_t> found;
    std::vector<pid_t> todo{self};
    while (!todo.empty()) {
        const pid_t p = todo.back();
        todo.pop_back();
        auto [from, to] = children.equal_range(p);
        for (auto it = from; it != to; ++it) {
            found.push_back(it->second);
            todo.push_back(it->second);
        }
    }
    return found;
}

void signal_tree(pid_t group, int sig) {
    kill(-group, sig);  // the command's group first: the usual case, in one call
    for (pid_t p : descendants(getpid())) kill(p, sig);
}

// Reaps every child that has exited; notes the command's status when it is among them.
// Returns false once no child is left at all.
bool reap(pid_t command, int& status, bool& command_done) {
    for (;;) {
        int st = 0;
        const pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            if (p == command) {
                status = st;
                command_done = true;
            }
            continue;
        }
        return !(p < 0 && errno == ECHILD);
    }
}

double now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// Exits as a process with wait status `status` would have: the same code, or the same signal
// (without a core file of our own).
[[noreturn]] void exit_like(int status) {
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, nullptr);
        raise(sig);
        _exit(128 + sig);
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: mproc-supervise PARENT_PID GRACE_MS PROGRAM [ARGS...]\n");
        return 2;
    }
    const pid_t parent = static_cast<pid_t>(std::atol(argv[1]));
    const double grace = std::atof(argv[2]) / 1000.0;

    // Signals arrive through sigtimedwait below, never as handlers.
    sigset_t watched;
    sigemptyset(&watched);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watched, s);
    sigprocmask(SIG_BLOCK, &watched, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) return 128 + SIGTERM;  // the rank died before we could watch it
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    const pid_t command = fork();
    if (command < 0) {
        std::fprintf(stderr, "mproc: cannot start a process: %s\n", std::strerror(errno));
        return 127;
    }
    if (command == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execvp(argv[3], argv + 3);
        std::fprintf(stderr, "mproc: cannot run '%s': %s\n", argv[3], std::strerror(errno));
        _exit(127);
    }
    setpgid(command, command);  // as the child does: whichever runs first

    // Our copies of the output pipes closed, so the rank sees them end with the command's tree.
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }

    int status = 0;
    bool command_done = false;
    double kill_at = 0;  // once ending: when SIGTERM gives way to SIGKILL
    const auto end_tree = [&] {
        if (kill_at == 0) {
            signal_tree(command, SIGTERM);
            kill_at = now() + grace;
        }
    };
    for (;;) {
        const bool any_left = reap(command, status, command_done);
        if (!any_left) break;
        if (command_done) end_tree();  // the command is done; what it left is not
        timespec wait{1, 0};
        if (kill_at != 0) {
            const double left = kill_at - now();
            if (left <= 0) {
                signal_tree(command, SIGKILL);
                wait = {0, 10'000'000};  // reaping what was killed
            } else {
                wait = {static_cast<time_t>(left),
                        static_cast<long>((left - static_cast<double>(static_cast<time_t>(left))) *
                                          1e9)};
            }
        }
        const int sig = sigtimedwait(&watched, nullptr, &wait);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            end_tree();
            if (!command_done) status = (128 + SIGTERM) << 8;  // if it never says otherwise
        }
    }
    exit_like(status);
}
