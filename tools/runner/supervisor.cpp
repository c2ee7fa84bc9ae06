#include "supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <tuple>

#include "files.hpp"

extern char** environ;

namespace mproc::runner {
namespace {

using Clock = std::chrono::steady_clock;

// mproc-supervise, installed beside this program.
const std::string& supervisor_path() {
    static const std::string path = [] {
        char buf[4096];
        const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        const std::string self(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        return self.substr(0, self.rfind('/') + 1) + "mproc-supervise";
    }();
    return path;
}

// One running mproc-supervise and the socket to it.
class Supervisor {
  public:
    Supervisor() {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
            throw std::runtime_error("cannot make a socket for the command's supervisor: " +
                                     reason());
        const std::string parent = std::to_string(getpid());
        char* argv[] = {const_cast<char*>(supervisor_path().c_str()),
                        const_cast<char*>(parent.c_str()), nullptr};
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, sv[1], STDIN_FILENO);
        posix_spawnattr_t attr;
        posix_spawnattr_init(&attr);
        // Its own process group: mpirun ends a rank by signalling the rank's group, and the
        // supervisor must outlive the rank to end the command (it learns of the death by
        // PR_SET_PDEATHSIG). Default signal dispositions and no blocked signals, for the
        // commands it starts.
        posix_spawnattr_setflags(
            &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawnattr_setpgroup(&attr, 0);
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        const int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
        close(sv[1]);
        if (rc != 0) {
            close(sv[0]);
            throw std::runtime_error("cannot start " + supervisor_path() + ": " +
                                     std::strerror(rc));
        }
        sock_ = sv[0];
    }
    // An idle supervisor exits when its socket closes; a broken one is killed.
    ~Supervisor() {
        close(sock_);
        if (reaped_) return;
        if (broken_) kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    // After its socket closed on its own: how it ended ("killed by signal 9 (Killed)"), once
    // it has (a moment at most), or "" if it has not.
    std::string how_it_ended() {
        int status = 0;
        for (int i = 0; i < 200 && !reaped_; ++i) {
            if (waitpid(pid_, &status, WNOHANG) == pid_)
                reaped_ = true;
            else
                usleep(1000);
        }
        if (!reaped_) return "";
        if (WIFSIGNALED(status))
            return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                   strsignal(WTERMSIG(status)) + ")";
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    }
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    int socket() const { return sock_; }
    pid_t pid() const { return pid_; }
    bool broken() const { return broken_; }
    void set_broken() { broken_ = true; }

  private:
    pid_t pid_ = 0;
    int sock_ = -1;
    bool broken_ = false;
    bool reaped_ = false;  // waited for already: its pid may be another process's now
};

// The idle supervisors of this rank: one is taken per command and given back after it.
class Idle {
  public:
    std::unique_ptr<Supervisor> take() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                auto s = std::move(idle_.back());
                idle_.pop_back();
                return s;
            }
        }
        return std::make_unique<Supervisor>();
    }
    void give_back(std::unique_ptr<Supervisor> s) {
        if (s->broken()) return;
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(s));
    }

  private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<Supervisor>> idle_;
};

Idle& idle() {
    static Idle supervisors;  // closed at exit, which ends them
    return supervisors;
}

// Hands the command to `s`: 'r', the grace in milliseconds and the number of variables (4
// bytes each), the variables and then the arguments, each ending in NUL, and the write ends
// of the output pipes.
bool send_run(const Supervisor& s, const std::vector<std::string>& argv,
              const std::vector<std::string>& env, std::uint32_t grace_ms, int out, int err) {
    std::string msg = "r";
    const auto count = static_cast<std::uint32_t>(env.size());
    msg.append(reinterpret_cast<const char*>(&grace_ms), sizeof grace_ms);
    msg.append(reinterpret_cast<const char*>(&count), sizeof count);
    for (const std::string& v : env) msg.append(v.c_str(), v.size() + 1);
    for (const std::string& a : argv) msg.append(a.c_str(), a.size() + 1);
    if (msg.size() > 65536)
        throw std::runtime_error("the command is " + std::to_string(msg.size()) +
                                 " bytes long; at most 65536 can be run");
    iovec iov{msg.data(), msg.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(2 * sizeof(int));
    const int fds[2] = {out, err};
    std::memcpy(CMSG_DATA(h), fds, sizeof fds);
    return sendmsg(s.socket(), &m, MSG_NOSIGNAL) == static_cast<ssize_t>(msg.size());
}

// Reads what `fd` has into `c`, up to `bound` bytes kept, and all of it to `copy` (unless
// -1); past the bound it still reads (and drops), so the command never blocks on a full pipe.
// False at the end of the stream.
bool read_some(int fd, Captured& c, std::size_t bound, int copy) {
    char buf[8192];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n <= 0) return false;
    const auto got = static_cast<std::size_t>(n);
    for (std::size_t at = 0; copy >= 0 && at < got;) {
        const ssize_t w = write(copy, buf + at, got - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) throw std::runtime_error("cannot write the command's output: " + reason());
        at += static_cast<std::size_t>(w);
    }
    const std::size_t room = bound > c.text.size() ? bound - c.text.size() : 0;
    c.text.append(buf, std::min(got, room));
    c.cut = c.cut || got > room;
    return true;
}

struct Pipe {
    int read = -1, write = -1;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0)
            throw std::runtime_error("cannot make a pipe for a command's output: " + reason());
        read = fds[0];
        write = fds[1];
    }
    ~Pipe() {
        if (read >= 0) close(read);
        if (write >= 0) close(write);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

}  // namespace

Supervised run_supervised(const std::vector<std::string>& argv,
                          const std::vector<std::string>& env,
                          std::optional<Clock::time_point> deadline,
                          const std::function<bool()>& stop, std::size_t max_output,
                          std::chrono::milliseconds grace, int copy_out, int copy_err) {
    Pipe out, err;
    std::unique_ptr<Supervisor> sup = idle().take();
    const auto grace_ms = static_cast<std::uint32_t>(grace.count());
    if (!send_run(*sup, argv, env, grace_ms, out.write, err.write)) {
        // It may have ended with the thread that started it (its parent-death signal is tied
        // to that thread): a new one, once.
        sup->set_broken();
        sup = std::make_unique<Supervisor>();
        if (!send_run(*sup, argv, env, grace_ms, out.write, err.write)) {
            sup->set_broken();
            throw std::runtime_error("cannot hand the command to its supervisor: " + reason());
        }
    }
    close(out.write);
    close(err.write);
    out.write = err.write = -1;

    Supervised r;
    // Once ending: the supervisor has the grace and a little more to answer, or is killed.
    std::optional<Clock::time_point> give_up;
    const auto end_command = [&] {
        if (give_up) return;
        const char e = 'e';
        send(sup->socket(), &e, 1, MSG_NOSIGNAL);
        give_up = Clock::now() + grace + std::chrono::seconds(3);
    };
    for (;;) {
        int wait_ms = 100;  // how often a stop request is looked at
        if (!give_up && stop && stop()) {
            r.stopped = true;
            end_command();
        }
        if (deadline && !give_up) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now())
                    .count();
            if (left <= 0) {
                r.timed_out = true;
                end_command();
            } else {
                wait_ms = static_cast<int>(std::min<long long>(left, wait_ms));
            }
        }
        if (give_up && Clock::now() > *give_up) {
            // Killed in its destructor. A supervisor that stops answering is beyond our
            // reach: whatever it was still running is left to init.
            sup->set_broken();
            r.status = SIGKILL;
            break;
        }
        pollfd p[3] = {{sup->socket(), POLLIN, 0}, {out.read, POLLIN, 0}, {err.read, POLLIN, 0}};
        if (poll(p, 3, wait_ms) <= 0) continue;
        if (p[1].revents != 0 && !read_some(out.read, r.out, max_output, copy_out)) {
            close(out.read);
            out.read = -1;
        }
        if (p[2].revents != 0 && !read_some(err.read, r.err, max_output, copy_err)) {
            close(err.read);
            err.read = -1;
        }
        if (p[0].revents != 0) {
            std::int32_t status = 0;
            if (recv(sup->socket(), &status, sizeof status, 0) != sizeof status) {
                sup->set_broken();
                // A command that kills its parent kills the supervisor: a crash, as a task's
                // segfault is, and the next command gets a fresh supervisor.
                const std::string how = sup->how_it_ended();
                throw std::runtime_error("crashed: the process running the command (" +
                                         supervisor_path() + ") " +
                                         (how.empty() ? "ended unexpectedly" : how) +
                                         "; a command that kills its parent process does this");
            }
            r.status = status;
            break;
        }
    }
    // Everything the command started is gone, and with it the pipes' writers: what is left
    // to read is there now.
    for (auto [fd, c, copy] :
         {std::tuple{&out.read, &r.out, copy_out}, std::tuple{&err.read, &r.err, copy_err}}) {
        while (*fd >= 0) {
            pollfd p{*fd, POLLIN, 0};
            if (poll(&p, 1, 1000) <= 0 || !read_some(*fd, *c, max_output, copy)) {
                close(*fd);
                *fd = -1;
            }
        }
    }
    idle().give_back(std::move(sup));
    return r;
}

}  // namespace mproc::runner
