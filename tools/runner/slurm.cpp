#include "slurm.hpp"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "files.hpp"
#include "journal.hpp"
#include "results_writer.hpp"

namespace mproc::runner {
namespace {

namespace fs = std::filesystem;


void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size())
        text.replace(at, from.size(), to);
}

const char* on_timeout_name(OnTimeout t) {
    switch (t) {
        case OnTimeout::chain:
            return "chain";
        case OnTimeout::requeue:
            return "requeue";
        case OnTimeout::stop:
            return "stop";
    }
    return "stop";
}

std::string sbatch_lines(const Config& cfg) {
    const SlurmSpec& s = cfg.slurm;
    std::ostringstream o;
    o << "#SBATCH --job-name=" << s.job_name << "\n"
      << "#SBATCH --nodes=" << s.nodes << "\n"
      << "#SBATCH --ntasks-per-node=" << s.ntasks_per_node << "\n"
      << "#SBATCH --cpus-per-task="
      << (s.cpus_per_task > 0 ? s.cpus_per_task : cfg.cores_per_worker) << "\n"
      << "#SBATCH --time=" << s.time << "\n";
    if (!s.partition.empty()) o << "#SBATCH --partition=" << s.partition << "\n";
    if (!s.account.empty()) o << "#SBATCH --account=" << s.account << "\n";
    if (!s.output.empty()) o << "#SBATCH --output=" << s.output << "\n";
    if (!s.error.empty()) o << "#SBATCH --error=" << s.error << "\n";
    if (s.array > 0) o << "#SBATCH --array=0-" << s.array - 1 << "\n";
    // The warning goes to the batch shell only (B:), which asks the run to stop cleanly.
    if (s.signal > 0) o << "#SBATCH --signal=B:USR1@" << s.signal << "\n";
    o << (s.on_timeout == OnTimeout::requeue ? "#SBATCH --requeue\n" : "#SBATCH --no-requeue\n");
    for (const auto& line : s.extra) o << line << "\n";
    return o.str();
}

}  // namespace

std::string sbatch_path(const Config& cfg) {
    if (cfg.output == "-") return fs::absolute(cfg.job->name + ".sbatch").string();
    return fs::absolute(cfg.output).string() + ".sbatch";  // x.jsonl and x.csv have their own
}

std::string render_sbatch(const Config& cfg, const SbatchRequest& req) {
    std::string text;
    try {
        text = read_file(req.template_path);
    } catch (const IoError& e) {  // an installation's fault, not an interrupted run (exit 2)
        throw std::runtime_error(std::string(e.what()) + " (the sbatch template)");
    }
    std::string sets;
    for (const auto& s : req.sets) {
        if (!sets.empty()) sets += ' ';
        sets += shell_quote("--set=" + s);
    }
    const std::pair<const char*, std::string> fills[] = {
        {"@SBATCH@", sbatch_lines(cfg)},
        {"@MPROC@", shell_quote(fs::absolute(req.mproc).string())},
        {"@CONFIG@", shell_quote(fs::absolute(req.config).string())},
        {"@SETS@", sets},
        {"@WORKDIR@", shell_quote(fs::current_path().string())},
        {"@SCRIPT@", shell_quote(sbatch_path(cfg))},
        {"@ON_TIMEOUT@", on_timeout_name(cfg.slurm.on_timeout)},
        {"@MAX_RESTARTS@", std::to_string(cfg.slurm.max_restarts)},
        {"@ARRAY@", std::to_string(cfg.slurm.array)},
        {"@LAUNCHER@", cfg.slurm.launcher},
        {"@RESUME@", req.resume ? "1" : "0"},
    };
    for (const auto& [name, value] : fills) replace_all(text, name, value);
    // One the template has and this list lacks would reach sbatch as text: @, then capitals
    // and underscores, then @.
    for (std::size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
        std::size_t end = at + 1;
        while (end < text.size() && (std::isupper(static_cast<unsigned char>(text[end])) ||
                                     text[end] == '_'))
            ++end;
        if (end > at + 1 && end < text.size() && text[end] == '@')
            throw std::runtime_error(req.template_path + ": unknown placeholder " +
                                     text.substr(at, end - at + 1));
    }
    return text;
}

std::string shard_path(const std::string& output, const Shard& shard) {
    const fs::path p(output);
    return ((p.parent_path() / p.stem()).string() + ".part-" + std::to_string(shard.index) +
            "-of-" + std::to_string(shard.count) + p.extension().string());
}

int merge_parts(const Config& cfg, bool if_complete) {
    const int n = cfg.slurm.array;
    if (n <= 0)
        throw std::runtime_error(cfg.file +
                                 ": slurm.array is not set: there are no parts to merge");
    std::vector<std::string> parts, missing;
    for (int k = 0; k < n; ++k) {
        const std::string p = shard_path(
            cfg.output, Shard{static_cast<std::uint64_t>(k), static_cast<std::uint64_t>(n)});
        parts.push_back(p);
        if (!results_complete(p)) missing.push_back(p);
    }
    if (!missing.empty()) {
        std::cerr << "mproc merge: " << n - static_cast<int>(missing.size()) << " of " << n
                  << " parts of " << cfg.output << " are complete";
        if (if_complete) {
            std::cerr << "; the last part to finish merges them\n";
            return 0;
        }
        std::cerr << "; missing or unfinished:\n";
        for (const auto& m : missing) std::cerr << "  " << m << "\n";
        return 3;
    }
    // As a run writes its results: into OUTPUT.part under OUTPUT.lock, synced, then renamed.
    const int lock = lock_output(cfg.output);
    const std::string tmp = cfg.output + ".part";
    Value reduced = cfg.job->reduce_init;
    std::FILE* out = nullptr;
    try {
        out = open_file(tmp, "wb");
        bool first = true;
        for (const auto& p : parts) {
            // A CSV part starts with the header line: the merged file has it once.
            append_file(out, tmp, p, cfg.format == Format::csv && !first);
            first = false;
            if (cfg.job->reduce) {
                if (!cfg.job->combine)
                    throw std::runtime_error("job " + cfg.job->name +
                                             " does not say how to combine its parts' reductions");
                const std::string rp = reduced_path(p);
                try {
                    reduced = cfg.job->combine(std::move(reduced), parse_json(read_file(rp)));
                } catch (const std::invalid_argument& e) {
                    throw std::runtime_error(rp + ": " + e.what());
                }
            }
        }
        write_all(out, "", tmp);
        sync_file(out, tmp);
        close_file(out, tmp);
        if (cfg.job->reduce) replace_file(reduced_path(cfg.output), reduced.json() + "\n");
        rename_file(tmp, cfg.output);
    } catch (...) {
        if (out != nullptr) std::fclose(out);
        std::remove(tmp.c_str());
        release_lock(lock);
        throw;
    }
    release_lock(lock);
    std::cerr << "mproc merge: " << n << " parts merged into " << cfg.output;
    if (cfg.job->reduce) std::cerr << ", reduction: " << reduced_path(cfg.output);
    std::cerr << "\n";
    return 0;
}

}  // namespace mproc::runner
