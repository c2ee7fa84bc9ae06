// producer_consumer: the seeds' Queue example as a batch job. Before the first task, rank 0
// starts `processes` consumer Processes reading a task queue. Each input i becomes the task
// mul(i, 7) (even i) or plus(i, 7) (odd i): the pool task that handles it puts it on the task
// queue with the reply queue of its own rank, and waits there for the answer. After the last
// input, rank 0 sends one "STOP" per consumer and joins them.

#include <memory>
#include <mproc/mproc.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "job.hpp"

using namespace mproc::runner;

namespace {

enum class Op : int { mul, plus, stop };

// Trivially copyable, so it travels as its bytes, the reply queue's handle included.
struct Task {
    Op op = Op::stop;
    long long a = 0, b = 0;
    mproc::Queue<std::string> reply;  // where the answer goes
};

// The seeds' worker: takes tasks until "STOP", answers each on the queue it names.
void consumer(mproc::Queue<Task> tasks) {
    for (;;) {
        Task t = tasks.get();
        if (t.op == Op::stop) return;
        const bool mul = t.op == Op::mul;
        const long long r = mul ? t.a * t.b : t.a + t.b;
        t.reply.put(mproc::current_process().name() + " says that " + (mul ? "mul" : "plus") + "(" +
                    std::to_string(t.a) + ", " + std::to_string(t.b) + ") = " + std::to_string(r));
    }
}
MPROC_TASK(consumer);

// Rank 0: the consumers, from start to stop.
std::vector<mproc::Process>& consumers() {
    static std::vector<mproc::Process> all;
    return all;
}

// Each rank's own reply queue, made on first use (a task at a time runs on a rank).
mproc::Queue<std::string>& my_reply_queue() {
    static std::optional<mproc::Queue<std::string>> q;
    if (!q) q.emplace();
    return *q;
}

}  // namespace

MPROC_JOB({
    .name = "producer_consumer",
    .description = "each input i is sent as mul(i, 7) or plus(i, 7) through a task queue to "
                   "consumer Processes, and answered on a done queue",
    .params = {{"processes", ParamType::integer, Value(2), "consumer Processes"}},
    .run = [](const Value& input, const Value& params, const TaskContext&) -> Value {
        if (!input.is_int())
            throw std::invalid_argument("producer_consumer needs integer inputs, got " +
                                        input.json());
        const long long i = input.as_int();
        auto tasks = handle_of<mproc::Queue<Task>>(params["_tasks"]);
        tasks.put(Task{i % 2 ? Op::plus : Op::mul, i, 7, my_reply_queue()});
        const std::string answer = my_reply_queue().get();
        const auto eq = answer.rfind("= ");
        return Value(Value::Map{{"answer", Value(answer)},
                                {"value", Value(std::stoll(answer.substr(eq + 2)))}});
    },
    .reduce = [](Value acc, const Value& r) -> Value {
        auto& m = acc.as_map();
        m["tasks"] = Value(m["tasks"].as_int() + 1);
        m["sum"] = Value(m["sum"].as_int() + r["value"].as_int());
        return acc;
    },
    .reduce_init = Value(Value::Map{{"tasks", Value(0)}, {"sum", Value(0)}}),
    .describe =
        [](const Value& reduced, const Value& params) {
            return std::to_string(reduced["tasks"].as_int()) + " tasks answered by " +
                   std::to_string(params["processes"].as_int()) +
                   " consumer processes; sum of answers " + std::to_string(reduced["sum"].as_int());
        },
    .check = [](const Value& params) -> std::string {
        return params["processes"].as_int() < 1 ? "params.processes must be >= 1" : "";
    },
    .prepare = [](const Value& params, const Value&) -> Value {
        Value p = params;
        p.as_map()["_tasks"] = handle_value(mproc::Queue<Task>());
        return p;
    },
    .reserve_ranks =
        [](const Value& params) { return static_cast<int>(params["processes"].as_int()); },
    .start =
        [](const Value& params) {
            const auto tasks = handle_of<mproc::Queue<Task>>(params["_tasks"]);
            for (long long n = 0; n < params["processes"].as_int(); ++n) {
                consumers().emplace_back(consumer, tasks);
                consumers().back().start();
            }
        },
    .stop =
        [](const Value& params) {
            auto tasks = handle_of<mproc::Queue<Task>>(params["_tasks"]);
            const Task stop{Op::stop, 0, 0, my_reply_queue()};
            for (std::size_t n = 0; n < consumers().size(); ++n) tasks.put(stop);
            for (auto& p : consumers()) p.join();
            consumers().clear();
        },
});
