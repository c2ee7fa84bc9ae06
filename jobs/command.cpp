// command: a task farmer. Each input fills a shell command template — `{}` is the whole input,
// `{.}` `{/}` `{//}` `{/.}` its path without extension, base name, directory and base name
// without extension, `{#}` its sequence number (from 1), `{name}` a field of a mapping input
// (a grid point), as GNU parallel has them — substituted shell-quoted, and the
// command runs under /bin/sh. The result records the exit code, the duration and the output
// (bounded). A non-zero exit is a failed task; errors.task_timeout kills the command's whole
// process group.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "job.hpp"

extern char** environ;

using namespace mproc::runner;

namespace {

bool is_identifier(const std::string& s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

// A placeholder in a template: `{}` `{.}` `{/}` `{//}` `{/.}` `{#}` as in GNU parallel, or
// `{name}` (a field of a mapping input). Any other brace (a shell group "{ a; b; }", a
// parameter expansion "${HOME}") is text.
struct Placeholder {
    std::size_t at = 0, length = 0;  // where it is in the template
    std::string name;                // what is between the braces
    bool quoted = false;             // inside '...' or "..." in the shell's reading
};

bool is_placeholder(const std::string& name) {
    return name.empty() || name == "." || name == "/" || name == "//" || name == "/." ||
           name == "#" || is_identifier(name);
}

std::vector<Placeholder> placeholders(const std::string& tpl) {
    std::vector<Placeholder> found;
    char quote = 0;  // the quote the shell is inside at this point, if any
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        const char c = tpl[i];
        if (quote != '\'' && c == '\\') {
            ++i;  // an escaped character
            continue;
        }
        if (quote == 0 && (c == '\'' || c == '"')) {
            quote = c;
            continue;
        }
        if (quote != 0 && c == quote) {
            quote = 0;
            continue;
        }
        if (c != '{' || (i > 0 && tpl[i - 1] == '$')) continue;  // ${VAR} is the shell's
        const auto close = tpl.find('}', i);
        if (close == std::string::npos) break;
        const std::string name = tpl.substr(i + 1, close - i - 1);
        if (!is_placeholder(name)) continue;
        found.push_back({i, close - i + 1, name, quote != 0});
        i = close;
    }
    return found;
}

// The path pieces GNU parallel's placeholders name.
std::string without_extension(const std::string& path) {
    const auto slash = path.rfind('/');
    const auto dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
        dot == (slash == std::string::npos ? 0 : slash + 1))
        return path;  // no extension (or a dot file)
    return path.substr(0, dot);
}
std::string basename_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}
std::string dirname_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Every placeholder replaced by its value, shell-quoted.
std::string fill_template(const std::string& tpl, const Value& input, std::uint64_t index) {
    std::string out;
    std::size_t from = 0;
    for (const Placeholder& p : placeholders(tpl)) {
        out.append(tpl, from, p.at - from);
        from = p.at + p.length;
        const std::string& n = p.name;
        std::string value;
        if (n.empty()) {
            value = input.text();
        } else if (n == ".") {
            value = without_extension(input.text());
        } else if (n == "/") {
            value = basename_of(input.text());
        } else if (n == "//") {
            value = dirname_of(input.text());
        } else if (n == "/.") {
            value = without_extension(basename_of(input.text()));
        } else if (n == "#") {
            value = std::to_string(index + 1);  // GNU parallel's sequence number starts at 1
        } else {
            if (!input.is_map() || input[n].is_null())
                throw std::invalid_argument("the command uses {" + n + "} but the input " +
                                            input.json() + " has no '" + n + "'");
            value = input[n].text();
        }
        out += shell_quote(value);
    }
    out.append(tpl, from, std::string::npos);
    return out;
}

// What validate refuses: a placeholder the inputs cannot fill, or one inside quotes (mproc
// quotes every value itself; inside "..." an input like $(touch x) would run).
std::optional<ParamProblem> check_template(const Value& params, const InputShape& shape) {
    const std::string& tpl = params["command"].as_string();
    for (const Placeholder& p : placeholders(tpl)) {
        const std::string shown = "{" + p.name + "}";
        const std::string where = " (character " + std::to_string(p.at + 1) + ")";
        if (p.quoted)
            return ParamProblem{"command", shown + where +
                                               " is inside quotes; mproc quotes every value "
                                               "itself, so write it bare, as in: echo " +
                                               shown};
        if (!is_identifier(p.name)) continue;
        if (!shape.mapping)
            return ParamProblem{"command", shown + where +
                                               " names a field, but the inputs have none (only "
                                               "a grid, or values that are mappings, do); use {}"};
        if (std::find(shape.fields.begin(), shape.fields.end(), p.name) == shape.fields.end()) {
            std::string fields;
            for (const auto& f : shape.fields) fields += (fields.empty() ? "" : ", ") + f;
            return ParamProblem{"command",
                                shown + where + " is not a field of every input; " +
                                    (fields.empty() ? "they share none" : "they have: " + fields)};
        }
    }
    return std::nullopt;
}

struct Outcome {
    int status = 0;
    bool timed_out = false;
    bool stopped = false;  // the run is being stopped: the command was ended
    std::string output;
    double seconds = 0;
};

// Ends process group `pid` (the command and all it started in its group): SIGTERM, up to
// `grace` for the shell to exit, then SIGKILL to whatever is left of the group. Reaps the
// shell; returns its wait status.
int end_group(pid_t pid, std::chrono::milliseconds grace) {
    kill(-pid, SIGTERM);
    const auto until = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (std::chrono::steady_clock::now() >= until) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            return status;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(-pid, SIGKILL);  // the shell is gone; its children may not be
    return status;
}

Outcome run_shell(const std::string& cmd, const TaskContext& ctx, std::size_t max_output) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);  // its own group, so a timeout kills all it started
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    pid_t pid = 0;
    const auto start = std::chrono::steady_clock::now();
    const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        throw std::runtime_error("cannot start /bin/sh: " + std::string(strerror(rc)));
    }
    Outcome o;
    char buf[4096];
    bool open = true;
    int idle = 0;
    for (;;) {
        int wait_ms = 100;
        if (stop_requested()) {
            o.status = end_group(pid, std::chrono::seconds(2));
            o.stopped = true;
            pid = 0;
            break;
        }
        if (auto d = ctx.deadline()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  *d - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) {
                kill(-pid, SIGKILL);
                o.timed_out = true;
                break;
            }
            wait_ms = static_cast<int>(std::min<long long>(left, 100));
        }
        if (open) {
            pollfd p{fds[0], POLLIN, 0};
            if (poll(&p, 1, wait_ms) > 0) {
                const ssize_t n = read(fds[0], buf, sizeof buf);
                if (n <= 0) {
                    open = false;
                } else if (o.output.size() < max_output) {
                    o.output.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n),
                                                               max_output - o.output.size()));
                }
                continue;  // drained beyond the bound, so the child never blocks on a full pipe
            }
        }
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            o.status = status;
            pid = 0;
            break;
        }
        // Output closed but the child not yet reaped (it is exiting, or kept running without
        // its stdout): check again soon, then less often.
        if (!open)
            std::this_thread::sleep_for(
                std::chrono::microseconds(std::min(50 << std::min(idle++, 10), 5000)));
    }
    close(fds[0]);
    if (pid != 0) waitpid(pid, &o.status, 0);
    o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return o;
}

}  // namespace

MPROC_JOB({
    .name = "command",
    .description =
        "runs a shell command per input: {} is the input, {name} a field of it (shell-quoted)",
    .params = {{"command", ParamType::string, Value(), "the command template, e.g. \"wc -l {}\""},
               {"max_output", ParamType::integer, Value(4096),
                "bytes of stdout+stderr kept per task"},
               {"fail_on_nonzero", ParamType::boolean, Value(true),
                "whether a non-zero exit fails the task"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        const std::string cmd = fill_template(params["command"].as_string(), input, ctx.index());
        Outcome o = run_shell(cmd, ctx, static_cast<std::size_t>(params["max_output"].as_int()));
        if (o.stopped) throw TaskInterrupted("the run was stopped; the command was ended");
        if (o.timed_out)
            throw TaskTimeout("timed out after " + Value(ctx.timeout_seconds()).json() +
                              " s; the command was killed");
        const int code = WIFEXITED(o.status) ? WEXITSTATUS(o.status) : 128 + WTERMSIG(o.status);
        if (code != 0 && params["fail_on_nonzero"].as_bool()) {
            throw std::runtime_error("exit code " + std::to_string(code) +
                                     (o.output.empty() ? "" : ": " + o.output.substr(0, 200)));
        }
        return Value(Value::Map{{"exit_code", Value(code)},
                                {"seconds", Value(o.seconds)},
                                {"output", Value(o.output)}});
    },
    .check = [](const Value& params) -> std::string {
        if (params["command"].as_string().empty()) return "command must not be empty";
        return params["max_output"].as_int() < 0 ? "max_output must be at least 0" : "";
    },
    .check_input = check_template,
});
