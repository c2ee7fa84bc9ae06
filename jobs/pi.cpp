// pi: Monte Carlo estimate of pi. Input i is a chunk of `samples` points drawn from a generator
// seeded with (seed, i), so every chunk is reproducible wherever it runs; the reduction adds
// up the hits.

#include <random>
#include <stdexcept>
#include <string>

#include "job.hpp"

using namespace mproc::runner;

// Folds a task's result into the reduction. A reduction has the shape of one result, so
// this also combines two parts' reductions (mproc merge).
static Value add_hits(Value acc, const Value& r) {
    auto& m = acc.as_map();
    m["hits"] = Value(static_cast<long long>(m["hits"].as_int() + r["hits"].as_int()));
    m["samples"] = Value(static_cast<long long>(m["samples"].as_int() + r["samples"].as_int()));
    return acc;
}

MPROC_JOB({
    .name = "pi",
    .description = "Monte Carlo pi: each input is a chunk index, seeded from (seed, index)",
    .params = {{"samples", ParamType::integer, Value(1'000'000), "points per chunk"},
               {"seed", ParamType::integer, Value(1), "base seed"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (!input.is_int())
            throw std::invalid_argument("pi needs integer chunk indices, got " + input.json());
        std::seed_seq seq{static_cast<std::uint64_t>(params["seed"].as_int()),
                          static_cast<std::uint64_t>(input.as_int())};
        std::mt19937_64 gen(seq);
        std::uniform_real_distribution<double> u(0.0, 1.0);
        const auto samples = params["samples"].as_int();
        std::int64_t hits = 0;
        for (std::int64_t i = 0; i < samples; ++i) {
            const double x = u(gen), y = u(gen);
            hits += x * x + y * y <= 1.0;
            if ((i & 0xFFFF) == 0) ctx.check();
        }
        return Value(Value::Map{{"hits", Value(static_cast<long long>(hits))},
                                {"samples", Value(static_cast<long long>(samples))}});
    },
    .reduce = add_hits,
    .reduce_init = Value(Value::Map{{"hits", Value(0)}, {"samples", Value(0)}}),
    .combine = add_hits,
    .describe =
        [](const Value& reduced, const Value&) {
            const double samples = static_cast<double>(reduced["samples"].as_int());
            const double pi =
                samples > 0 ? 4.0 * static_cast<double>(reduced["hits"].as_int()) / samples : 0;
            return "pi ≈ " + std::to_string(pi) + " from " +
                   std::to_string(reduced["samples"].as_int()) + " samples";
        },
    .check = [](const Value& params) -> std::string {
        return params["samples"].as_int() < 1 ? "samples must be at least 1" : "";
    },
});
