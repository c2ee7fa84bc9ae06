// shared_counter: the seeds' Value/Lock example as a batch job. Each input is one "process"
// that adds 1 to a shared counter `increments` times: under a shared Lock (exact), or with a
// plain load-then-store (`locked: false`), which loses updates when processes overlap.
// The counter and the lock are mproc shared objects made on rank 0 before the first task and
// handed to every worker in the job's parameters.

#include <mproc/mproc.hpp>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "job.hpp"

using namespace mproc::runner;

namespace {
using Counter = mproc::Value<std::int64_t>;

long long get_int(const Value& v, const char* key) {
    return static_cast<long long>(v[key].as_int());
}
}  // namespace

MPROC_JOB({
    .name = "shared_counter",
    .description = "each input adds 1 to a shared counter `increments` times, under a Lock or not",
    .params = {{"increments", ParamType::integer, Value(20), "increments per input"},
               {"locked", ParamType::boolean, Value(true),
                "hold the shared Lock around each load-then-store (false: updates get lost)"}},
    .run = [](const Value&, const Value& params, const TaskContext& ctx) -> Value {
        auto counter = handle_of<Counter>(params["_counter"]);
        auto lock = handle_of<mproc::Lock>(params["_lock"]);
        const bool locked = params["locked"].as_bool();
        const auto n = get_int(params, "increments");
        for (long long i = 0; i < n; ++i) {
            if (locked) {
                std::lock_guard hold(lock);
                counter.store(counter.load() + 1);
            } else {
                const auto v = counter.load();
                std::this_thread::yield();  // as a process switch between read and write would
                counter.store(v + 1);
            }
            if ((i & 0xFF) == 0) ctx.check();
        }
        return Value(n);
    },
    .reduce = [](Value acc, const Value& r) -> Value {
        auto& m = acc.as_map();
        m["increments"] = Value(m["increments"].as_int() + r.as_int());
        return acc;
    },
    .reduce_init = Value(Value::Map{{"increments", Value(0)}}),
    .describe =
        [](const Value& reduced, const Value& params) {
            const auto want = reduced["increments"].as_int(), got = reduced["counter"].as_int();
            return "counter = " + std::to_string(got) + " after " + std::to_string(want) +
                   " increments " +
                   (params["locked"].as_bool() ? "under the lock" : "without a lock") +
                   (got == want ? " (none lost)" : " (" + std::to_string(want - got) + " lost)");
        },
    .check = [](const Value& params) -> std::string {
        return params["increments"].as_int() < 0 ? "params.increments must be >= 0" : "";
    },
    .prepare = [](const Value& params, const Value& reduced) -> Value {
        // A resumed run's counter starts where the earlier one's increments left it.
        Value p = params;
        p.as_map()["_counter"] = handle_value(Counter(reduced["increments"].as_int()));
        p.as_map()["_lock"] = handle_value(mproc::Lock());
        return p;
    },
    .finish = [](Value reduced, const Value& params) -> Value {
        reduced.as_map()["counter"] = Value(handle_of<Counter>(params["_counter"]).load());
        return reduced;
    },
});
