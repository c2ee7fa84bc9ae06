// cpu_sum: the seeds' CPU-bound timing task. Input i stands for the span
// [i * span, (i + 1) * span); each task sums j + j² + j³ over its span, and the reduction adds
// the spans up. Sums are exact (128-bit) and written as decimal strings, as Python's
// integers would print.

#include <stdexcept>
#include <string>

#include "job.hpp"

using namespace mproc::runner;

namespace {

__extension__ using u128 = unsigned __int128;  // a GCC/Clang extension, on purpose

std::string to_decimal(u128 v) {
    if (v == 0) return "0";
    std::string s;
    for (; v > 0; v /= 10) s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    return s;
}

u128 from_decimal(const std::string& s) {
    u128 v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') throw std::invalid_argument("not a decimal number: " + s);
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
}

}  // namespace

// Folds a task's result into the reduction. A reduction has the shape of one result, so
// this also combines two parts' reductions (mproc merge).
static Value add_sums(Value acc, const Value& r) {
    return Value(to_decimal(from_decimal(acc.as_string()) + from_decimal(r.as_string())));
}

MPROC_JOB({
    .name = "cpu_sum",
    .description = "sum of j + j^2 + j^3 over span-sized chunks of a range (input: chunk index)",
    .params = {{"span", ParamType::integer, Value(1'000'000), "numbers per chunk"}},
    .run = [](const Value& input, const Value& params, const TaskContext& ctx) -> Value {
        if (!input.is_int() || input.as_int() < 0)
            throw std::invalid_argument("cpu_sum needs chunk indices (integers >= 0), got " +
                                        input.json());
        const auto span = static_cast<u128>(params["span"].as_int());
        const u128 start = static_cast<u128>(input.as_int()) * span;
        u128 sum = 0;
        for (u128 j = start; j < start + span; ++j) {
            sum += j + j * j + j * j * j;
            if ((j & 0xFFFFF) == 0) ctx.check();  // honour errors.task_timeout
        }
        return Value(to_decimal(sum));
    },
    .reduce = add_sums,
    .reduce_init = Value("0"),
    .combine = add_sums,
    .describe = [](const Value& reduced,
                   const Value&) { return "cpu_sum total: " + reduced.as_string(); },
    .check = [](const Value& params) -> std::string {
        return params["span"].as_int() < 1 ? "span must be at least 1" : "";
    },
});
