#pragma once
// The tasks a batch run's pool runs on its workers (run_item, once per input) and what they
// are set up with once (Setup, the pool's initializer).

#include <cstdint>
#include <memory>
#include <mproc/mproc.hpp>
#include <string>

#include "record.hpp"
#include "value.hpp"

namespace mproc::runner {

// A suspect (crashes.hpp) about to run alone on `rank`: rank 0 writes it down before it runs.
struct SuspectStart {
    std::uint64_t index = 0;
    std::int32_t rank = 0;
};

// Sent once to every worker (the Pool initializer) so items need not carry it.
struct Setup {
    std::string job;
    Value params;
    double task_timeout = 0;
    int attempts = 1;         // 1 + retries under policy: retry
    int format = 0;           // a Format: workers format their records
    bool provenance = false;  // records say where, when and how long (output.provenance)
    bool joblog = false;      // workers make each task's output.joblog line
    std::string task_logs;    // output.task_logs
    int cores_per_worker = 1;  // pool.cores_per_worker
    int gpus_per_worker = 0;   // pool.gpus_per_worker
    std::vector<std::string> gpus;  // launch.gpus: the node's devices ("": the allocation's)
    // A suspect says where it starts on `suspect_started`, then waits for its rank's event in
    // `suspect_go` (indexed by rank), which rank 0 sets once it has written that down.
    // (One queue, made by rank 0: a Setup exists outside mproc::run too, where none can be.)
    std::vector<mproc::Queue<SuspectStart>> suspect_started;
    std::vector<mproc::Event> suspect_go;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& job& params& task_timeout& attempts& format& provenance& joblog& task_logs&
            cores_per_worker& gpus_per_worker& gpus& suspect_started& suspect_go;
    }
};

void setup_worker(Setup setup);
// A node's devices and where they were found: launch.gpus when the config names them, else
// CUDA_VISIBLE_DEVICES or ROCR_VISIBLE_DEVICES as the allocation set them (split at commas).
struct NodeDevices {
    std::vector<std::string> ids;
    std::string source;  // "" when none was found
};
NodeDevices node_devices(const std::vector<std::string>& configured);
// The devices worker `node_slot` of the `node_workers` on `host` sees: its own `per_worker`
// of the node's; std::runtime_error naming what was found and what is needed when there are
// too few.
std::vector<std::string> worker_gpus(const NodeDevices& node, int per_worker, int node_slot,
                                     int node_workers, const std::string& host);
Record run_item(Item item);
// run_item for a suspect: first says where it runs and waits until rank 0 has noted it.
Record run_suspect(Item item);

}  // namespace mproc::runner

MPROC_PLAIN_SERIALIZABLE(mproc::runner::Setup)
