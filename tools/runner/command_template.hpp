#pragma once
// The command job's template: GNU parallel's placeholders — `{}` the input, `{.}` `{/}` `{//}`
// `{/.}` its path without extension, base name, directory and base name without extension,
// `{#}` its sequence number (from 1), `{%}` the worker's slot (1 to the run's workers: GNU
// parallel's job slot), `{name}` a field of a mapping input — filled with an input's values. A template with shell syntax runs under /bin/sh with every value
// shell-quoted (fill_template); one without (`wc -l {}`) runs its program directly, each value
// part of one argument (command_words), exactly as the shell would have passed it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "job.hpp"
#include "value.hpp"

namespace mproc::runner {

// A placeholder in a template: `{}` `{.}` `{/}` `{//}` `{/.}` `{#}` `{%}`, or `{name}`. Any other
// brace (a shell group "{ a; b; }", a parameter expansion "${HOME}") is text.
struct Placeholder {
    std::size_t at = 0, length = 0;  // where it is in the template
    std::string name;                // what is between the braces
    bool quoted = false;             // inside '...' or "..." in the shell's reading
};
std::vector<Placeholder> placeholders(const std::string& tpl);

// What fills a template: the input, its index (from 0) and the slot of the worker running it
// (from 1; 0 where none is known yet, as in a dry run, which leaves `{%}` as it is).
struct Filling {
    const Value& input;
    std::uint64_t index = 0;
    int slot = 0;
};

// The value of placeholder `{name}`; std::invalid_argument when a mapping input lacks the
// field.
std::string placeholder_value(const std::string& name, const Filling& with);

// Every placeholder replaced by its value, shell-quoted: the line /bin/sh -c runs.
std::string fill_template(const std::string& tpl, const Filling& with);

// Whether the template needs /bin/sh: any character of the shell's syntax outside the
// placeholders, or a first word the shell treats itself (an assignment, a builtin).
bool needs_shell(const std::string& tpl);

// The program and its arguments: the template split at blanks, each placeholder replaced by
// its value as it is (only for templates without shell syntax, see needs_shell).
std::vector<std::string> command_words(const std::string& tpl, const Filling& with);

// What a command adds to its environment ("NAME=VALUE"): where it runs (MPROC_SLOT,
// MPROC_NODE_SLOT, MPROC_RANK, MPROC_HOST), which input it is (MPROC_INDEX), GNU parallel's
// PARALLEL_SEQ and PARALLEL_JOBSLOT, and its worker's devices (CUDA_VISIBLE_DEVICES and the
// like). The cores it may use (OMP_NUM_THREADS and the like) every rank has already: the
// front sets them for the whole run.
std::vector<std::string> task_environment(const TaskContext& ctx);

// What validate refuses: a placeholder the inputs cannot fill, or one inside quotes (mproc
// quotes every value itself; inside "..." an input like $(touch x) would run).
std::optional<ParamProblem> check_template(const Value& params, const InputShape& shape);

}  // namespace mproc::runner
