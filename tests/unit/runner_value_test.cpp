// The runner's Value as results files need it: numbers as written, JSON for any bytes, and
// the JSON reader that brings a reduction back.

#include <gtest/gtest.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <cmath>
#include <sstream>

#include "value.hpp"

namespace {
using mproc::runner::append_escaped;
using mproc::runner::is_json_number;
using mproc::runner::parse_json;
using mproc::runner::Value;
}  // namespace

TEST(RunnerValue, JsonNumbers) {
    for (const char* s : {"0", "-0", "2.50", "1e-3", "1E+21", "1180591620717411303424", "-7.5e10"})
        EXPECT_TRUE(is_json_number(s)) << s;
    for (const char* s : {"", ".5", "5.", "0x1F", "+5", "007", ".nan", "1e", "1_000", "-", "1.2.3"})
        EXPECT_FALSE(is_json_number(s)) << s;
}

TEST(RunnerValue, WrittenNumbersKeepTheirText) {
    const Value tenth = Value::written("0.1", 0.1);
    EXPECT_EQ(tenth.json(), "0.1");  // already the shortest text: kept plain
    EXPECT_EQ(tenth.written_text(), nullptr);
    const Value padded = Value::written("2.50", 2.5);
    ASSERT_NE(padded.written_text(), nullptr);
    EXPECT_EQ(padded.text(), "2.50");
    EXPECT_EQ(padded.json(), "2.50");
    EXPECT_DOUBLE_EQ(padded.as_double(), 2.5);
    const Value hex = Value::written("0x1F", std::int64_t{31});
    EXPECT_TRUE(hex.is_int());
    EXPECT_EQ(hex.as_int(), 31);
    EXPECT_EQ(hex.text(), "0x1F");
    EXPECT_EQ(hex.json(), "\"0x1F\"");  // not a JSON number: a string of its text
    EXPECT_EQ(Value::written(".nan", std::nan("")).json(), "\".nan\"");
    EXPECT_EQ(Value(0.1 + 0.2).json(), "0.30000000000000004");  // shortest that reads back
}

TEST(RunnerValue, WrittenNumbersTravel) {
    const Value v(Value::Map{{"a", Value::written("2.50", 2.5)}, {"b", Value("x")}});
    std::vector<char> bytes;
    mproc_pack(bytes, v);
    const char* at = bytes.data();
    Value back;
    mproc_unpack(at, bytes.data() + bytes.size(), back);
    EXPECT_EQ(back, v);
    EXPECT_EQ(back.json(), "{\"a\": 2.50, \"b\": \"x\"}");
}

// A saved config carries its params through a Boost archive: every kind of value comes back
// as it was, written numbers with their text.
TEST(RunnerValue, EveryKindThroughAnArchive) {
    const Value v(Value::List{Value(), Value(true), Value(std::int64_t{-7}), Value(0.25),
                              Value("s\xff"), Value::written("1e3", 1000.0),
                              Value::Map{{"k", Value::List{Value(std::int64_t{1})}}}});
    std::stringstream bytes;
    {
        boost::archive::binary_oarchive out(bytes);
        out << v;
    }
    Value back;
    boost::archive::binary_iarchive in(bytes);
    in >> back;
    EXPECT_EQ(back, v);
    EXPECT_EQ(back.json(), v.json());
}

TEST(RunnerValue, AnyBytesGiveValidUtf8) {
    EXPECT_EQ(Value(std::string("caf\xc3\xa9")).json(), "\"caf\xc3\xa9\"");  // valid: as is
    EXPECT_EQ(Value(std::string("caf\xe9")).json(), "\"caf\\udce9\"");       // a stray byte
    EXPECT_EQ(Value(std::string("\xc0\xaf")).json(), "\"\\udcc0\\udcaf\"");  // overlong
    EXPECT_EQ(Value(std::string("\xed\xa0\x80")).json(), "\"\\udced\\udca0\\udc80\"");  // surrogate
    EXPECT_EQ(Value(std::string("\xe2\x82")).json(), "\"\\udce2\\udc82\"");             // cut short
    EXPECT_EQ(Value(std::string("a\tb\x01")).json(), "\"a\\tb\\u0001\"");
}

TEST(RunnerValue, JsonReadsBackWhatItWrote) {
    const Value v(Value::Map{
        {"bytes", Value(std::string("caf\xe9 \xf0\x9f\x98\x80 \"q\"\n"))},
        {"list", Value(Value::List{Value(1), Value(-2.5), Value(true), Value(), Value("s")})},
        {"big", Value::written("1180591620717411303424", 1180591620717411303424.0)},
        {"x", Value(std::int64_t{-9'223'372'036'854'775'807LL - 1})}});
    const Value back = parse_json(v.json());
    EXPECT_EQ(back.json(), v.json());
    EXPECT_EQ(back["bytes"].as_string(), v["bytes"].as_string());
    EXPECT_EQ(parse_json("\"\\ud83d\\ude00\"").as_string(), "\xf0\x9f\x98\x80");  // a pair
    EXPECT_THROW(parse_json("{\"a\": 1"), std::invalid_argument);
    EXPECT_THROW(parse_json("[1] 2"), std::invalid_argument);
    EXPECT_THROW(parse_json("0x1F"), std::invalid_argument);
}

TEST(RunnerValue, FieldsStayOnTheirLine) {
    std::string out;
    append_escaped(out, "a\tb\nc\rd\\e", true);
    EXPECT_EQ(out, "a\\tb\\nc\\rd\\e");
    out.clear();
    append_escaped(out, "a\tb", false);  // a tab is no separator in CSV
    EXPECT_EQ(out, "a\tb");
}
