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
#include "files.hpp"
#include "results_writer.hpp"
#include "value.hpp"

namespace mproc::runner {
namespace {


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
svg text.axis { fill: #555; font-style: italic; } .failmark { fill: #d04a4a; }
)";

// Axis ticks a person reads at a glance: a step of 1, 2 or 5 × 10^k giving about `want`
// intervals over [0, top]; the axis then ends at the first tick at or past top.
struct Ticks {
    double step = 1;
    int count = 1;  // intervals: ticks at 0, step, ..., count × step
    double end() const { return step * count; }
};
Ticks nice_ticks(double top, int want) {
    if (!(top > 0)) return {};
    const double raw = top / want;
    const double power = std::pow(10.0, std::floor(std::log10(raw)));
    double step = 10 * power;
    for (const double m : {1.0, 2.0, 5.0})
        if (m * power >= raw) {
            step = m * power;
            break;
        }
    return {step, static_cast<int>(std::ceil(top / step - 1e-9))};
}

// A number as a label: 2.2k, 1.6M, 0.25, 40 (at most three significant digits, no exponent).
std::string short_num(double v) {
    const double a = std::fabs(v);
    const auto trim = [](double x) {
        std::string s = fixed(x, x >= 100 ? 0 : x >= 10 ? 1 : 2);
        if (s.find('.') != std::string::npos) {
            while (s.back() == '0') s.pop_back();
            if (s.back() == '.') s.pop_back();
        }
        return s;
    };
    if (a >= 1e9) return trim(v / 1e9) + "G";
    if (a >= 1e6) return trim(v / 1e6) + "M";
    if (a >= 1e3) return trim(v / 1e3) + "k";
    if (a == 0) return "0";
    if (a < 0.01) return trim(v * 1e3) + "m";
    return trim(v);
}

// A time as a label: 63 µs, 250 ms, 1.6 s, 4 min, 2 h.
std::string short_time(double seconds) {
    if (seconds == 0) return "0";
    if (seconds < 1e-3) return short_num(seconds * 1e6) + " µs";
    if (seconds < 1) return short_num(seconds * 1e3) + " ms";
    if (seconds < 120) return short_num(seconds) + " s";
    if (seconds < 7200) return short_num(seconds / 60) + " min";
    return short_num(seconds / 3600) + " h";
}

// Ticks along a time axis of `span` seconds: steps a clock has (1, 2, 5 × 10^k below a minute,
// then 1, 2, 5, 10, 15, 30 minutes, 1, 2, 3, 6, 12 hours, days), at most about ten, each
// labelled in the unit of the step; at x = x_of(t), the labels at `y`.
template <class XOf>
void time_ticks(std::ostream& o, double span, int y, XOf x_of) {
    static constexpr double kClock[] = {60,    120,   300,   600,   900,   1800,  3600,
                                        7200,  10800, 21600, 43200, 86400, 172800};
    double step = nice_ticks(span, 10).step;
    if (step > 30)
        for (const double c : kClock)
            if (step <= c || c == kClock[std::size(kClock) - 1]) {
                step = c;
                break;
            }
    const auto label = [step](double t) {
        if (t == 0) return std::string("0");
        if (step < 1) return short_num(t * 1e3) + " ms";
        if (step < 60) return short_num(t) + " s";
        if (step < 3600) return short_num(t / 60) + " min";
        if (step < 86400) return short_num(t / 3600) + " h";
        return short_num(t / 86400) + " d";
    };
    for (double at = 0; at <= span * 1.0001; at += step)
        o << "<text class='tick' text-anchor='middle' x='" << fixed(x_of(at), 1) << "' y='" << y
          << "'>" << label(at) << "</text>";
}

// A line chart of (x, y) points over [0, x_max] seconds and [0, y_max] of `y_unit`, its axes
// ticked at round steps.
void line_chart(std::ostream& o, const std::vector<std::pair<double, double>>& pts, double x_max,
                double y_max, const std::string& y_unit, const char* cls, int w = 1100,
                int h = 170) {
    const int left = 60, top = 18, plot_w = w - left - 20, plot_h = h - 52;
    const Ticks yt = nice_ticks(y_max > 0 ? y_max : 1, 4);
    const double y_top = yt.end();
    const auto x_of = [&](double x) { return left + plot_w * x / std::max(x_max, 1e-9); };
    const auto y_of = [&](double y) { return top + plot_h - plot_h * y / y_top; };
    o << "<svg width='" << w << "' height='" << h << "'>";
    for (int i = 0; i <= yt.count; ++i) {
        const double y = y_of(yt.step * i);
        o << "<line class='grid' x1='" << left << "' x2='" << left + plot_w << "' y1='"
          << fixed(y, 1) << "' y2='" << fixed(y, 1) << "'/><text class='tick' text-anchor='end' x='"
          << left - 6 << "' y='" << fixed(y + 4, 1) << "'>" << short_num(yt.step * i) << "</text>";
    }
    time_ticks(o, x_max, h - 20, x_of);
    o << "<text class='axis' x='" << left + plot_w << "' y='" << h - 4
      << "' text-anchor='end'>time since the run started</text>";
    o << "<path class='" << cls << "' d='";
    bool first = true;
    for (const auto& [x, y] : pts) {
        o << (first ? "M" : "L") << fixed(x_of(x), 1) << "," << fixed(y_of(y), 1) << " ";
        first = false;
    }
    o << "'/><text class='axis' x='" << left << "' y='" << top - 6 << "'>" << html(y_unit)
      << "</text></svg>\n";
}

}  // namespace

int report(const Args& args) {
    // Where the trace and the summary are.
    std::string trace_path, summary_path_, base;
    const std::string head = read_file_if_any(args.config).substr(0, 64);
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
    const std::string trace_text = read_file_if_any(trace_path);
    if (trace_text.empty())
        throw std::invalid_argument("no trace at " + trace_path +
                                    ": every run writes one when it ends (a C++ program with "
                                    "MPROC_TRACE=FILE set); run the job first");
    const Value trace = parse_json(trace_text);
    const std::string summary_text = read_file_if_any(summary_path_);
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
    row("traced", short_time(span) + ", " + num(items_total, 10) + " tasks, " +
                      (chunks.empty() ? std::string("kept as aggregates")
                                      : std::to_string(chunks.size()) + " chunks") +
                      ", " + short_time(busy_total) + " busy in all");
    o << "</table>\n";

    // ---- The timeline: a row per rank ----
    const int w = 1100, left = 150, row_h = 18, plot_w = w - left - 20;
    const int h = 30 + row_h * nranks + 36;  // and the time axis below
    o << "<h2>Timeline</h2><p class='note'>One row per rank; each bar is a chunk of tasks "
         "(hover for what it was). Red: a failed chunk or task, drawn at least 2 px wide; orange "
         "ticks: retried inputs."
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
    time_ticks(o, span, h - 20, x_of);
    o << "<text class='axis' x='" << left + plot_w << "' y='" << h - 4
      << "' text-anchor='end'>time since the run started</text>";
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
                  << " chunk(s), from " << short_time(list[i]->start) << ", "
                  << short_time(secs) << " busy" << (ok ? "" : ", failed") << "</title></rect>";
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
              << "'><title>rank " << rank << " at " << short_time(t) << ": " << fixed(100 * busy, 0)
              << "% busy, " << num(d(l.at(3)), 10) << " tasks</title></rect>";
        }
    }
    // Every failed chunk on top, at least 2 px wide, however many chunks share its pixel (or,
    // past the chunks kept one by one, the first failures the trace kept).
    for (const Value& v : (chunks.empty() ? trace["failures"] : trace["chunks"]).as_list()) {
        const Chunk c = chunk_of(v);
        if (c.ok) continue;
        const double x0 = x_of(c.start), x1 = x_of(c.start + c.seconds);
        o << "<rect class='failmark' x='" << fixed(std::min(x0, left + plot_w - 2.0), 1) << "' y='"
          << 20 + c.rank * row_h + 2 << "' width='" << fixed(std::max(x1 - x0, 2.0), 1)
          << "' height='" << row_h - 5 << "'><title>rank " << c.rank << ": a failed chunk of "
          << num(c.items, 10) << " task(s) from input " << num(c.first, 15) << ", at "
          << short_time(c.start) << "</title></rect>";
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
    line_chart(o, rate, span, rate_max, "tasks per second", "line");
    o << "<h2>Workers busy</h2>\n";
    line_chart(o, workers, span, std::max(1.0, workers_max), "workers busy (running a task)", "line2");

    // ---- Task times ----
    const Value& hist = batch && !summary["task_seconds_log2_us"].as_list().empty()
                            ? summary["task_seconds_log2_us"]
                            : trace["histogram_log2_us"];
    o << "<h2>Task times</h2><p class='note'>How many tasks took how long"
      << (batch ? "" : " (per task, from each chunk's time over its tasks)") << ".</p>";
    const auto& bins = hist.as_list();
    double hist_max = 1;
    for (const Value& b : bins) hist_max = std::max(hist_max, d(b));
    o << "<svg id='histogram' width='1100' height='196'>";
    const Ticks ht = nice_ticks(hist_max, 4);
    for (int i = 0; i <= ht.count; ++i) {
        const double y = 160 - 140 * ht.step * i / ht.end();
        o << "<line class='grid' x1='50' x2='1090' y1='" << fixed(y, 1) << "' y2='" << fixed(y, 1)
          << "'/><text class='tick' text-anchor='end' x='44' y='" << fixed(y + 4, 1) << "'>"
          << short_num(ht.step * i) << "</text>";
    }
    const double bw = bins.empty() ? 0 : 1040.0 / static_cast<double>(bins.size());
    const auto label = [](double us) {
        return us < 1e3 ? short_num(us) + " µs" : short_time(us / 1e6);
    };
    for (std::size_t i = 0; i < bins.size(); ++i) {
        const double n = d(bins[i]);
        const double bh = 140 * n / ht.end();
        const double lo_us = i == 0 ? 0 : std::pow(2.0, static_cast<double>(i) - 1);
        o << "<rect class='hist' x='" << fixed(50 + i * bw, 1) << "' y='" << fixed(160 - bh, 1)
          << "' width='" << fixed(std::max(bw - 2, 1.0), 1) << "' height='" << fixed(bh, 1)
          << "'><title>" << num(n, 10) << " tasks of " << label(lo_us) << " to "
          << label(std::pow(2.0, static_cast<double>(i))) << "</title></rect>";
        if (i % 3 == 0)
            o << "<text class='tick' x='" << fixed(50 + i * bw, 1) << "' y='176'>" << label(lo_us)
              << "</text>";
    }
    o << "<text class='axis' x='50' y='12'>tasks</text><text class='axis' x='1090' y='192' "
         "text-anchor='end'>time per task (each bar twice as long as the one before)</text>"
         "</svg>\n";

    // ---- The slowest ----
    o << "<h2>The 20 slowest " << (batch ? "inputs" : "chunks") << "</h2><table id='slowest'>";
    if (batch) {
        o << "<tr><th>index</th><th>seconds</th><th>rank</th><th>record</th></tr>";
        for (const Value& s : summary["slowest"].as_list())
            o << "<tr><td class='n'>" << s["index"].text() << "</td><td class='n'>"
              << s["seconds"].text() << "</td><td class='n'>" << s["rank"].text() << "</td><td>"
              << html(s["record"].as_string()) << "</td></tr>";
    } else {
        o << "<tr><th>first input</th><th>rank</th><th>started at</th><th>took</th>"
             "<th>tasks</th></tr>";
        for (const Value& v : trace["slowest"].as_list()) {
            const Chunk c = chunk_of(v);
            o << "<tr><td class='n'>" << num(c.first, 15) << "</td><td class='n'>" << c.rank
              << "</td><td class='n'>" << short_time(c.start) << "</td><td class='n'>"
              << short_time(c.seconds) << "</td><td class='n'>" << num(c.items, 10) << "</td></tr>";
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
    line_chart(o, load, span, load_max, "rank 0's CPU, in cores", "line");

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
