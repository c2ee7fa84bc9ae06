#include "config.hpp"

#include <glob.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "inputs.hpp"
#include "mproc/error.hpp"
#include "yaml_reader.hpp"

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;

// The most ranks (or nodes, or array tasks) a setting may name: far beyond any machine, and
// far below where an int would wrap.
constexpr int kMaxRanks = 1'000'000;
// The most cores (or devices) a worker may ask for: more than any node has.
constexpr int kMaxCores = 65536;

// Refuses, at `n`, a file this process cannot read.
void check_readable(const Checker& c, const YAML::Node& n, const std::string& key,
                    const std::string& path) {
    if (access(path.c_str(), R_OK) != 0 || fs::is_directory(path))
        c.fail(n, key,
               key + ": cannot read '" + path + "'" + (fs::exists(path) ? "" : " (no such file)"));
}

// A CSV input, read whole once: a header of distinct names, then rows with as many fields.
void check_csv(const Checker& c, const YAML::Node& n, const std::string& key, InputSpec& spec) {
    check_readable(c, n, key, spec.path);
    std::ifstream in(spec.path, std::ios::binary);
    std::string line, why;
    for (std::uint64_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::string at = key + ": " + spec.path + ":" + std::to_string(number) + ": ";
        const auto fields = csv_fields(line, why);
        if (!fields) c.fail(n, key, at + why);
        if (number == 1) {
            for (const std::string& name : *fields) {
                if (name.empty() ||
                    std::find(spec.columns.begin(), spec.columns.end(), name) != spec.columns.end())
                    c.fail(n, key,
                           at +
                               "the header must name each column once (a first line such as "
                               "'file,threshold'), not '" +
                               line + "'");
                spec.columns.push_back(name);
            }
        } else if (fields->size() != spec.columns.size()) {
            c.fail(n, key,
                   at + std::to_string(fields->size()) + " fields, but the header names " +
                       std::to_string(spec.columns.size()));
        }
    }
    if (spec.columns.empty()) c.fail(n, key, key + ": '" + spec.path + "' is empty (no header)");
}

void check_input(const Checker& c, const YAML::Node& in, InputSpec& spec) {
    const std::vector<std::string> sources{"range", "values", "lines", "csv", "files", "grid"};
    c.keys(in, "input", sources);
    std::vector<std::string> given;
    for (const auto& kv : in) given.push_back(kv.first.as<std::string>());
    if (given.empty()) c.fail(in, "input", "input needs exactly one source: " + join(sources));
    if (given.size() > 1)
        c.fail(in, "input",
               "input has both '" + given[0] + "' and '" + given[1] + "'; give exactly one source");
    const std::string kind = given[0];
    const YAML::Node n = in[kind];
    const std::string key = "input." + kind;
    if (kind == "range") {
        spec.kind = InputSpec::Kind::range;
        c.keys(n, key, {"start", "stop", "step"});
        if (!n["stop"]) c.fail(n, key, key + " needs 'stop'");
        spec.start = n["start"] ? c.integer(n["start"], key + ".start", INT64_MIN) : 0;
        spec.stop = c.integer(n["stop"], key + ".stop", INT64_MIN);
        spec.step = n["step"] ? c.integer(n["step"], key + ".step", INT64_MIN) : 1;
        if (spec.step == 0) c.fail(n["step"], key + ".step", key + ".step must not be 0");
        const bool empty = spec.step > 0 ? spec.start >= spec.stop : spec.start <= spec.stop;
        if (empty)
            c.fail(n, key,
                   key + " is empty (start " + std::to_string(spec.start) + ", stop " +
                       std::to_string(spec.stop) + ")");
    } else if (kind == "values") {
        spec.kind = InputSpec::Kind::values;
        if (!n.IsSequence()) c.fail(n, key, key + " must be a list, not " + Checker::show(n));
        if (n.size() == 0) c.fail(n, key, key + " is empty");
        for (const auto& x : n) spec.values.push_back(to_value(x));
    } else if (kind == "lines") {
        spec.kind = InputSpec::Kind::lines;
        spec.path = c.string(n, key);
        check_readable(c, n, key, spec.path);
    } else if (kind == "csv") {
        spec.kind = InputSpec::Kind::csv;
        spec.path = c.string(n, key);
        check_csv(c, n, key, spec);
    } else if (kind == "files") {
        spec.kind = InputSpec::Kind::files;
        const std::string pattern = c.string(n, key);
        glob_t g{};
        const int rc = glob(pattern.c_str(), 0, nullptr, &g);
        for (std::size_t i = 0; rc == 0 && i < g.gl_pathc; ++i)
            spec.files.emplace_back(g.gl_pathv[i]);
        globfree(&g);
        if (spec.files.empty()) c.fail(n, key, key + ": no file matches '" + pattern + "'");
        std::sort(spec.files.begin(), spec.files.end());
    } else {
        spec.kind = InputSpec::Kind::grid;
        if (!n.IsMap() || n.size() == 0)
            c.fail(n, key, key + " must be a non-empty mapping of name: [values]");
        for (const auto& kv : n) {
            const std::string name = kv.first.as<std::string>();
            std::vector<Value> vals;
            if (kv.second.IsSequence()) {
                for (const auto& x : kv.second) vals.push_back(to_value(x));
            } else if (kv.second.IsScalar()) {
                vals.push_back(to_value(kv.second));
            }
            if (vals.empty())
                c.fail(kv.second, key + "." + name, key + "." + name + " has no values");
            spec.grid.emplace_back(name, std::move(vals));
        }
    }
}

Value check_params(const Checker& c, const YAML::Node& root, const JobSpec& job) {
    const YAML::Node n = root["params"];
    std::vector<std::string> names;
    for (const Param& p : job.params) names.push_back(p.name);
    Value::Map out;
    if (n && !n.IsNull()) {
        if (!n.IsMap()) c.fail(n, "params", "params must be a mapping");
        for (const auto& kv : n) {
            const std::string k = kv.first.as<std::string>();
            if (std::find(names.begin(), names.end(), k) == names.end()) {
                c.fail(kv.first, "params." + k,
                       "job '" + job.name + "' has no parameter '" + k + "'" +
                           suggestion(k, names) +
                           (names.empty() ? "; it takes none" : "; it takes: " + join(names)));
            }
        }
    }
    for (const Param& p : job.params) {
        const YAML::Node v = n && n.IsMap() ? n[p.name] : YAML::Node();
        const std::string key = "params." + p.name;
        if (!v || v.IsNull()) {
            if (p.default_value.is_null())
                c.fail(n ? n : root["job"], key,
                       "job '" + job.name + "' needs params." + p.name + " (" + p.help + ")");
            out[p.name] = p.default_value;
            continue;
        }
        switch (p.type) {
            case ParamType::integer:
                c.integer(v, key, INT64_MIN);
                out[p.name] = to_value(v);  // as written, e.g. 1_000 or 0x10 keep their text
                break;
            case ParamType::number:
                c.number(v, key, -DBL_MAX);
                out[p.name] = to_value(v);
                break;
            case ParamType::boolean:
                out[p.name] = Value(c.boolean(v, key));
                break;
            case ParamType::string:
                out[p.name] = Value(c.string(v, key));
                break;
            case ParamType::list:
                if (!v.IsSequence())
                    c.fail(v, key, key + " must be a list, not " + Checker::show(v));
                out[p.name] = to_value(v);
                break;
        }
    }
    Value params(std::move(out));
    if (job.check) {
        const std::string problem = job.check(params);
        if (!problem.empty()) c.fail(n ? n : root["job"], "params", "params: " + problem);
    }
    return params;
}

// What every input gives a task (see InputShape).
InputShape input_shape(const InputSpec& in) {
    InputShape shape;
    if (in.kind == InputSpec::Kind::grid) {
        shape.mapping = true;
        for (const auto& [name, values] : in.grid) shape.fields.push_back(name);
    } else if (in.kind == InputSpec::Kind::csv) {
        shape.mapping = true;
        shape.fields = in.columns;
    } else if (in.kind == InputSpec::Kind::values) {
        shape.mapping = std::all_of(in.values.begin(), in.values.end(),
                                    [](const Value& v) { return v.is_map(); });
        if (shape.mapping) {
            for (const auto& [name, v] : in.values.front().as_map()) {
                const bool everywhere =
                    std::all_of(in.values.begin(), in.values.end(),
                                [&](const Value& x) { return !x[name].is_null(); });
                if (everywhere) shape.fields.push_back(name);
            }
        }
    }
    return shape;
}

void check_params_against_input(const Checker& c, const YAML::Node& root, const Config& cfg) {
    if (!cfg.job->check_input) return;
    if (const auto problem = cfg.job->check_input(cfg.params, input_shape(cfg.input))) {
        const YAML::Node params = root["params"];
        const YAML::Node at = params && params.IsMap() && params[problem->param]
                                  ? params[problem->param]
                                  : (params ? params : root["job"]);
        c.fail(at, "params." + problem->param, "params." + problem->param + ": " + problem->what);
    }
}

void check_output(const Checker& c, const YAML::Node& n, Config& cfg) {
    if (cfg.output == "-") return;
    const fs::path p(cfg.output);
    const std::string ext = p.extension().string();
    if (ext == ".jsonl")
        cfg.format = Format::jsonl;
    else if (ext == ".csv")
        cfg.format = Format::csv;
    else if (ext == ".txt")
        cfg.format = Format::txt;
    else
        c.fail(n, "output.path",
               "output.path: unknown format '" + ext +
                   "'; use .jsonl, .csv or .txt (or - for stdout)");
    // The directory is created if missing; its nearest existing ancestor must be writable.
    fs::path dir = fs::absolute(p).parent_path();
    while (!fs::exists(dir) && dir.has_parent_path() && dir != dir.parent_path())
        dir = dir.parent_path();
    if (!fs::is_directory(dir) || access(dir.c_str(), W_OK) != 0)
        c.fail(n, "output.path", "output.path: cannot write into '" + dir.string() + "'");
}

// The `slurm:` section (see slurm/README.md). Values end up in #SBATCH lines of a script, so
// anything that could break out of its line is refused here, with its place.
void check_slurm(const Checker& c, const YAML::Node& s, Config& cfg) {
    c.keys(s, "slurm",
           {"nodes", "ntasks_per_node", "time", "partition", "account", "job_name", "output",
            "error", "extra", "signal", "on_timeout", "max_restarts", "array", "launcher",
            "cpus_per_task"});
    SlurmSpec& spec = cfg.slurm;
    auto one_line = [&](const char* key) -> std::string {
        const YAML::Node n = s[key];
        if (!n) return "";
        const std::string k = std::string("slurm.") + key;
        std::string v = c.string(n, k);
        if (v.find_first_of("\n\r") != std::string::npos) c.fail(n, k, k + " must be one line");
        if (v.find_first_of(" \t'\"$`\\") != std::string::npos)
            c.fail(n, k, k + " must not contain spaces, quotes, '$', '`' or '\\', not '" + v + "'");
        return v;
    };
    if (s["nodes"]) spec.nodes = c.count(s["nodes"], "slurm.nodes", 1, kMaxRanks);
    if (s["ntasks_per_node"])
        spec.ntasks_per_node = c.count(s["ntasks_per_node"], "slurm.ntasks_per_node", 1, kMaxRanks);
    if (s["time"]) {
        spec.time = c.string(s["time"], "slurm.time");
        if (!slurm_time_seconds(spec.time))
            c.fail(s["time"], "slurm.time",
                   "slurm.time must be a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or "
                   "D-HH:MM:SS, at least a minute), not '" +
                       spec.time + "'");
    }
    spec.partition = one_line("partition");
    spec.account = one_line("account");
    spec.job_name = one_line("job_name");
    spec.output = one_line("output");
    spec.error = one_line("error");
    if (const auto x = s["extra"]) {
        if (!x.IsSequence())
            c.fail(x, "slurm.extra", "slurm.extra must be a list of #SBATCH lines");
        for (const auto& line : x) {
            std::string l = c.string(line, "slurm.extra");
            if (l.find_first_of("\n\r") != std::string::npos)
                c.fail(line, "slurm.extra", "each of slurm.extra must be one line");
            if (l.rfind("--", 0) == 0) l = "#SBATCH " + l;  // an sbatch option on its own
            if (l.rfind("#SBATCH ", 0) != 0)
                c.fail(line, "slurm.extra",
                       "each of slurm.extra must be an '#SBATCH --option' line (or '--option'), "
                       "not '" +
                           l + "'");
            spec.extra.push_back(l);
        }
    }
    if (s["signal"]) {
        spec.signal = c.count(s["signal"], "slurm.signal", 0, 86400);
        if (spec.signal >= *slurm_time_seconds(spec.time))
            c.fail(s["signal"], "slurm.signal",
                   "slurm.signal (" + std::to_string(spec.signal) +
                       " s before the limit) must be shorter than slurm.time ('" + spec.time +
                       "')");
    } else {
        // Two minutes' warning, or a third of a short limit.
        spec.signal = static_cast<int>(std::min<long>(120, *slurm_time_seconds(spec.time) / 3));
    }
    if (s["on_timeout"]) {
        const std::string t =
            c.choice(s["on_timeout"], "slurm.on_timeout", {"chain", "requeue", "stop"});
        spec.on_timeout = t == "chain"     ? OnTimeout::chain
                          : t == "requeue" ? OnTimeout::requeue
                                           : OnTimeout::stop;
    }
    if (spec.on_timeout != OnTimeout::stop && cfg.output == "-")
        c.fail(s["on_timeout"] ? s["on_timeout"] : s, "slurm.on_timeout",
               "slurm.on_timeout: a continuation resumes from the results file, and output.path is "
               "'-'; set output.path or use on_timeout: stop");
    if (s["max_restarts"])
        spec.max_restarts = c.count(s["max_restarts"], "slurm.max_restarts", 0, 10000);
    if (s["array"]) {
        spec.array = c.count(s["array"], "slurm.array", 0, kMaxRanks);
        if (spec.array > 0 && cfg.output == "-")
            c.fail(s["array"], "slurm.array",
                   "slurm.array: each array task writes its own part of the results file, and "
                   "output.path is '-'");
    }
    if (s["launcher"])
        spec.launcher = c.choice(s["launcher"], "slurm.launcher", {"mpirun", "srun"});
    if (s["cpus_per_task"])
        spec.cpus_per_task = c.count(s["cpus_per_task"], "slurm.cpus_per_task", 1, kMaxCores);
}

// The `pool:` section.
void check_pool(const Checker& c, const YAML::Node& pool, Config& cfg) {
    c.keys(pool, "pool",
           {"processes", "chunksize", "ordered", "isolate", "cores_per_worker", "gpus_per_worker",
            "order", "durations"});
    if (const auto p = pool["processes"]) {
        cfg.processes =
            p.IsScalar() && p.Scalar() == "all" ? 0 : c.count(p, "pool.processes", 1, kMaxRanks);
        cfg.processes_at = c.place(p, "pool.processes");
    }
    if (const auto p = pool["chunksize"])
        cfg.chunksize = p.IsScalar() && p.Scalar() == "auto"
                            ? 0
                            : static_cast<std::size_t>(c.integer(p, "pool.chunksize", 1, 1'000'000'000));
    if (const auto p = pool["ordered"]) cfg.ordered = c.boolean(p, "pool.ordered");
    if (const auto p = pool["isolate"]) cfg.isolate = c.boolean(p, "pool.isolate");
    if (const auto p = pool["cores_per_worker"])
        cfg.cores_per_worker = c.count(p, "pool.cores_per_worker", 1, kMaxCores);
    if (const auto p = pool["gpus_per_worker"]) {
        cfg.gpus_per_worker = c.count(p, "pool.gpus_per_worker", 0, kMaxCores);
        cfg.gpus_at = c.place(p, "pool.gpus_per_worker");
    }
    if (const auto p = pool["order"])
        cfg.order = c.choice(p, "pool.order", {"input", "longest_first"}) == "input"
                        ? Order::input
                        : Order::longest_first;
    if (const auto p = pool["durations"]) {
        cfg.durations = c.string(p, "pool.durations");
        check_readable(c, p, "pool.durations", cfg.durations);
        if (cfg.order != Order::longest_first)
            c.fail(p, "pool.durations",
                   "pool.durations is read only to put the longest inputs first; add pool.order: "
                   "longest_first, or leave pool.durations out");
    } else if (cfg.order == Order::longest_first) {
        c.fail(pool["order"], "pool.order",
               "pool.order: longest_first needs pool.durations: an earlier run's .jsonl results "
               "(with their seconds), its .summary.json, or a GNU parallel joblog");
    }
}

// launch.gpus: the node's devices, each as written (CUDA_VISIBLE_DEVICES joins them with
// commas).
std::vector<std::string> check_gpus(const Checker& c, const YAML::Node& n) {
    if (!n.IsSequence())
        c.fail(n, "launch.gpus",
               "launch.gpus must be a list of the node's devices, e.g. [0, 1, 2, 3], not " +
                   Checker::show(n));
    std::vector<std::string> gpus;
    for (const auto& d : n) {
        const std::string id = c.string(d, "launch.gpus");
        if (id.empty() || id.find_first_of(", \t\n") != std::string::npos)
            c.fail(d, "launch.gpus",
                   "each of launch.gpus must be one device (a number or a UUID), not '" + id + "'");
        gpus.push_back(id);
    }
    return gpus;
}

}  // namespace

Value parse_value(const std::string& text) {
    return to_value(YAML::Load(text));
}

std::optional<long> slurm_time_seconds(const std::string& t) {
    // Slurm's forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
    long days = 0;
    std::string rest = t;
    const auto dash = t.find('-');
    std::vector<long> parts;
    auto number = [](const std::string& s, long& out) {
        if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
            return false;
        out = std::stol(s);
        return true;
    };
    if (dash != std::string::npos) {
        if (!number(t.substr(0, dash), days)) return std::nullopt;
        rest = t.substr(dash + 1);
    }
    for (std::size_t at = 0;;) {
        const auto colon = rest.find(':', at);
        long v = 0;
        if (!number(rest.substr(at, colon - at), v)) return std::nullopt;
        parts.push_back(v);
        if (colon == std::string::npos) break;
        at = colon + 1;
    }
    if (parts.size() > 3) return std::nullopt;
    long seconds = 0;
    if (dash != std::string::npos) {  // D-H[:M[:S]]
        const long mult[] = {3600, 60, 1};
        for (std::size_t i = 0; i < parts.size(); ++i) seconds += parts[i] * mult[i];
        seconds += days * 86400;
    } else if (parts.size() == 1) {  // M
        seconds = parts[0] * 60;
    } else if (parts.size() == 2) {  // M:S
        seconds = parts[0] * 60 + parts[1];
    } else {  // H:M:S
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2];
    }
    if (seconds < 60) return std::nullopt;  // Slurm rounds a limit up to whole minutes
    return seconds;
}

int local_ranks(const Config& cfg) {
    if (cfg.ranks > 0) return cfg.ranks;
    cpu_set_t set;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
    return static_cast<int>(std::max(1L, cores / cfg.cores_per_worker)) + 1;
}

const char* policy_name(Policy p) {
    switch (p) {
        case Policy::fail:
            return "fail";
        case Policy::skip:
            return "skip";
        case Policy::retry:
            return "retry";
    }
    return "?";
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
    std::map<std::string, std::string> sets;
    const YAML::Node root = read_yaml(path, overrides, sets);
    Checker c(path, sets);
    Config cfg;
    cfg.file = path;
    c.keys(root, "", {"job", "input", "params", "pool", "output", "errors", "launch", "slurm"});

    if (!root["job"]) c.fail(root, "job", "missing 'job:' (one of the jobs `mproc jobs` lists)");
    const std::string job = c.string(root["job"], "job");
    cfg.job = find_job(job);
    if (cfg.job == nullptr) {
        std::vector<std::string> names;
        for (const JobSpec* j : all_jobs()) names.push_back(j->name);
        c.fail(root["job"], "job",
               "unknown job '" + job + "'" + suggestion(job, names) +
                   "; the jobs are: " + join(names));
    }
    if (!root["input"])
        c.fail(root, "input", "missing 'input:' (range, values, lines, csv, files or grid)");
    check_input(c, root["input"], cfg.input);
    cfg.params = check_params(c, root, *cfg.job);
    check_params_against_input(c, root, cfg);

    if (const YAML::Node pool = root["pool"]) check_pool(c, pool, cfg);
    cfg.output = "results/" + job + ".jsonl";
    cfg.provenance = cfg.job->provenance;
    if (const YAML::Node out = root["output"]) {
        c.keys(out, "output", {"path", "provenance", "joblog", "task_logs"});
        if (out["path"]) cfg.output = c.string(out["path"], "output.path");
        if (out["provenance"]) cfg.provenance = c.boolean(out["provenance"], "output.provenance");
        if (out["joblog"]) cfg.joblog = c.string(out["joblog"], "output.joblog");
        if (out["task_logs"]) cfg.task_logs = c.string(out["task_logs"], "output.task_logs");
        check_output(c, out["path"] ? out["path"] : out, cfg);
    } else {
        check_output(c, root, cfg);
    }
    if (const YAML::Node e = root["errors"]) {
        c.keys(e, "errors",
               {"policy", "retries", "task_timeout", "max_failures", "max_crashes", "restarts"});
        if (e["max_crashes"]) {
            cfg.max_crashes = c.count(e["max_crashes"], "errors.max_crashes", 1, 1000);
            cfg.restarts = cfg.max_crashes + 2;
        }
        if (e["restarts"]) cfg.restarts = c.count(e["restarts"], "errors.restarts", 0, 10000);
        if (e["policy"]) {
            const std::string p = c.choice(e["policy"], "errors.policy", {"fail", "skip", "retry"});
            cfg.policy = p == "fail" ? Policy::fail : p == "skip" ? Policy::skip : Policy::retry;
        }
        if (e["retries"]) cfg.retries = c.count(e["retries"], "errors.retries", 0, 1000);
        if (e["task_timeout"])
            cfg.task_timeout = c.number(e["task_timeout"], "errors.task_timeout", 0);
        if (const auto m = e["max_failures"]) {
            const std::string text = m.IsScalar() ? m.Scalar() : "";
            if (!text.empty() && text.back() == '%') {
                double p = 0;
                const std::string digits = text.substr(0, text.size() - 1);
                const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), p);
                if (r.ec != std::errc() || r.ptr != digits.data() + digits.size() || !(p > 0) ||
                    p > 100)
                    c.fail(m, "errors.max_failures",
                           "errors.max_failures must be a count or a percentage above 0 and at "
                           "most 100 (\"5%\"), not '" +
                               text + "'");
                cfg.max_failures_percent = p;
            } else {
                cfg.max_failures =
                    static_cast<std::uint64_t>(c.integer(m, "errors.max_failures", 0));
            }
            if (cfg.policy == Policy::fail)
                c.fail(m, "errors.max_failures",
                       "errors.max_failures is a budget for errors.policy skip or retry; with "
                       "policy: fail the first failure stops the run");
        }
        if (cfg.retries > 0 && cfg.policy != Policy::retry)
            c.fail(e["retries"], "errors.retries",
                   "errors.retries is set but errors.policy is '" +
                       std::string(policy_name(cfg.policy)) + "'; use policy: retry");
    }
    if (const YAML::Node l = root["launch"]) {
        c.keys(l, "launch", {"ranks", "gpus"});
        if (l["ranks"]) cfg.ranks = c.count(l["ranks"], "launch.ranks", 1, kMaxRanks);
        if (l["gpus"]) cfg.gpus = check_gpus(c, l["gpus"]);
    }
    if (cfg.order == Order::longest_first && cfg.output == "-")
        c.fail(root["pool"]["order"], "pool.order",
               "pool.order: longest_first puts the results file back in input order at the end, "
               "and output.path is '-'; set output.path");
    if (const YAML::Node s = root["slurm"]) check_slurm(c, s, cfg);
    if (cfg.slurm.job_name.empty()) cfg.slurm.job_name = "mproc-" + cfg.job->name;
    return cfg;
}

}  // namespace mproc::runner
