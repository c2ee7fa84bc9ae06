// command: a task farmer. Each input fills a shell command template — `{}` is the whole input,
// `{.}` `{/}` `{//}` `{/.}` its path without extension, base name, directory and base name
// without extension, `{#}` its sequence number (from 1), `{%}` the worker's slot, `{name}` a
// field of a mapping input (a grid point), as GNU parallel has them; each command also sees
// where it runs and its share of the node in its environment (task_environment). A template
// with shell syntax runs under /bin/sh with every value shell-quoted; one without (`wc -l {}`)
// runs its program directly, each value one argument. Every command runs under its rank's
// mproc-supervise (supervise.cpp), which ends all it started — when it exits, on a timeout or
// a stop, and when its rank dies. The record keeps the exit code (or the signal), stdout and
// stderr apart (bounded, and saying when they were cut), for a success and a failure alike; a
// non-zero exit is a failed task.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command_template.hpp"
#include "job.hpp"
#include "supervisor.hpp"

using namespace mproc::runner;

namespace {

// output.task_logs: DIR/<index>.out and DIR/<index>.err get a task's whole stdout and stderr
// (each attempt starts them anew).
struct TaskLogs {
    int out = -1, err = -1;
    explicit TaskLogs(const TaskContext& ctx) {
        if (ctx.log_dir().empty()) return;
        const std::string base = ctx.log_dir() + "/" + std::to_string(ctx.index());
        out = open_log(base + ".out");
        try {
            err = open_log(base + ".err");
        } catch (...) {
            close(out);
            throw;
        }
    }
    ~TaskLogs() {
        if (out >= 0) close(out);
        if (err >= 0) close(err);
    }
    TaskLogs(const TaskLogs&) = delete;
    TaskLogs& operator=(const TaskLogs&) = delete;

    static int open_log(const std::string& path) {
        const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            throw std::runtime_error("output.task_logs: cannot write " + path + ": " +
                                     std::strerror(errno));
        return fd;
    }
};

// How long a command has between SIGTERM and SIGKILL when it is ended.
constexpr std::chrono::milliseconds kGrace{2000};

// The last line of `text` that holds something, cut to `most` bytes: what a failure's
// message quotes from stderr.
std::string last_line(const std::string& text, std::size_t most) {
    std::size_t end = text.find_last_not_of(" \t\r\n");
    if (end == std::string::npos) return "";
    const std::size_t begin = text.rfind('\n', end);
    const std::string line = text.substr(begin == std::string::npos ? 0 : begin + 1,
                                         end + 1 - (begin == std::string::npos ? 0 : begin + 1));
    return line.size() <= most ? line : line.substr(0, most) + "...";
}

std::string signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev != nullptr ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig);
}

}  // namespace

MPROC_JOB({
    .name = "command",
    .description =
        "runs a command per input: {} is the input, {name} a field of it (see the README)",
    .params = {{"command", ParamType::string, Value(), "the command template, e.g. \"wc -l {}\""},
               {"max_output", ParamType::integer, Value(4096),
                "bytes of stdout, and of stderr, kept in each record"},
               {"fail_on_nonzero", ParamType::boolean, Value(true),
                "whether a non-zero exit fails the task"}},
    .provenance = true,
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        const std::string& tpl = params["command"].as_string();
        // As the shell reads it: what runs under /bin/sh, and what the joblog shows either way.
        const Filling with{input, ctx.index(), ctx.place().slot};
        std::string line = fill_template(tpl, with);
        const std::vector<std::string> words = needs_shell(tpl)
                                                   ? std::vector<std::string>{"/bin/sh", "-c", line}
                                                   : command_words(tpl, with);
        const TaskLogs logs(ctx);
        const Supervised o = run_supervised(words, task_environment(ctx), ctx.deadline(),
                                            stop_requested,
                                            static_cast<std::size_t>(params["max_output"].as_int()),
                                            kGrace, logs.out, logs.err);
        if (o.stopped) throw TaskInterrupted("the run was stopped; the command was ended");
        const bool exited = WIFEXITED(o.status);
        ctx.report({std::move(line), exited ? WEXITSTATUS(o.status) : -1,
                    exited ? 0 : WTERMSIG(o.status)});
        Value record(
            Value::Map{{"exit_code", exited ? Value(WEXITSTATUS(o.status)) : Value()},
                       {"signal", exited ? Value() : Value(signal_name(WTERMSIG(o.status)))},
                       {"stdout", Value(o.out.text)},
                       {"stderr", Value(o.err.text)},
                       {"stdout_truncated", Value(o.out.cut)},
                       {"stderr_truncated", Value(o.err.cut)}});
        if (o.timed_out)
            throw TaskTimeout("timed out after " + Value(ctx.timeout_seconds()).json() +
                                  " s; the command was ended",
                              std::move(record));
        std::string why;
        if (!exited)
            why = "killed by " + signal_name(WTERMSIG(o.status));
        else if (WEXITSTATUS(o.status) != 0 && params["fail_on_nonzero"].as_bool())
            why = "exit code " + std::to_string(WEXITSTATUS(o.status));
        if (why.empty()) return record;
        const std::string said = last_line(o.err.text, 200);
        throw TaskFailed(why + (said.empty() ? "" : ": " + said), std::move(record));
    },
    .check = [](const Value& params) -> std::string {
        if (params["command"].as_string().empty()) return "command must not be empty";
        return params["max_output"].as_int() < 0 ? "max_output must be at least 0" : "";
    },
    .check_input = check_template,
});
