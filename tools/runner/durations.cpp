#include "durations.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "files.hpp"
#include "value.hpp"

namespace mproc::runner {
namespace {

[[noreturn]] void refuse(const std::string& where, const std::string& what) {
    throw std::invalid_argument("pool.durations: " + where + ": " + what);
}

// GNU parallel's joblog: a header line, then Seq Host Starttime JobRuntime Send Receive
// Exitval Signal Command, tab-separated. A resumed run appends; its line is the later word.
Durations from_joblog(const std::string& path, const std::string& text) {
    Durations d;
    std::istringstream lines(text);
    std::string line;
    std::getline(lines, line);  // the header
    for (int number = 2; std::getline(lines, line); ++number) {
        if (line.empty()) continue;
        std::istringstream fields(line);
        std::string seq, host, start, runtime;
        std::getline(fields, seq, '\t');
        std::getline(fields, host, '\t');
        std::getline(fields, start, '\t');
        std::getline(fields, runtime, '\t');
        char* seq_end = nullptr;
        char* runtime_end = nullptr;
        const unsigned long long n = std::strtoull(seq.c_str(), &seq_end, 10);
        const double seconds = std::strtod(runtime.c_str(), &runtime_end);
        if (seq_end == seq.c_str() || *seq_end != '\0' || n == 0 ||
            runtime_end == runtime.c_str() || !(seconds >= 0))
            refuse(path + ":" + std::to_string(number),
                   "not a joblog line (Seq, Host, Starttime, JobRuntime, ... tab-separated)");
        d.by_index[n - 1] = seconds;
    }
    return d;
}

// OUTPUT.summary.json: its slowest inputs by index; every other input took at most the
// shortest of them.
Durations from_summary(const std::string& path, const Value& summary) {
    Durations d;
    for (const Value& s : summary["slowest"].as_list()) {
        if (!s["index"].is_int() || !s["seconds"].is_number())
            refuse(path, "a 'slowest' entry without an index and seconds");
        const double seconds = s["seconds"].as_double();
        d.by_index[static_cast<std::uint64_t>(s["index"].as_int())] = seconds;
        d.rest = std::min(d.rest.value_or(seconds), seconds);
    }
    return d;
}

// .jsonl results: each record's input (as JSON) and seconds (output.provenance).
Durations from_results(const std::string& path, const std::string& text) {
    Durations d;
    std::istringstream lines(text);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        if (line.empty()) continue;
        Value record;
        try {
            record = parse_json(line);
        } catch (const std::invalid_argument& e) {
            refuse(path + ":" + std::to_string(number),
                   std::string(e.what()) +
                       "; want .jsonl results, a .summary.json or a GNU parallel joblog");
        }
        if (!record.is_map() || !record["seconds"].is_number()) continue;
        d.by_input[record["input"].json()] = record["seconds"].as_double();
    }
    if (d.by_input.empty())
        refuse(path,
               "no record says how long it took ('seconds'); a run writes them with "
               "output.provenance: true (the command job's default)");
    return d;
}

}  // namespace

Durations read_durations(const std::string& path) {
    const std::string text = read_file(path);
    if (text.rfind("Seq\t", 0) == 0) return from_joblog(path, text);
    if (text.find_first_not_of(" \t\r\n") != std::string::npos &&
        text[text.find_first_not_of(" \t\r\n")] == '{') {
        // A summary is one JSON object over many lines; a results file, one per line.
        try {
            const Value whole = parse_json(text);
            if (whole.is_map() && whole["slowest"].is_list()) return from_summary(path, whole);
        } catch (const std::invalid_argument&) {
        }
    }
    return from_results(path, text);
}

std::vector<std::uint64_t> longest_first(const InputSpec& spec, std::uint64_t first,
                                         std::uint64_t end, const Durations& durations,
                                         const std::function<bool(std::uint64_t)>& done) {
    std::vector<std::pair<std::uint64_t, std::optional<double>>> inputs;
    InputStream stream(spec);
    stream.limit(first, end);
    double known_sum = 0;
    std::uint64_t known = 0;
    for (std::uint64_t i = first; i < end; ++i) {
        const std::optional<Value> input = stream.next();
        if (!input) break;
        if (done && done(i)) continue;
        std::optional<double> seconds;
        if (const auto at = durations.by_index.find(i); at != durations.by_index.end())
            seconds = at->second;
        else if (!durations.by_input.empty())
            if (const auto it = durations.by_input.find(input->json());
                it != durations.by_input.end())
                seconds = it->second;
        if (seconds) {
            known_sum += *seconds;
            ++known;
        }
        inputs.emplace_back(i, seconds);
    }
    const double unknown =
        durations.rest.value_or(known > 0 ? known_sum / static_cast<double>(known) : 0);
    // At equal seconds a known input goes first: a summary's unlisted inputs took at most
    // its shortest listed one, so they follow it.
    std::stable_sort(inputs.begin(), inputs.end(), [&](const auto& a, const auto& b) {
        const double sa = a.second.value_or(unknown), sb = b.second.value_or(unknown);
        return sa > sb || (sa == sb && a.second && !b.second);
    });
    std::vector<std::uint64_t> order;
    order.reserve(inputs.size());
    for (const auto& [index, seconds] : inputs) order.push_back(index);
    return order;
}

void apply_order(const Config& cfg, ItemRange& items,
                 const std::function<bool(std::uint64_t)>& done) {
    if (cfg.order != Order::longest_first) return;
    items.reorder(longest_first(cfg.input, items.first(), items.first() + items.total(),
                                read_durations(cfg.durations), done));
}

}  // namespace mproc::runner
