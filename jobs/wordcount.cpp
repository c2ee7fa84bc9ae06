// wordcount: map-reduce word counts. Each input is a file path; a task counts its words
// (lower-cased runs of letters and digits); the reduction merges the counts.

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "job.hpp"

using namespace mproc::runner;

// Folds a task's result into the reduction. A reduction has the shape of one result, so
// this also combines two parts' reductions (mproc merge).
static Value add_counts(Value acc, const Value& r) {
    auto& m = acc.as_map();
    for (const auto& [w, k] : r.as_map()) {
        auto it = m.find(w);
        m[w] =
            Value(static_cast<long long>((it == m.end() ? 0 : it->second.as_int()) + k.as_int()));
    }
    return acc;
}

MPROC_JOB({
    .name = "wordcount",
    .description = "word counts per file (input: paths), merged into one table",
    .params = {{"top", ParamType::integer, Value(20),
                "how many of the commonest words the summary shows"}},
    .run = [](const Value& input, const Value&, const TaskContext& ctx) -> Value {
        if (!input.is_string())
            throw std::invalid_argument("wordcount needs file paths, got " + input.json());
        std::ifstream in(input.as_string(), std::ios::binary);
        if (!in) throw std::runtime_error("cannot read " + input.as_string());
        std::map<std::string, std::int64_t> counts;
        std::string word;
        char c;
        std::int64_t n = 0;
        while (in.get(c)) {
            if (std::isalnum(static_cast<unsigned char>(c))) {
                word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            } else if (!word.empty()) {
                ++counts[word];
                word.clear();
            }
            if ((++n & 0xFFFFF) == 0) ctx.check();
        }
        if (!word.empty()) ++counts[word];
        Value::Map m;
        for (auto& [w, k] : counts) m.emplace(w, Value(static_cast<long long>(k)));
        return Value(std::move(m));
    },
    .reduce = add_counts,
    .reduce_init = Value(Value::Map{}),
    .combine = add_counts,
    .describe =
        [](const Value& reduced, const Value& params) {
            std::vector<std::pair<std::int64_t, std::string>> top;
            std::int64_t total = 0;
            for (const auto& [w, k] : reduced.as_map()) {
                top.emplace_back(-k.as_int(), w);
                total += k.as_int();
            }
            std::sort(top.begin(), top.end());
            std::string s =
                "words: " + std::to_string(total) + ", distinct: " + std::to_string(top.size());
            const auto n =
                std::min<std::size_t>(top.size(), static_cast<std::size_t>(params["top"].as_int()));
            for (std::size_t i = 0; i < n; ++i)
                s += (i ? ", " : "; commonest: ") + top[i].second + " " +
                     std::to_string(-top[i].first);
            return s;
        },
});
