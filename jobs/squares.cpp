// squares: x -> x², the Pool examples of the seeds as a batch job.

#include <stdexcept>

#include "job.hpp"

using namespace mproc::runner;

MPROC_JOB({
    .name = "squares",
    .description = "x -> x*x for each integer input",
    .params = {},
    .run = [](const Value& input, const Value&, const TaskContext&) -> Value {
        if (!input.is_int())
            throw std::invalid_argument("squares needs integer inputs, got " + input.json());
        const auto x = input.as_int();
        return Value(static_cast<long long>(x * x));
    },
});
