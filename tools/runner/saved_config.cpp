// A checked Config saved whole, so a run reads its YAML once: `plan` (before any rank starts)
// reads and checks it and saves the result; rank 0 loads that. A 50 MB config takes yaml-cpp
// about 20 s to read; loading the saved form takes a fraction of a second.

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <fstream>

#include "config.hpp"

namespace boost::serialization {

template <class Archive>
void serialize(Archive& ar, mproc::runner::InputSpec& s, const unsigned int) {
    ar& s.kind& s.start& s.stop& s.step& s.values& s.path& s.columns& s.files& s.grid;
}

template <class Archive>
void serialize(Archive& ar, mproc::runner::Place& p, const unsigned int) {
    ar& p.file& p.line& p.column;
}

template <class Archive>
void serialize(Archive& ar, mproc::runner::SlurmSpec& s, const unsigned int) {
    ar& s.nodes& s.ntasks_per_node& s.time& s.partition& s.account& s.job_name& s.output& s.error& s
        .extra& s.signal& s.on_timeout& s.max_restarts& s.array& s.launcher& s.cpus_per_task;
}

}  // namespace boost::serialization

namespace mproc::runner {

namespace {
// Changed whenever Config changes shape: a file of another layout is not loaded.
constexpr int kSavedVersion = 6;

// Every field of a Config but its job, in one list for both directions (an output archive
// only reads them).
template <class Archive>
void fields(Archive& ar, Config& cfg) {
    bool count = cfg.max_failures.has_value(), percent = cfg.max_failures_percent.has_value();
    std::uint64_t n = cfg.max_failures.value_or(0);
    double p = cfg.max_failures_percent.value_or(0);
    ar& cfg.file& cfg.input& cfg.params& cfg.processes& cfg.processes_at& cfg.chunksize&
        cfg.ordered& cfg.isolate& cfg.cores_per_worker& cfg.gpus_per_worker& cfg.gpus&
            cfg.gpus_at& cfg.order& cfg.durations& cfg.output& cfg.format& cfg.provenance&
                cfg.joblog& cfg.task_logs& cfg.policy& cfg.retries& cfg.task_timeout& count& n&
                    percent& p& cfg.max_crashes& cfg.restarts& cfg.ranks& cfg.slurm;
    if constexpr (Archive::is_loading::value) {
        if (count) cfg.max_failures = n;
        if (percent) cfg.max_failures_percent = p;
    }
}
}  // namespace

void save_config(const Config& cfg, const std::string& path) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    {
        boost::archive::binary_oarchive ar(f);
        int version = kSavedVersion;
        std::string job = cfg.job->name;
        ar << version << job;
        fields(ar, const_cast<Config&>(cfg));
    }
    if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

std::optional<Config> load_saved_config(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return std::nullopt;
    try {
        boost::archive::binary_iarchive ar(f);
        Config cfg;
        std::string job;
        int version = 0;
        ar >> version;
        if (version != kSavedVersion) return std::nullopt;
        ar >> job;
        fields(ar, cfg);
        cfg.job = find_job(job);
        if (cfg.job == nullptr) return std::nullopt;
        return cfg;
    } catch (const std::exception&) {
        return std::nullopt;  // not ours, or torn: the caller reads the YAML instead
    }
}

}  // namespace mproc::runner
