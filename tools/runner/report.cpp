// `mproc report`: one self-contained HTML file (inline SVG and a few lines of script, nothing
// fetched) from a run's trace (OUTPUT.trace, written by rank 0, see framework/src/trace.hpp)
// and, for a batch run, its summary (OUTPUT.summary.json): the run's figures, a timeline per
// rank with failures and retries marked, tasks/s and workers busy over time, task times, the
// slowest inputs, each rank's busy and idle time, and rank 0's load.

#include "report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "config.hpp"
#include "output.hpp"
#include "value.hpp"

namespace mproc::runner {
namespace {

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return {};
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::string html(const std::string& s) {
    std::string out;
    for (const char c : s) {
        switch (c) {
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '&':
                out += "&amp;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string num(double v, int digits = 3) {
    std::ostringstream o;
    o << std::setprecision(digits) << v;
    return o.str();
}

std::string fixed(double v, int decimals) {
    std::ostringstream o;
    o << std::fixed << std::setprecision(decimals) << v;
    return o.str();
}

double d(const Value& v) {
    return v.is_number() ? v.as_double() : 0;
}

// One chunk of the trace: [rank, start, seconds, items, ok, task].
struct Chunk {
    int rank;
    double start, seconds;
    double items;
    bool ok;
    std::size_t task;  // into the trace's "tasks"
    double first;      // the input index of its first task, in its job
};
Chunk chunk_of(const Value& v) {
    const auto& l = v.as_list();
    return {static_cast<int>(d(l.at(0))),
            d(l.at(1)),
            d(l.at(2)),
            d(l.at(3)),
            d(l.at(4)) != 0,
            static_cast<std::size_t>(d(l.at(5))),
            l.size() > 6 ? d(l.at(6)) : 0};
}

const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1300px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
.bar { fill: #4a7bd0; } .bar.failed { fill: #d04a4a; } .fail { stroke: #d00; stroke-width: 2; }
.retry { stroke: #e08a00; stroke-width: 2; } .grid { stroke: #ddd; } .line { fill: none; stroke: #4a7bd0; stroke-width: 1.5; }
.line2 { fill: none; stroke: #3a9a5a; stroke-width: 1.5; } .hist { fill: #7a9ad8; }
.busy { fill: #4a7bd0; } .idle { fill: #e4e8f0; } .note { color: #666; }
)";

// A line chart of (x, y) points over [0, x_max] × [0, y_max], with a label and axis ticks.
void line_chart(std::ostream& o, const std::vector<std::pair<double, double>>& pts, double x_max,
                double y_max, const std::string& y_label, const char* cls, int w = 1100,
                int h = 160) {
    const int left = 60, top = 10, plot_w = w - left - 20, plot_h = h - 40;
    o << "<svg width='" << w << "' height='" << h << "'>";
    for (int i = 0; i <= 4; ++i) {
        const double y = top + plot_h - plot_h * i / 4.0;
        o << "<line class='grid' x1='" << left << "' x2='" << left + plot_w << "' y1='" << y
          << "' y2='" << y << "'/><text x='4' y='" << y + 4 << "'>" << num(y_max * i / 4.0)
          << "</text>";
    }
    for (int i = 0; i <= 10; ++i) {
        const double x = left + plot_w * i / 10.0;
        o << "<text x='" << x - 10 << "' y='" << h - 12 << "'>" << num(x_max * i / 10.0, 2)
          << " s</text>";
    }
    o << "<path class='" << cls << "' d='";
    bool first = true;
    for (const auto& [x, y] : pts) {
        o << (first ? "M" : "L") << fixed(left + plot_w * x / std::max(x_max, 1e-9), 1) << ","
          << fixed(top + plot_h - plot_h * y / std::max(y_max, 1e-9), 1) << " ";
        first = false;
    }
    o << "'/><text x='" << left + 4 << "' y='" << top + 12 << "'>" << html(y_label)
      << "</text></svg>\n";
}

}  // namespace

int report(const Args& args) {
    // Where the trace and the summary are.
    std::string trace_path, summary_path_, base;
    const std::string head = read_file(args.config).substr(0, 64);
    if (head.find("\"mproc_trace\"") != std::string::npos || args.config.ends_with(".trace")) {
        trace_path = args.config;
        base = args.config.size() > 6 && args.config.ends_with(".trace")
                   ? args.config.substr(0, args.config.size() - 6)
                   : args.config;
    } else {
        const Config cfg = load_config(args.config, args.sets);
        if (cfg.output == "-")
            throw std::invalid_argument(args.config +
                                        ": output.path is '-': a run to stdout keeps no trace "
                                        "(set MPROC_TRACE=FILE and report that)");
        base = cfg.output;
        trace_path = base + ".trace";
    }
    summary_path_ = summary_path(base);
    const std::string trace_text = read_file(trace_path);
    if (trace_text.empty())
        throw std::invalid_argument("no trace at " + trace_path +
                                    ": every run writes one when it ends (a C++ program with "
                                    "MPROC_TRACE=FILE set); run the job first");
    const Value trace = parse_json(trace_text);
    const std::string summary_text = read_file(summary_path_);
    const Value summary = summary_text.empty() ? Value() : parse_json(summary_text);
    const bool batch = summary.is_map();
    const std::string out_path = args.report_out.empty() ? base + ".html" : args.report_out;

    const double span = std::max(d(trace["seconds"]), 1e-6);
    std::vector<std::string> hosts;
    for (const Value& r : trace["ranks"].as_list()) hosts.push_back(r["host"].as_string());
    const int nranks = static_cast<int>(hosts.size());
    std::vector<Chunk> chunks;
    for (const Value& c : trace["chunks"].as_list()) chunks.push_back(chunk_of(c));
    const double bucket_s = d(trace["bucket_seconds"]);

    std::ostringstream o;
    o << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>mproc report: "
      << html(batch ? summary["config"].text() : trace_path) << "</title><style>" << kStyle
      << "</style></head><body>\n";
    o << "<h1>mproc report: " << html(batch ? summary["config"].text() : trace_path) << "</h1>\n";

    // ---- The run's figures ----
    o << "<h2>Summary</h2><table id='summary'>";
    const auto row = [&](const std::string& k, const std::string& v) {
        o << "<tr><th>" << html(k) << "</th><td>" << html(v) << "</td></tr>";
    };
    if (batch) {
        row("job", summary["job"].text());
        row("results", summary["results"].text());
        row("outcome", summary["outcome"].text() + " (exit " + summary["exit_code"].text() + ")");
        row("started", summary["started"].text());
        row("wall time", summary["wall_seconds"].text() + " s");
        row("inputs", summary["inputs"].text() + " (" + summary["done_earlier"].text() +
                          " done by an earlier run, " + summary["ran"].text() + " ran, " +
                          summary["failed"].text() + " failed)");
        row("restarts after a lost rank", summary["restarts"].text());
    }
    double items_total = 0, busy_total = 0;
    for (const Value& r : trace["per_rank"].as_list()) {
        items_total += d(r.as_list().at(2));
        busy_total += d(r.as_list().at(3));
    }
    row("ranks", std::to_string(nranks) + " (rank 0 the master)");
    row("traced", fixed(span, 2) + " s, " + num(items_total, 10) + " tasks, " +
                      (chunks.empty() ? std::string("kept as aggregates")
                                      : std::to_string(chunks.size()) + " chunks") +
                      ", " + fixed(busy_total, 1) + " s busy in all");
    o << "</table>\n";

    // ---- The timeline: a row per rank ----
    const int w = 1100, left = 150, row_h = 18, plot_w = w - left - 20;
    const int h = 30 + row_h * nranks + 20;
    o << "<h2>Timeline</h2><p class='note'>One row per rank; each bar is a chunk of tasks "
         "(hover for what it was). Red: a failed chunk or task; orange ticks: retried inputs."
      << (chunks.empty() ? " Too many chunks to draw one by one: the shade is how busy the rank "
                           "was in each tenth of a second."
                         : "")
      << "</p>\n<svg id='timeline' width='" << w << "' height='" << h << "'>";
    const auto x_of = [&](double t) { return left + plot_w * std::clamp(t / span, 0.0, 1.0); };
    for (int r = 0; r < nranks; ++r) {
        const int y = 20 + r * row_h;
        o << "<g class='rank' data-rank='" << r << "'><text x='4' y='" << y + 13 << "'>rank " << r
          << " (" << html(hosts[static_cast<std::size_t>(r)]) << ")</text><line class='grid' x1='"
          << left << "' x2='" << left + plot_w << "' y1='" << y + row_h - 1 << "' y2='"
          << y + row_h - 1 << "'/></g>";
    }
    for (int i = 0; i <= 10; ++i)
        o << "<text x='" << x_of(span * i / 10) - 10 << "' y='" << h - 4 << "'>"
          << num(span * i / 10, 2) << " s</text>";
    if (!chunks.empty()) {
        // Chunks closer than a pixel on one rank are drawn as one bar (their sum in the title).
        std::map<int, std::vector<const Chunk*>> by_rank;
        for (const Chunk& c : chunks) by_rank[c.rank].push_back(&c);
        for (auto& [rank, list] : by_rank) {
            std::sort(list.begin(), list.end(),
                      [](const Chunk* a, const Chunk* b) { return a->start < b->start; });
            const int y = 20 + rank * row_h + 2;
            for (std::size_t i = 0; i < list.size();) {
                double x0 = x_of(list[i]->start), x1 = x_of(list[i]->start + list[i]->seconds);
                double items = 0, secs = 0;
                bool ok = true;
                std::size_t j = i;
                for (; j < list.size() && x_of(list[j]->start) < x0 + 1.0; ++j) {
                    x1 = std::max(x1, x_of(list[j]->start + list[j]->seconds));
                    items += list[j]->items;
                    secs += list[j]->seconds;
                    ok = ok && list[j]->ok;
                }
                o << "<rect class='bar" << (ok ? "" : " failed") << "' x='" << fixed(x0, 1)
                  << "' y='" << y << "' width='" << fixed(std::max(x1 - x0, 0.8), 1) << "' height='"
                  << row_h - 5 << "'><title>rank " << rank << ": " << num(items, 10)
                  << " task(s) from input " << num(list[i]->first, 15) << ", in " << j - i
                  << " chunk(s), from " << fixed(list[i]->start, 3) << " s, " << num(secs)
                  << " s busy" << (ok ? "" : ", failed") << "</title></rect>";
                i = j;
            }
        }
    } else {
        for (const Value& b : trace["buckets"].as_list()) {
            const auto& l = b.as_list();
            const int rank = static_cast<int>(d(l.at(0)));
            const double t = d(l.at(1)) * bucket_s, busy = std::min(1.0, d(l.at(2)) / bucket_s);
            o << "<rect class='bar' fill-opacity='" << fixed(busy, 2) << "' x='"
              << fixed(x_of(t), 1) << "' y='" << 22 + rank * row_h << "' width='"
              << fixed(std::max(x_of(t + bucket_s) - x_of(t), 0.8), 1) << "' height='" << row_h - 5
              << "'><title>rank " << rank << " at " << fixed(t, 1) << " s: " << fixed(100 * busy, 0)
              << "% busy, " << num(d(l.at(3)), 10) << " tasks</title></rect>";
        }
    }
    const auto mark = [&](const Value& m, const char* cls, const std::string& what) {
        const int rank = static_cast<int>(d(m["rank"]));
        const double x = x_of(d(m["at"]));
        const int y = 20 + rank * row_h;
        o << "<line class='" << cls << "' x1='" << fixed(x, 1) << "' x2='" << fixed(x, 1)
          << "' y1='" << y << "' y2='" << y + row_h - 3 << "'><title>" << html(what)
          << "</title></line>";
    };
    if (batch) {
        for (const Value& f : summary["failures"].as_list())
            mark(f, "fail",
                 "input " + f["index"].text() + " failed on rank " + f["rank"].text() + ": " +
                     f["error"].text());
        for (const Value& r : summary["retried"].as_list())
            mark(r, "retry",
                 "input " + r["index"].text() + " took " + r["attempts"].text() + " attempts");
    }
    o << "</svg>\n";

    // ---- Rates over time ----
    // About two chunks per step where there are few, at most 200 steps.
    const int steps =
        chunks.empty() ? 200 : std::clamp(static_cast<int>(chunks.size() / 2), 20, 200);
    const double step = span / steps;
    std::vector<double> done(steps + 1, 0), busy(steps + 1, 0);
    const auto step_of = [&](double t) {
        return static_cast<std::size_t>(std::clamp(std::floor(t / step), 0.0, double(steps)));
    };
    const auto spread = [&](double start, double secs, double items) {
        // Busy time into the steps it overlaps; its tasks counted where it ends.
        const double end = start + secs;
        for (std::size_t s = step_of(start), last = step_of(end); s <= last; ++s) {
            const double lo = std::max(start, static_cast<double>(s) * step);
            const double hi = std::min(end, static_cast<double>(s + 1) * step);
            if (hi > lo) busy[s] += hi - lo;
        }
        done[step_of(end)] += items;
    };
    if (!chunks.empty()) {
        for (const Chunk& c : chunks) spread(c.start, c.seconds, c.items);
    } else {
        for (const Value& b : trace["buckets"].as_list()) {
            const auto& l = b.as_list();
            spread(d(l.at(1)) * bucket_s, d(l.at(2)), d(l.at(3)));
        }
    }
    std::vector<std::pair<double, double>> rate, workers;
    double rate_max = 0, workers_max = 0;
    for (int s = 0; s <= steps; ++s) {
        const double t = s * step;
        rate.emplace_back(t, done[static_cast<std::size_t>(s)] / step);
        workers.emplace_back(t, busy[static_cast<std::size_t>(s)] / step);
        rate_max = std::max(rate_max, rate.back().second);
        workers_max = std::max(workers_max, workers.back().second);
    }
    o << "<h2>Tasks per second</h2>\n";
    line_chart(o, rate, span, rate_max * 1.05, "tasks/s", "line");
    o << "<h2>Workers busy</h2>\n";
    line_chart(o, workers, span, std::max(1.0, workers_max * 1.05), "workers busy", "line2");

    // ---- Task times ----
    const Value& hist = batch && !summary["task_seconds_log2_us"].as_list().empty()
                            ? summary["task_seconds_log2_us"]
                            : trace["histogram_log2_us"];
    o << "<h2>Task times</h2><p class='note'>How many tasks took how long"
      << (batch ? "" : " (per task, from each chunk's time over its tasks)") << ".</p>";
    const auto& bins = hist.as_list();
    double hist_max = 1;
    for (const Value& b : bins) hist_max = std::max(hist_max, d(b));
    o << "<svg id='histogram' width='1100' height='180'>";
    const double bw = bins.empty() ? 0 : 1040.0 / static_cast<double>(bins.size());
    for (std::size_t i = 0; i < bins.size(); ++i) {
        const double n = d(bins[i]);
        const double bh = 140 * n / hist_max;
        const double lo_us = i == 0 ? 0 : std::pow(2.0, static_cast<double>(i) - 1);
        const auto label = [](double us) {
            return us < 1e3   ? num(us) + " µs"
                   : us < 1e6 ? num(us / 1e3) + " ms"
                              : num(us / 1e6) + " s";
        };
        o << "<rect class='hist' x='" << fixed(50 + i * bw, 1) << "' y='" << fixed(150 - bh, 1)
          << "' width='" << fixed(std::max(bw - 2, 1.0), 1) << "' height='" << fixed(bh, 1)
          << "'><title>" << num(n, 10) << " tasks of " << label(lo_us) << " to "
          << label(std::pow(2.0, static_cast<double>(i))) << "</title></rect>";
        if (i % 3 == 0)
            o << "<text x='" << fixed(50 + i * bw, 1) << "' y='168'>" << label(lo_us) << "</text>";
    }
    o << "</svg>\n";

    // ---- The slowest ----
    o << "<h2>The 20 slowest " << (batch ? "inputs" : "chunks") << "</h2><table id='slowest'>";
    if (batch) {
        o << "<tr><th>index</th><th>seconds</th><th>rank</th><th>record</th></tr>";
        for (const Value& s : summary["slowest"].as_list())
            o << "<tr><td class='n'>" << s["index"].text() << "</td><td class='n'>"
              << s["seconds"].text() << "</td><td class='n'>" << s["rank"].text() << "</td><td>"
              << html(s["record"].as_string()) << "</td></tr>";
    } else {
        o << "<tr><th>first input</th><th>rank</th><th>start (s)</th><th>seconds</th>"
             "<th>tasks</th></tr>";
        for (const Value& v : trace["slowest"].as_list()) {
            const Chunk c = chunk_of(v);
            o << "<tr><td class='n'>" << num(c.first, 15) << "</td><td class='n'>" << c.rank
              << "</td><td class='n'>" << fixed(c.start, 3) << "</td><td class='n'>"
              << num(c.seconds) << "</td><td class='n'>" << num(c.items, 10) << "</td></tr>";
        }
    }
    o << "</table>\n";

    // ---- Each rank's busy and idle time ----
    o << "<h2>Busy and idle, per rank</h2><table id='ranks'><tr><th>rank</th><th>host</th>"
         "<th>tasks</th><th>busy (s)</th><th>busy</th><th></th></tr>";
    for (const Value& r : trace["per_rank"].as_list()) {
        const auto& l = r.as_list();
        const int rank = static_cast<int>(d(l.at(0)));
        const double b = d(l.at(3)), frac = std::min(1.0, b / span);
        o << "<tr><td class='n'>" << rank << "</td><td>"
          << html(rank < nranks ? hosts[static_cast<std::size_t>(rank)] : "?")
          << "</td><td class='n'>" << num(d(l.at(2)), 10) << "</td><td class='n'>" << fixed(b, 2)
          << "</td><td class='n'>" << fixed(100 * frac, 0)
          << "%</td><td><svg width='200' height='12'><rect class='idle' width='200' "
             "height='12'/><rect class='busy' width='"
          << fixed(200 * frac, 1) << "' height='12'/></svg></td></tr>";
    }
    o << "</table>\n";

    // ---- Rank 0 ----
    std::vector<std::pair<double, double>> load;
    const auto& samples = trace["rank0_cpu"].as_list();
    double load_max = 1;
    for (std::size_t i = 1; i < samples.size(); ++i) {
        const double t0 = d(samples[i - 1].as_list().at(0)), t1 = d(samples[i].as_list().at(0));
        const double c0 = d(samples[i - 1].as_list().at(1)), c1 = d(samples[i].as_list().at(1));
        if (t1 <= t0) continue;
        load.emplace_back(t1, (c1 - c0) / (t1 - t0));
        load_max = std::max(load_max, load.back().second);
    }
    o << "<h2>Rank 0's load</h2><p class='note'>CPU seconds per second of rank 0's process (all "
         "its threads): near 1 or more, rank 0 was keeping the workers waiting.</p>\n";
    line_chart(o, load, span, load_max * 1.05, "rank 0 CPU (cores)", "line");

    // A little script: the page says it was drawn (and a test can see that it ran).
    o << "<script>document.body.dataset.ranks = document.querySelectorAll('#timeline "
         "g.rank').length; document.body.dataset.ready = '1';</script>\n</body></html>\n";
    replace_file(out_path, o.str(), false);
    std::cerr << "report: " << out_path << " (" << o.str().size() / 1024 << " KiB)\n";

    if (!args.chrome_trace.empty()) {
        // Chrome's trace event format: one complete event per chunk, one thread per rank.
        std::ostringstream c;
        c << std::setprecision(15) << "{\"traceEvents\": [";
        bool first = true;
        const auto& tasks = trace["tasks"].as_list();
        const auto task_of = [&](const Chunk& k) {
            return k.task < tasks.size() ? tasks[k.task].as_string() : std::string("chunk");
        };
        for (int r = 0; r < nranks; ++r) {
            c << (first ? "" : ",") << "\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, "
              << "\"tid\": " << r << ", \"args\": {\"name\": \"rank " << r << " ("
              << hosts[static_cast<std::size_t>(r)] << ")\"}}";
            first = false;
        }
        for (const Chunk& k : chunks)
            c << ",\n{\"name\": \"" << task_of(k) << (k.ok ? "" : " (failed)")
              << "\", \"cat\": \"chunk\", \"ph\": \"X\", \"pid\": 1, \"tid\": " << k.rank
              << ", \"ts\": " << k.start * 1e6 << ", \"dur\": " << k.seconds * 1e6
              << ", \"args\": {\"tasks\": " << k.items << ", \"first input\": " << k.first << "}}";
        c << "\n]}\n";
        replace_file(args.chrome_trace, c.str(), false);
        std::cerr << "chrome trace: " << args.chrome_trace
                  << (chunks.empty() ? " (the trace kept aggregates only: no events)" : "") << "\n";
    }
    return 0;
}

}  // namespace mproc::runner
