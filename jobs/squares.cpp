// squares: x -> x², the Pool examples of the seeds as a batch job. `params.sleep` makes each
// task take a while, for demonstrations and the interruption tests.

#include <chrono>
#include <cmath>
#include <stdexcept>
#include <thread>

#include "job.hpp"

using namespace mproc::runner;

MPROC_JOB({
    .name = "squares",
    .description = "x -> x*x for each integer input",
    .params = {{"sleep", ParamType::number, Value(0),
                "seconds each task sleeps first: simulated work, to watch progress or interrupt "
                "a run"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (!input.is_int()) {
            // An integer as written, but past 64 bits (2^70 reads as a double).
            const double d = input.is_number() ? input.as_double() : 0;
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) >= 0x1p63)
                throw std::overflow_error("input " + input.text() +
                                          " does not fit a 64-bit integer");
            throw std::invalid_argument("squares needs integer inputs, got " + input.json());
        }
        if (const double s = params["sleep"].as_double(); s > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(s));
            ctx.check();
        }
        const auto x = input.as_int();
        long long square = 0;
        if (__builtin_mul_overflow(x, x, &square))  // an error, never a wrong number
            throw std::overflow_error(input.text() + " squared does not fit a 64-bit integer");
        return Value(square);
    },
});
