// command: a task farmer. Each input fills a shell command template — `{}` is the whole input,
// `{.}` `{/}` `{//}` `{/.}` its path without extension, base name, directory and base name
// without extension, `{#}` its sequence number (from 1), `{name}` a field of a mapping input
// (a grid point), as GNU parallel has them. A template with shell syntax runs under /bin/sh
// with every value shell-quoted; one without (`wc -l {}`) runs its program directly, each
// value one argument. Every command runs under its rank's mproc-supervise (supervise.cpp), which
// ends all it started — when it exits, on a timeout or a stop, and when its rank dies. The record
// keeps the exit code (or the signal), stdout and stderr apart (bounded, and saying when they
// were cut), for a success and a failure alike; a non-zero exit is a failed task.

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

#include "job.hpp"
#include "supervisor.hpp"

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

// The value of placeholder `{name}` for `input` (the `index`-th).
std::string placeholder_value(const std::string& n, const Value& input, std::uint64_t index) {
    if (n.empty()) return input.text();
    if (n == ".") return without_extension(input.text());
    if (n == "/") return basename_of(input.text());
    if (n == "//") return dirname_of(input.text());
    if (n == "/.") return without_extension(basename_of(input.text()));
    if (n == "#") return std::to_string(index + 1);  // GNU parallel's sequence starts at 1
    if (!input.is_map() || input[n].is_null())
        throw std::invalid_argument("the command uses {" + n + "} but the input " + input.json() +
                                    " has no '" + n + "'");
    return input[n].text();
}

// Every placeholder replaced by its value, shell-quoted.
std::string fill_template(const std::string& tpl, const Value& input, std::uint64_t index) {
    std::string out;
    std::size_t from = 0;
    for (const Placeholder& p : placeholders(tpl)) {
        out.append(tpl, from, p.at - from);
        from = p.at + p.length;
        out += shell_quote(placeholder_value(p.name, input, index));
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

// Whether the template needs /bin/sh: any character of the shell's syntax outside the
// placeholders, or a first word the shell treats itself (an assignment, a builtin).
bool needs_shell(const std::string& tpl) {
    const auto found = placeholders(tpl);
    std::size_t next = 0;  // the next placeholder in `found`
    std::string first;     // the first word, placeholders left out
    bool in_first = true;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        if (next < found.size() && i == found[next].at) {
            i += found[next++].length - 1;
            continue;
        }
        const char c = tpl[i];
        if (c == ' ' || c == '\t') {
            if (!first.empty()) in_first = false;
            continue;
        }
        const bool plain =
            std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./:,+-@%^=", c) != nullptr;
        if (!plain) return true;
        if (in_first) first += c;
    }
    static const char* const builtins[] = {
        ".",    "alias",    "bg",     "break",   "cd",      "command", "continue", "eval",
        "exec", "exit",     "export", "fg",      "getopts", "hash",    "jobs",     "local",
        "read", "readonly", "return", "set",     "shift",   "source",  "times",    "trap",
        "type", "ulimit",   "umask",  "unalias", "unset",   "wait"};
    for (const char* b : builtins)
        if (first == b) return true;
    return first.find('=') != std::string::npos;  // FOO=1 cmd sets a variable
}

// The program and its arguments: the template split at blanks, each placeholder replaced by
// its value as it is (only for templates without shell syntax, see needs_shell).
std::vector<std::string> command_words(const std::string& tpl, const Value& input,
                                       std::uint64_t index) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    const auto found = placeholders(tpl);
    std::size_t next = 0;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        if (next < found.size() && i == found[next].at) {
            word += placeholder_value(found[next].name, input, index);
            in_word = true;
            i += found[next++].length - 1;
        } else if (tpl[i] == ' ' || tpl[i] == '\t') {
            if (in_word) words.push_back(std::move(word));
            word.clear();
            in_word = false;
        } else {
            word += tpl[i];
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(word));
    return words;
}

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
        std::string line = fill_template(tpl, input, ctx.index());
        const std::vector<std::string> words = needs_shell(tpl)
                                                   ? std::vector<std::string>{"/bin/sh", "-c", line}
                                                   : command_words(tpl, input, ctx.index());
        const TaskLogs logs(ctx);
        const Supervised o = run_supervised(words, ctx.deadline(), stop_requested,
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
