#include "command_template.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <stdexcept>

namespace mproc::runner {
namespace {

bool is_identifier(const std::string& s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

bool is_placeholder(const std::string& name) {
    return name.empty() || name == "." || name == "/" || name == "//" || name == "/." ||
           name == "#" || name == "%" || is_identifier(name);
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

}  // namespace

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

std::string placeholder_value(const std::string& n, const Filling& with) {
    const Value& input = with.input;
    if (n.empty()) return input.text();
    if (n == ".") return without_extension(input.text());
    if (n == "/") return basename_of(input.text());
    if (n == "//") return dirname_of(input.text());
    if (n == "/.") return without_extension(basename_of(input.text()));
    if (n == "#") return std::to_string(with.index + 1);  // GNU parallel's sequence starts at 1
    if (n == "%") return std::to_string(with.slot);
    if (!input.is_map() || input[n].is_null())
        throw std::invalid_argument("the command uses {" + n + "} but the input " + input.json() +
                                    " has no '" + n + "'");
    return input[n].text();
}

std::string fill_template(const std::string& tpl, const Filling& with) {
    std::string out;
    std::size_t from = 0;
    for (const Placeholder& p : placeholders(tpl)) {
        out.append(tpl, from, p.at - from);
        from = p.at + p.length;
        if (p.name == "%" && with.slot == 0)
            out += "{%}";  // the slot is not known until a worker takes it
        else
            out += shell_quote(placeholder_value(p.name, with));
    }
    out.append(tpl, from, std::string::npos);
    return out;
}

std::vector<std::string> task_environment(const TaskContext& ctx) {
    const WorkerPlace& at = ctx.place();
    const std::string slot = std::to_string(at.slot);
    std::vector<std::string> env{"MPROC_SLOT=" + slot,
                                 "MPROC_NODE_SLOT=" + std::to_string(at.node_slot),
                                 "MPROC_RANK=" + std::to_string(at.rank),
                                 "MPROC_HOST=" + at.host,
                                 "MPROC_INDEX=" + std::to_string(ctx.index()),
                                 "PARALLEL_SEQ=" + std::to_string(ctx.index() + 1),
                                 "PARALLEL_JOBSLOT=" + slot};
    if (!at.gpus.empty())
        for (const char* name : kDeviceVariables)
            env.push_back(std::string(name) + "=" + join(at.gpus, ","));
    return env;
}

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
        if (std::find(shape.fields.begin(), shape.fields.end(), p.name) == shape.fields.end())
            return ParamProblem{"command", shown + where + " is not a field of every input; " +
                                               (shape.fields.empty()
                                                    ? "they share none"
                                                    : "they have: " + join(shape.fields))};
    }
    return std::nullopt;
}

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

std::vector<std::string> command_words(const std::string& tpl, const Filling& with) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    const auto found = placeholders(tpl);
    std::size_t next = 0;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        if (next < found.size() && i == found[next].at) {
            word += found[next].name == "%" && with.slot == 0
                        ? "{%}"
                        : placeholder_value(found[next].name, with);
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

}  // namespace mproc::runner
