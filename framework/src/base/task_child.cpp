#include "base/task_child.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/execute.hpp"

namespace mproc::detail {
namespace {

bool g_in_child = false;

// Whole frames over a stream socket: a byte count, then the bytes. False when the other side
// has gone (EOF, or a send to a closed socket, which MSG_NOSIGNAL keeps from raising SIGPIPE).
// `step` moves some of the bytes left (send or recv) and says how many.
template <class Step>
bool move_all(char* data, std::size_t n, Step step) {
    while (n > 0) {
        const ssize_t k = step(data, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        data += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}
bool send_all(int fd, const char* data, std::size_t n) {
    return move_all(const_cast<char*>(data), n,
                    [fd](char* p, std::size_t k) { return ::send(fd, p, k, MSG_NOSIGNAL); });
}
bool recv_all(int fd, char* data, std::size_t n) {
    return move_all(data, n, [fd](char* p, std::size_t k) { return ::recv(fd, p, k, 0); });
}
bool send_frame(int fd, const void* head, std::size_t head_size, const char* body,
                std::size_t body_size) {
    const std::uint64_t n = head_size + body_size;
    return send_all(fd, reinterpret_cast<const char*>(&n), sizeof n) &&
           send_all(fd, static_cast<const char*>(head), head_size) && send_all(fd, body, body_size);
}
bool recv_frame(int fd, Buffer& into) {
    std::uint64_t n = 0;
    if (!recv_all(fd, reinterpret_cast<char*>(&n), sizeof n)) return false;
    into.resize(n);
    return recv_all(fd, into.data(), n);
}

// The child's life: run the chunks that come, answer each, end after `limit` or at EOF.
[[noreturn]] void child_main(int fd, std::uint32_t limit, const Place& here) {
    Buffer in, out;
    for (std::uint32_t done = 0; limit == kChildForever || done < limit; ++done) {
        if (!recv_frame(fd, in) || in.size() < sizeof(TaskHeader)) break;
        TaskHeader header;
        std::memcpy(&header, in.data(), sizeof header);
        out.clear();
        execute_chunk(header, in.data() + sizeof header, out, here);
        if (!send_frame(fd, out.data(), out.size(), nullptr, 0)) break;
    }
    // No exit handlers or destructors: they are the rank's (MPI's among them), not ours.
    _exit(0);
}

}  // namespace

bool in_task_child() noexcept {
    return g_in_child;
}

TaskChild::~TaskChild() {
    stop();
}

void TaskChild::start(std::uint32_t limit) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        throw Error(std::string("mproc: socketpair for a task child: ") + std::strerror(errno));
    const pid_t parent = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
        const int e = errno;
        close(fds[0]);
        close(fds[1]);
        throw Error(std::string("mproc: fork for a task child: ") + std::strerror(e));
    }
    if (pid == 0) {
        g_in_child = true;
        close(fds[0]);
        // A crash here is the task's, reported by its wait status: not by the handlers MPI
        // installed in the rank, which would print the rank's backtrace as if it had died.
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) signal(sig, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);   // ends with its rank, whatever ends the rank
        if (getppid() != parent) _exit(0);  // the rank ended before the line above
        child_main(fds[1], limit, here_);
    }
    close(fds[1]);
    pid_ = pid;
    fd_ = fds[0];
    limit_ = limit;
    done_ = 0;
}

void TaskChild::stop() {
    if (pid_ < 0) return;
    close(fd_);  // the child sees EOF and ends
    fd_ = -1;
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
}

std::string TaskChild::reap() {
    close(fd_);
    fd_ = -1;
    int status = 0;
    pid_t r;
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (r < 0) return "went away";
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    }
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "ended (wait status " + std::to_string(status) + ")";
}

void TaskChild::run(const TaskHeader& header, const char* args, Buffer& out) {
    if (pid_ >= 0 && limit_ != header.child_tasks) stop();  // another pool's setting
    if (pid_ < 0) start(header.child_tasks);
    Buffer reply;
    if (send_frame(fd_, &header, sizeof header, args, header.size) && recv_frame(fd_, reply)) {
        out.insert(out.end(), reply.begin(), reply.end());
        if (limit_ != kChildForever && ++done_ >= limit_) stop();  // it ends by itself now
        return;
    }
    const std::string how = reap();
    TaskFailure failure;
    failure.type_name = "mproc::TaskCrashed";
    failure.message = "the task's child process " + how + " while running input" +
                      (header.count == 1 ? " " + std::to_string(header.first)
                                         : "s " + std::to_string(header.first) + " to " +
                                               std::to_string(header.first + header.count - 1));
    failure.index = header.first;
    append_failure(header, std::move(failure), out, here_);
}

}  // namespace mproc::detail
