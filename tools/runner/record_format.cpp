#include "record_format.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace mproc::runner {

std::string csv_header(bool provenance) {
    return provenance ? "index,input,result,error,host,rank,start,seconds,attempts\n"
                      : "index,input,result,error\n";
}

std::string iso_time(double t) {
    const auto whole = static_cast<std::time_t>(t);
    const int ms = std::min(999, static_cast<int>((t - static_cast<double>(whole)) * 1000));
    std::tm utc{};
    gmtime_r(&whole, &utc);
    char buf[40];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", ms);
    return buf;
}

std::optional<std::uint64_t> record_index(const std::string& line, Format format) {
    std::size_t at = 0;
    if (format == Format::jsonl) {
        static const std::string head = "{\"index\": ";
        if (line.compare(0, head.size(), head) != 0) return std::nullopt;
        at = head.size();
    }
    std::uint64_t index = 0;
    const auto r = std::from_chars(line.data() + at, line.data() + line.size(), index);
    if (r.ec != std::errc() || r.ptr == line.data() + at) return std::nullopt;
    return index;
}

namespace {
// Seconds to the microsecond: enough for a duration, and short in a record.
Value rounded_seconds(double s) {
    return Value(std::round(s * 1e6) / 1e6);
}
}  // namespace

void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, const Provenance* where, std::string& out) {
    const bool failed = !error.empty() || result == nullptr;
    switch (format) {
        case Format::jsonl:
            // Appended piece by piece: this runs once per record.
            out += "{\"index\": ";
            append_int(out, static_cast<std::int64_t>(index));
            out += ", \"input\": ";
            append_json(out, input);
            if (result != nullptr) {
                out += ", \"result\": ";
                append_json(out, *result);
            }
            if (failed) {
                out += ", \"error\": ";
                append_json_string(out, error);
            }
            if (where != nullptr) {
                out += ", \"host\": ";
                append_json_string(out, where->host);
                out += ", \"rank\": ";
                append_int(out, where->rank);
                out += ", \"start\": \"" + iso_time(where->start) + "\", \"seconds\": ";
                append_json(out, rounded_seconds(where->seconds));
                out += ", \"attempts\": ";
                append_int(out, where->attempts);
            }
            out += "}\n";
            break;
        case Format::csv: {
            // RFC 4180 quoting, with newlines escaped as well, so one record is one line.
            const auto field = [&out](const std::string& s) {
                std::string e;
                append_escaped(e, s, false);
                if (e.find_first_of(",\"") == std::string::npos) {
                    out += e;
                    return;
                }
                out += '"';
                for (char c : e) out += c == '"' ? std::string("\"\"") : std::string(1, c);
                out += '"';
            };
            append_int(out, static_cast<std::int64_t>(index));
            out += ',';
            field(input.text());
            out += ',';
            field(result != nullptr ? result->text() : "");
            out += ',';
            field(failed ? error : "");
            if (where != nullptr) {
                out += ',';
                field(where->host);
                out += ',';
                append_int(out, where->rank);
                out += ',' + iso_time(where->start) + ',' + rounded_seconds(where->seconds).text() +
                       ',';
                append_int(out, where->attempts);
            }
            out += '\n';
            break;
        }
        case Format::txt:
            append_int(out, static_cast<std::int64_t>(index));
            out += '\t';
            append_escaped(out, input.text(), true);
            out += '\t';
            if (failed) {
                out += "ERROR: ";
                append_escaped(out, error, true);
            } else {
                append_escaped(out, result->text(), true);
            }
            if (where != nullptr) {
                out += '\t';
                append_escaped(out, where->host, true);
                out += '\t';
                append_int(out, where->rank);
                out += '\t' + iso_time(where->start) + '\t' +
                       rounded_seconds(where->seconds).text() + '\t';
                append_int(out, where->attempts);
            }
            out += '\n';
            break;
    }
}

}  // namespace mproc::runner
