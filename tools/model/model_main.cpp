// mproc-model: the scale simulator (simulator.hpp) from the command line.
//
//     mproc-model --costs BENCH.jsonl --ranks N --task-ms T [--group-size G] [--node-ranks R]
//                 [--chunksize C] [--tasks N] [--spread S]
//     mproc-model --costs BENCH.jsonl --doc      the check against the bench run's scale rows
//                                                and the projections, as Markdown
//
// BENCH.jsonl is `tools/mproc bench`'s raw output; the costs the simulator takes from it are
// the medians of its `cost:` rows. The last line of a single run is
//     N ranks, T ms tasks, groups of G: P% of the ideal rate, rank 0 C us of CPU per task

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "simulator.hpp"

namespace {

using mproc::model::Costs;
using mproc::model::Outcome;
using mproc::model::Setup;

// The bench's rows: (impl, workers, figure) -> every value it printed for them.
class Bench {
  public:
    explicit Bench(const std::string& path) {
        std::ifstream in(path);
        if (!in) throw std::invalid_argument("cannot read the bench run " + path);
        std::string line;
        for (int number = 1; std::getline(in, line); ++number) {
            if (line.empty()) continue;
            const auto impl = text(line, "impl"), figure = text(line, "figure");
            const auto workers = number_of(line, "workers"), value = number_of(line, "value");
            if (!impl || !figure || !workers || !value)
                throw std::invalid_argument(path + ":" + std::to_string(number) +
                                            ": not a bench row (impl, workers, figure, value)");
            rows_[{*impl, static_cast<int>(*workers), *figure}].push_back(*value);
        }
    }
    std::optional<double> median(const std::string& impl, int workers, const std::string& figure) const {
        const auto it = rows_.find({impl, workers, figure});
        if (it == rows_.end()) return std::nullopt;
        std::vector<double> v = it->second;
        std::ranges::sort(v);
        return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    }
    double cost(const std::string& figure) const {
        const auto v = median("mproc", 1, figure);  // the cost rows measured with one worker
        if (!v) throw std::invalid_argument("the bench run has no '" + figure + "' row");
        return *v;
    }

  private:
    static std::optional<std::string> text(const std::string& line, const std::string& key) {
        const std::string k = "\"" + key + "\": \"";
        const auto at = line.find(k);
        if (at == std::string::npos) return std::nullopt;
        const auto end = line.find('"', at + k.size());
        return line.substr(at + k.size(), end - at - k.size());
    }
    static std::optional<double> number_of(const std::string& line, const std::string& key) {
        const std::string k = "\"" + key + "\": ";
        const auto at = line.find(k);
        if (at == std::string::npos) return std::nullopt;
        char* end = nullptr;
        const double v = std::strtod(line.c_str() + at + k.size(), &end);
        if (end == line.c_str() + at + k.size()) return std::nullopt;
        return v;
    }
    std::map<std::tuple<std::string, int, std::string>, std::vector<double>> rows_;
};

// The simulator's costs, from the bench run:
// - a wake-up and a ring record, as measured;
// - MPI's CPU per message: rank 0's CPU per chunk there (1 worker, an empty task at chunksize
//   1) less what the Dispatcher's own calls take in that run simulated here (the least of three
//   runs: interference only adds), over rank 0's messages per chunk;
// - a loop's turn: rank 0's CPU per 2 ms task with 1 worker, less what the simulator charges
//   that run without it, over its turns per task.
struct Derived {
    double per_chunk = 0, dispatcher_per_chunk = 0, messages_per_chunk = 0;
    double per_2ms = 0, turns_per_2ms = 0;
};

Costs costs_from(const Bench& bench, Derived& d) {
    Costs c;
    c.wake = bench.cost("cost: timed wake-up");
    c.ring = bench.cost("cost: ring record");
    d.per_chunk = bench.cost("cost: rank 0 CPU per chunk");
    const auto per_2ms = bench.median("mproc", 0, "cost: rank 0 CPU per 2 ms task");
    if (!per_2ms) throw std::invalid_argument("the bench run has no 'cost: rank 0 CPU per 2 ms task' row");
    d.per_2ms = *per_2ms;
    d.dispatcher_per_chunk = 1e300;
    for (int i = 0; i < 3; ++i) {
        const Outcome tiny = mproc::model::simulate(
            {.ranks = 2, .task_ms = 0.0005, .group_size = 0, .node_ranks = 0, .tasks = 200'000}, c);
        d.dispatcher_per_chunk = std::min(d.dispatcher_per_chunk, tiny.dispatcher_us_per_task);
        d.messages_per_chunk = tiny.messages_per_task;
    }
    c.message = std::max(0.0, (d.per_chunk - d.dispatcher_per_chunk) / std::max(d.messages_per_chunk, 1e-9));
    const Outcome slow = mproc::model::simulate(
        {.ranks = 2, .task_ms = 2, .group_size = 0, .node_ranks = 0, .tasks = 2'000}, c);
    c.turn = std::max(0.0, (*per_2ms - slow.rank0_us_per_task) / std::max(slow.turns_per_task, 1e-9));
    d.turns_per_2ms = slow.turns_per_task;
    return c;
}

std::string layout_name(int group_size) {
    return group_size > 0 ? "groups of " + std::to_string(group_size) : "flat";
}

std::string fixed(double v, int digits) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", digits, v);
    return b;
}

// What limits a projected row, for a person.
std::string limit_of(const Outcome& o) {
    if (o.efficiency >= 0.95) return "nothing much: the workers are busy";
    if (o.rank0_busy >= 0.9) return "rank 0's CPU (busy " + fixed(100 * o.rank0_busy, 0) + "% of the time)";
    return "the round trip: workers run dry between refills";
}

int doc(const Bench& bench, const std::string& source) {
    Derived d;
    const Costs c = costs_from(bench, d);
    std::cout << "Made by `tools/mproc model --doc` from the bench run `"
              << std::filesystem::path(source).filename().string() << "`.\n\n"
              << "| cost | µs | from |\n|---|---|---|\n"
              << "| a timed wake-up | " << fixed(c.wake, 2) << " | the bench's `cost: timed wake-up` |\n"
              << "| a ring record | " << fixed(c.ring, 3) << " | the bench's `cost: ring record` |\n"
              << "| MPI's CPU per message | " << fixed(c.message, 2)
              << " | the bench's `cost: rank 0 CPU per chunk` (" << fixed(d.per_chunk, 3)
              << ") less the Dispatcher's calls timed here (" << fixed(d.dispatcher_per_chunk, 3)
              << ", the least of three runs), over rank 0's messages per chunk (" << fixed(d.messages_per_chunk, 2)
              << ") |\n"
              << "| a turn of rank 0's or a leader's loop, beyond its wake-up and messages | " << fixed(c.turn, 2)
              << " | the bench's `cost: rank 0 CPU per 2 ms task` with 1 worker (" << fixed(d.per_2ms, 1)
              << ") less what the simulator charges that run without it, over its turns per task ("
              << fixed(d.turns_per_2ms, 2) << ") |\n"
              << "| a message's flight within a node | " << fixed(c.latency_node, 2) << " | assumed (shared memory) |\n"
              << "| a message's flight between nodes | " << fixed(c.latency_net, 2) << " + bytes / "
              << fixed(c.bandwidth / 1000, 0) << " GB/s | assumed (InfiniBand) |\n\n";

    std::cout << "This machine's scale rows (every rank on its 2 cores) beside the simulator on one node with "
                 "the measured task length (a core per rank, which this host does not have):\n\n"
              << "| ranks | layout | task took | rank 0 CPU per task, measured | simulated | sim / measured "
                 "| rank 0 wake-ups per task, measured | simulated | efficiency, measured | the host's floor "
                 "| simulated |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
    int outside = 0;
    for (int ranks : {9, 33, 129}) {
        for (int g : {0, 16}) {
            const std::string impl = g == 0 ? "mproc flat" : "mproc groups of 16";
            // The bench names a row by its workers: all but rank 0 flat, less the leaders in groups.
            const int workers = g == 0 ? ranks - 1 : ranks - 1 - (ranks - 1 + 15) / 16;
            const auto cpu = bench.median(impl, workers, "rank 0 CPU per 2 ms task");
            const auto eff = bench.median(impl, workers, "2 ms tasks efficiency");
            const auto took = bench.median(impl, workers, "length of a 2 ms task");
            const auto wakes = bench.median(impl, workers, "rank 0 wake-ups per 2 ms task");
            const auto floor = bench.median("MPI ranks sleeping", ranks - 1, "2 ms tasks efficiency");
            if (!cpu || !eff || !took) continue;
            const Outcome o = mproc::model::simulate(
                {.ranks = ranks, .task_ms = *took / 1000, .group_size = g, .node_ranks = 0}, c);
            const double ratio = o.rank0_us_per_task / *cpu;
            if (ratio < 0.75 || ratio > 1.25) ++outside;
            std::cout << "| " << ranks << " | " << layout_name(g) << " | " << fixed(*took, 0) << " µs | "
                      << fixed(*cpu, 2) << " µs | " << fixed(o.rank0_us_per_task, 2) << " µs | "
                      << fixed(ratio, 2) << " | " << (wakes ? fixed(*wakes, 3) : "–") << " | "
                      << fixed(o.wakes_per_task, 3) << " | " << fixed(*eff, 1) << "% | "
                      << (floor ? fixed(*floor, 1) + "%" : "–") << " | " << fixed(100 * o.efficiency, 1) << "% |\n";
        }
    }
    std::cout << "\nProjected: nodes of 16 ranks, a core per rank, chunksize 1, tasks of T ± 5%:\n\n"
              << "| ranks | task | layout | efficiency | rank 0 CPU per task | of it in the Dispatcher "
                 "| rank 0 busy | what limits it |\n|---|---|---|---|---|---|---|---|\n";
    for (int ranks : {1'000, 10'000, 100'000}) {
        for (double ms : {1.0, 10.0, 100.0}) {
            for (int g : {0, 16}) {
                const Outcome o = mproc::model::simulate({.ranks = ranks, .task_ms = ms, .group_size = g}, c);
                std::cout << "| " << ranks << " | " << fixed(ms, 0) << " ms | " << layout_name(g) << " | "
                          << fixed(100 * o.efficiency, 1) << "% | " << fixed(o.rank0_us_per_task, 2) << " µs | "
                          << fixed(o.dispatcher_us_per_task, 2) << " µs | " << fixed(100 * o.rank0_busy, 0)
                          << "% | " << limit_of(o) << " |\n";
            }
        }
    }
    if (outside > 0)
        std::cout << "\n" << outside << " of the 2 ms rows' rank 0 CPU is more than 25% from the measured.\n";
    return 0;
}

[[noreturn]] void usage(const std::string& why) {
    std::cerr << "mproc model: " << why
              << "\nusage: mproc model --ranks N --task-ms T [--group-size G] [--node-ranks R] "
                 "[--chunksize C] [--tasks N] [--spread S] [--costs BENCH.jsonl]\n"
                 "       mproc model --doc [--costs BENCH.jsonl]\n";
    std::exit(2);
}

double number(const std::string& option, const char* text, double low, double high) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= low && v <= high))
        usage(option + " takes a number from " + fixed(low, 0) + " to " + fixed(high, 0) + ", not '" + text + "'");
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    Setup setup;
    setup.ranks = 0;
    setup.task_ms = 0;
    std::string costs_path;
    bool as_doc = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--doc") {
            as_doc = true;
            continue;
        }
        if (a == "--help" || a == "-h") usage("simulates pool.map at scale with rank 0's real Dispatcher");
        if (i + 1 >= argc) usage(a + " needs a value");
        const char* v = argv[++i];
        if (a == "--ranks") setup.ranks = static_cast<int>(number(a, v, 2, 1e6));
        else if (a == "--task-ms") setup.task_ms = number(a, v, 0.0001, 1e6);
        else if (a == "--group-size") setup.group_size = static_cast<int>(number(a, v, 0, 1e6));
        else if (a == "--node-ranks") setup.node_ranks = static_cast<int>(number(a, v, 0, 1e6));
        else if (a == "--chunksize") setup.chunksize = static_cast<std::uint32_t>(number(a, v, 1, 1e6));
        else if (a == "--tasks") setup.tasks = static_cast<std::uint64_t>(number(a, v, 1000, 1e9));
        else if (a == "--spread") setup.spread = number(a, v, 0, 1);
        else if (a == "--costs") costs_path = v;
        else usage("unknown option '" + a + "'");
    }
    if (setup.group_size == 1) usage("--group-size is 0 (flat) or 2 or more");
    if (costs_path.empty()) usage("--costs BENCH.jsonl names the bench run whose costs it takes");
    try {
        const Bench bench(costs_path);
        if (as_doc) return doc(bench, costs_path);
        if (setup.ranks == 0 || setup.task_ms == 0) usage("--ranks and --task-ms are needed");
        Derived d;
        const Costs c = costs_from(bench, d);
        const Outcome o = mproc::model::simulate(setup, c);
        std::cout << "workers " << o.workers << ", tasks " << o.tasks << ", simulated "
                  << fixed(o.simulated_seconds, 3) << " s; rank 0 busy " << fixed(100 * o.rank0_busy, 1)
                  << "% (the Dispatcher " << fixed(o.dispatcher_us_per_task, 2) << " us per task, "
                  << fixed(o.messages_per_task, 2) << " messages and " << fixed(o.wakes_per_task, 4)
                  << " wake-ups per task; costs: wake-up " << fixed(c.wake, 2) << " us, message "
                  << fixed(c.message, 2) << " us)\n";
        std::cout << setup.ranks << " ranks, " << fixed(setup.task_ms, setup.task_ms < 1 ? 2 : 0)
                  << " ms tasks, " << layout_name(setup.group_size) << ": " << fixed(100 * o.efficiency, 1)
                  << "% of the ideal rate, rank 0 " << fixed(o.rank0_us_per_task, 2) << " us of CPU per task\n";
    } catch (const std::exception& e) {
        std::cerr << "mproc model: " << e.what() << "\n";
        return 2;
    }
    return 0;
}
