#pragma once
// A result record as the results file holds it, in each format: one line per input with its
// index, its input, and its result or error (or both), and with output.provenance where,
// when and how long it ran. Workers format their records, so rank 0 only copies lines.
//
//     {"index": 7, "input": 7, "result": 49}                                   .jsonl
//     7,7,49,                                                                  .csv
//     7	7	49                                                               .txt

#include <cstdint>
#include <optional>
#include <string>

#include "value.hpp"

namespace mproc::runner {

enum class Format { jsonl, csv, txt };

// The records' layout: raised whenever the same inputs would give different bytes, so a
// resume never appends new-style records to old ones (3: text kept as written, valid UTF-8,
// escaped .txt/.csv fields; 4: a failure may keep a result, provenance fields).
inline constexpr int kRecordVersion = 4;

// Where, when and how long a task ran, for records with output.provenance.
struct Provenance {
    std::string host;
    int rank = 0;
    double start = 0;  // seconds since the epoch
    double seconds = 0;
    int attempts = 1;
};

// The CSV header line for these records.
std::string csv_header(bool provenance);

// Appends the record of input `index` in `format`: its result, its error (when `error` is not
// empty), or both (a failure with something to show, such as a command's output), and its
// provenance when given.
void format_record(Format format, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error, const Provenance* where, std::string& out);

// The index a record line starts with (every format puts it first), or nullopt.
std::optional<std::uint64_t> record_index(const std::string& line, Format format);

// `t` (seconds since the epoch) as UTC ISO 8601 to the millisecond: 2026-11-28T21:50:01.123Z.
std::string iso_time(double t);

}  // namespace mproc::runner
