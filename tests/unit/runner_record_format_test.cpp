// A result record in each format (tools/runner/record_format.*): numbers as they were written,
// any bytes kept (surrogate escapes), tabs and newlines that would break a line escaped in
// .txt and .csv, RFC 4180 quoting, provenance, and the index read back from each format.

#include <gtest/gtest.h>

#include <cmath>

#include "record_format.hpp"

namespace {

using namespace mproc::runner;

std::string record(Format f, std::uint64_t index, const Value& input, const Value* result,
                   const std::string& error = "", const Provenance* where = nullptr) {
    std::string out;
    format_record(f, index, input, result, error, where, out);
    return out;
}

TEST(RunnerRecordFormat, EachFormatForASuccessAndAFailure) {
    const Value in(7), out(49);
    EXPECT_EQ(record(Format::jsonl, 7, in, &out), "{\"index\": 7, \"input\": 7, \"result\": 49}\n");
    EXPECT_EQ(record(Format::csv, 7, in, &out), "7,7,49,\n");
    EXPECT_EQ(record(Format::txt, 7, in, &out), "7\t7\t49\n");
    EXPECT_EQ(record(Format::jsonl, 3, Value("a.csv"), nullptr, "no such column"),
              "{\"index\": 3, \"input\": \"a.csv\", \"error\": \"no such column\"}\n");
    EXPECT_EQ(record(Format::txt, 3, Value("a.csv"), nullptr, "no such column"),
              "3\ta.csv\tERROR: no such column\n");
    // A failure that keeps a result (a command's output) has both.
    EXPECT_EQ(record(Format::jsonl, 1, in, &out, "exit code 2"),
              "{\"index\": 1, \"input\": 7, \"result\": 49, \"error\": \"exit code 2\"}\n");
    EXPECT_EQ(csv_header(false), "index,input,result,error\n");
    EXPECT_EQ(csv_header(true), "index,input,result,error,host,rank,start,seconds,attempts\n");
}

TEST(RunnerRecordFormat, NumbersAsTheyWereWritten) {
    const Value money = Value::written("2.50", 2.5);
    const Value tiny = Value::written("1e-3", 0.001);
    const Value big = Value::written("1180591620717411303424", 1.180591620717411303424e21);
    const Value nan = Value::written(".nan", std::nan(""));
    const Value hex = Value::written("0x1F", std::int64_t{31});
    EXPECT_EQ(record(Format::jsonl, 0, money, &money), "{\"index\": 0, \"input\": 2.50, \"result\": 2.50}\n");
    EXPECT_EQ(record(Format::jsonl, 0, tiny, nullptr, "e"),
              "{\"index\": 0, \"input\": 1e-3, \"error\": \"e\"}\n");
    EXPECT_EQ(record(Format::jsonl, 0, big, nullptr, "e"),
              "{\"index\": 0, \"input\": 1180591620717411303424, \"error\": \"e\"}\n");
    // Not a JSON number: a string of its text.
    EXPECT_EQ(record(Format::jsonl, 0, nan, nullptr, "e"), "{\"index\": 0, \"input\": \".nan\", \"error\": \"e\"}\n");
    EXPECT_EQ(record(Format::jsonl, 0, hex, nullptr, "e"), "{\"index\": 0, \"input\": \"0x1F\", \"error\": \"e\"}\n");
    EXPECT_EQ(record(Format::csv, 0, money, &hex), "0,2.50,0x1F,\n");
    EXPECT_EQ(record(Format::txt, 0, tiny, &nan), "0\t1e-3\t.nan\n");
}

TEST(RunnerRecordFormat, AnyBytesAsSurrogateEscapes) {
    const Value bytes(std::string("ok\xff\xc3(\xe2\x82\xac", 8));  // a bad byte, a broken pair, a €
    const std::string line = record(Format::jsonl, 0, Value(0), &bytes);
    EXPECT_EQ(line, "{\"index\": 0, \"input\": 0, \"result\": \"ok\\udcff\\udcc3(\xe2\x82\xac\"}\n");
    const Value control(std::string("a\"b\\c\n\x01", 7));
    EXPECT_EQ(record(Format::jsonl, 0, Value(0), &control),
              "{\"index\": 0, \"input\": 0, \"result\": \"a\\\"b\\\\c\\n\\u0001\"}\n");
}

TEST(RunnerRecordFormat, OneRecordIsOneLineInTxtAndCsv) {
    const Value text(std::string("a\tb\nc\rd"));
    EXPECT_EQ(record(Format::txt, 0, text, &text), "0\ta\\tb\\nc\\rd\ta\\tb\\nc\\rd\n");
    // In CSV a tab is data; a newline is escaped; commas and quotes are quoted, RFC 4180.
    EXPECT_EQ(record(Format::csv, 0, text, nullptr, "x"), "0,a\tb\\nc\\rd,,x\n");
    const Value comma(std::string("a,\"b\""));
    EXPECT_EQ(record(Format::csv, 0, comma, &comma), "0,\"a,\"\"b\"\"\",\"a,\"\"b\"\"\",\n");
}

TEST(RunnerRecordFormat, WhereAndWhenItRan) {
    const Provenance where{"node7", 3, 1764366601.1239, 0.0123456789, 2};
    const Value v(1);
    EXPECT_EQ(record(Format::jsonl, 1, v, &v, "", &where),
              "{\"index\": 1, \"input\": 1, \"result\": 1, \"host\": \"node7\", \"rank\": 3, "
              "\"start\": \"2025-11-28T21:50:01.123Z\", \"seconds\": 0.012346, \"attempts\": 2}\n");
    EXPECT_EQ(record(Format::csv, 1, v, &v, "", &where),
              "1,1,1,,node7,3,2025-11-28T21:50:01.123Z,0.012346,2\n");
    EXPECT_EQ(iso_time(0), "1970-01-01T00:00:00.000Z");
}

TEST(RunnerRecordFormat, TheIndexReadsBackFromEveryFormat) {
    const Value v(5);
    for (Format f : {Format::jsonl, Format::csv, Format::txt}) {
        const std::string line = record(f, 123456789012, v, &v);
        EXPECT_EQ(record_index(line, f), std::optional<std::uint64_t>(123456789012)) << line;
    }
    EXPECT_EQ(record_index("garbage", Format::jsonl), std::nullopt);
    EXPECT_EQ(record_index("index,input", Format::csv), std::nullopt);
}

}  // namespace
