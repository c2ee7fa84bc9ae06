#pragma once
// pool.order: longest_first — the inputs go out by how long each took in an earlier run
// (pool.durations), the longest first, so the few long inputs of a sweep start early instead
// of deciding, at the end, when the run ends. The results file is still written in input
// order (results_writer sorts it at the end).
//
// pool.durations is one of
//   - an earlier run's .jsonl results with their seconds (output.provenance), matched by
//     input: a sweep that gained or reordered inputs still finds the ones it ran before;
//   - an earlier run's OUTPUT.summary.json, whose slowest inputs are matched by index, every
//     other input having taken at most the shortest of them;
//   - a GNU parallel --joblog (or mproc's output.joblog), matched by Seq (index + 1).
// An input the file does not know is placed as if it took the mean of those it knows: after
// the known long ones, before the known short ones.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "inputs.hpp"

namespace mproc::runner {

struct Durations {
    std::unordered_map<std::string, double> by_input;    // the input as JSON: seconds
    std::unordered_map<std::uint64_t, double> by_index;  // the input's index: seconds
    std::optional<double> rest;  // a summary: what every input it does not list took at most
};

// Reads pool.durations; std::invalid_argument naming the file (and line) and what it wants.
Durations read_durations(const std::string& path);

// The indices of `spec`'s inputs in [first, end) not yet `done`, longest first by
// `durations` (at a tie a known input first; otherwise ties in input order).
std::vector<std::uint64_t> longest_first(const InputSpec& spec, std::uint64_t first,
                                         std::uint64_t end, const Durations& durations,
                                         const std::function<bool(std::uint64_t)>& done);

// Puts `items` in pool.order: with longest_first, the inputs still to do (not `done`) longest
// first by pool.durations; otherwise it leaves them in input order.
void apply_order(const Config& cfg, ItemRange& items,
                 const std::function<bool(std::uint64_t)>& done);

}  // namespace mproc::runner
