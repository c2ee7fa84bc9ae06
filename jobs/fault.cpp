// fault: returns its input, except that on the inputs listed in params.on it fails the way
// params.how says. For trying out, on your own cluster and before a long run, what mproc does
// when tasks crash: pool.isolate, errors.restarts and errors.max_crashes (README, "Interrupted
// runs"). The tests use it too.

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "job.hpp"

using namespace mproc::runner;

MPROC_JOB({
    .name = "fault",
    .description = "returns its input; fails as params.how says on the inputs in params.on",
    .params = {{"on", ParamType::list, Value(Value::List{}),
                "the inputs to fail on (compared as written: [3, \"x\"])"},
               {"how", ParamType::string, Value("segfault"),
                "segfault, abort, exit (exit(3)), throw (an exception), or kill_rank (SIGKILL "
                "to the task's own process: its rank, or its child under pool.isolate)"},
               {"sleep", ParamType::number, Value(0), "seconds each task sleeps first"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (const double s = params["sleep"].as_double(); s > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(s));
            ctx.check();
        }
        for (const Value& v : params["on"].as_list()) {
            if (v.json() != input.json()) continue;
            const std::string how = params["how"].as_string();
            if (how == "segfault") std::raise(SIGSEGV);
            if (how == "abort") std::abort();
            if (how == "exit") std::exit(3);
            if (how == "kill_rank") kill(getpid(), SIGKILL);
            if (how == "throw") throw std::runtime_error("fault: failing on " + input.json());
            throw std::invalid_argument("fault: params.how is '" + how +
                                        "'; want segfault, abort, exit, throw or kill_rank");
        }
        return input;
    },
});
