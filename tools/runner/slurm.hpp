#pragma once
// Slurm: the sbatch script `mproc submit` writes, and the parts a job array leaves behind.
//
// The script is slurm/mproc.sbatch.in with its @PLACEHOLDERS@ filled from the config: the
// #SBATCH lines from `slurm:`, and what the body needs to run the config, resume it and chain
// or requeue itself at the time limit (see that file).

#include <string>
#include <vector>

#include "config.hpp"
#include "inputs.hpp"

namespace mproc::runner {

struct SbatchRequest {
    std::string template_path;  // slurm/mproc.sbatch.in
    std::string mproc;          // the tools/mproc the job runs
    std::string config;         // the config, as given
    std::vector<std::string> sets;
    bool resume = false;  // the first allocation resumes too (a resubmitted interrupted run)
};

// Where the script is saved (a chained continuation submits it again): next to the results,
// OUTPUT without its extension plus ".sbatch"; "<job>.sbatch" for output to stdout.
std::string sbatch_path(const Config& cfg);

// The script, ready for sbatch.
std::string render_sbatch(const Config& cfg, const SbatchRequest& req);

// Part `shard` of a job array's results: "results/x.jsonl" -> "results/x.part-2-of-8.jsonl".
std::string shard_path(const std::string& output, const Shard& shard);

// `mproc merge`: when every part of a job array's results is complete, writes them in order
// as the config's results (and combines their reductions). Returns the exit code: 0 merged
// (or, with `if_complete`, parts still missing: the last part to finish merges), 3 parts
// missing.
int merge_parts(const Config& cfg, bool if_complete);

}  // namespace mproc::runner
