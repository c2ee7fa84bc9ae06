// where: returns where each input ran and what share of its node it had — host, rank, the
// worker's slot ({%}) and its place on the node, the cores it may use (ctx.cores()) and what
// OMP_NUM_THREADS says, and its devices. For checking a farm's layout (pool.cores_per_worker,
// pool.gpus_per_worker, a hostfile or an allocation) before a long run; the tests use it too.

#include <cstdlib>

#include "job.hpp"

using namespace mproc::runner;

namespace {
Value env_value(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? Value(std::string(v)) : Value();
}
}  // namespace

MPROC_JOB({
    .name = "where",
    .description = "where each input ran: host, rank, slot, cores and devices",
    .params = {},
    .run = [](const Value& input, const Value&, const TaskContext& ctx) -> Value {
        const WorkerPlace& at = ctx.place();
        Value::List gpus;
        for (const std::string& id : at.gpus) gpus.emplace_back(id);
        return Value(Value::Map{{"input", input},
                                {"host", Value(at.host)},
                                {"rank", Value(at.rank)},
                                {"slot", Value(at.slot)},
                                {"node_slot", Value(at.node_slot)},
                                {"cores", Value(ctx.cores())},
                                {"OMP_NUM_THREADS", env_value("OMP_NUM_THREADS")},
                                {"gpus", Value(std::move(gpus))},
                                {"CUDA_VISIBLE_DEVICES", env_value("CUDA_VISIBLE_DEVICES")}});
    },
});
