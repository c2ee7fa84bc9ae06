// mproc-supervise: runs the `command` job's commands for one worker rank, and answers for
// everything they start.
//
//   mproc-supervise PARENT_PID      (its standard input is a SOCK_SEQPACKET socket to the rank)
//
// A rank starts one when it first runs a command and keeps it (supervisor.hpp is the other
// end). Per command the rank sends the program, its arguments, the variables it adds to the
// environment and the grace period, with the two pipes for its stdout and stderr; this program
// forks and execs it in a process group of its own and answers with its wait status once
// the command *and everything it started* is gone. It is a child subreaper (prctl), so every
// descendant of the command stays in its tree — even one that calls setsid or whose parent
// has exited — and can be found and ended:
//
// - when the command exits, whatever it left running is sent SIGTERM, then SIGKILL after the
//   grace: a task ends with everything it started;
// - when the rank asks ("end": a timeout or a stop), the same, at once;
// - when the rank dies (kill -9 of a rank, or of mpirun), the kernel sends this program
//   SIGTERM (PR_SET_PDEATHSIG), or the socket closes: it ends the command's tree, then itself.
//
// A program apart from the rank, because it must outlive the rank to clean up after it, and a
// fork of an MPI process is not safe to run code in. Linked statically and kept for the rank's
// life, so a command costs one fork and one exec beyond the command itself.

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
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
            const int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;  // it has just exited
            const ssize_t n = read(fd, stat, sizeof stat - 1);
            close(fd);
            stat[n > 0 ? n : 0] = '\0';
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read
            // from the last ')'.
            const char* close_paren = std::strrchr(stat, ')');
            char state = 0;
            int ppid = 0;
            if (close_paren != nullptr &&
                std::sscanf(close_paren + 1, " %c %d", &state, &ppid) == 2)
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

double now() {
    timespec t{};
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// The command being run, and the end of it.
struct Command {
    pid_t pid = 0;  // 0: none
    int status = 0;
    bool exited = false;
    double grace = 2;
    double kill_at = 0;  // once ending: when SIGTERM gives way to SIGKILL

    void signal_tree(int sig) const {
        // The command's group first, the usual case in one call; only while the command is
        // unreaped, so its id cannot have passed to an unrelated group.
        if (!exited) kill(-pid, sig);
        for (pid_t p : descendants(getpid())) kill(p, sig);
    }
    void end() {
        if (kill_at != 0) return;
        signal_tree(SIGTERM);
        kill_at = now() + grace;
    }
};

// Reaps every child that has exited; notes the command's status when it is among them.
// Returns whether any child is left.
bool reap(Command& c) {
    for (;;) {
        int st = 0;
        const pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            if (p == c.pid) {
                c.status = st;
                c.exited = true;
            }
            continue;
        }
        return !(p < 0 && errno == ECHILD);
    }
}

// Starts the command a "run" message describes: the grace in milliseconds and the number of
// variables (4 bytes each), then the variables ("NAME=VALUE") and the program and its
// arguments, each ending in NUL; its stdout and stderr come as two descriptors. Returns false
// for a message that is not one.
bool start(Command& c, const char* msg, std::size_t n, int out, int err) {
    std::uint32_t grace_ms = 0, count = 0;
    const std::size_t head = 1 + sizeof grace_ms + sizeof count;
    if (n < head + 2 || msg[n - 1] != '\0') return false;
    std::memcpy(&grace_ms, msg + 1, sizeof grace_ms);
    std::memcpy(&count, msg + 1 + sizeof grace_ms, sizeof count);
    std::vector<char*> env, argv;
    for (std::size_t at = head; at < n; at += std::strlen(msg + at) + 1)
        (env.size() < count ? env : argv).push_back(const_cast<char*>(msg + at));
    if (env.size() != count || argv.empty()) return false;
    argv.push_back(nullptr);
    c = Command{};
    c.grace = grace_ms / 1000.0;
    c.pid = fork();
    if (c.pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, 0);
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        for (char* v : env) putenv(v);  // the message outlives the exec
        execvp(argv[0], argv.data());
        dprintf(STDERR_FILENO, "mproc: cannot run '%s': %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    if (c.pid < 0) {
        dprintf(err, "mproc: cannot start a process: %s\n", std::strerror(errno));
        c = Command{};
        c.status = 127 << 8;  // reported at once, as a command that could not run
        c.exited = true;
        return true;
    }
    setpgid(c.pid, c.pid);  // as the child does: whichever runs first
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: mproc-supervise PARENT_PID (started by a worker rank)\n");
        return 2;
    }
    const pid_t parent = static_cast<pid_t>(std::atol(argv[1]));
    const int sock = STDIN_FILENO;

    // Signals arrive through a signalfd, polled with the socket, never as handlers.
    sigset_t watched;
    sigemptyset(&watched);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&watched, s);
    sigprocmask(SIG_BLOCK, &watched, nullptr);
    const int sigs = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) return 0;  // the rank died before we could watch it
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    const int null = open("/dev/null", O_WRONLY);  // our own output is nobody's
    if (null >= 0) {
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }

    Command c;
    bool leaving = false;  // the rank is gone, or told us to go: end what runs, then exit
    for (;;) {
        const bool any_left = reap(c);
        if (c.pid != 0 && c.exited && any_left) c.end();  // what the command left is not done
        if (c.exited && !any_left) {
            const std::int32_t status = c.status;
            c = Command{};
            if (!leaving && send(sock, &status, sizeof status, MSG_NOSIGNAL) < 0) leaving = true;
        }
        if (leaving && c.pid == 0 && !any_left) return 0;

        int wait_ms = -1;
        if (c.kill_at != 0) {
            const double left = c.kill_at - now();
            if (left <= 0) {
                c.signal_tree(SIGKILL);
                wait_ms = 10;  // reaping what was killed
            } else {
                wait_ms = static_cast<int>(left * 1000) + 1;
            }
        }
        pollfd p[2] = {{sigs, POLLIN, 0}, {sock, POLLIN, 0}};
        if (poll(p, leaving ? 1 : 2, wait_ms) < 0 && errno != EINTR) return 1;

        signalfd_siginfo si{};
        while (read(sigs, &si, sizeof si) == sizeof si) {
            if (si.ssi_signo != SIGCHLD) {
                leaving = true;
                if (c.pid != 0) c.end();
            }
        }
        if (leaving || (p[1].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;

        char msg[65536];
        alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
        iovec iov{msg, sizeof msg};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof control;
        const ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
        if (n <= 0) {  // the rank closed its end: it is gone
            leaving = true;
            if (c.pid != 0) c.end();
            continue;
        }
        int fds[2] = {-1, -1};
        if (const cmsghdr* h = CMSG_FIRSTHDR(&m);
            h != nullptr && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(2 * sizeof(int)))
            std::memcpy(fds, CMSG_DATA(h), sizeof fds);
        if (msg[0] == 'r' && c.pid == 0 && fds[0] >= 0) {
            if (!start(c, msg, static_cast<std::size_t>(n), fds[0], fds[1])) leaving = true;
        } else if (msg[0] == 'e' && c.pid != 0) {
            c.end();
        }
        for (int fd : fds)
            if (fd >= 0) close(fd);
    }
}
