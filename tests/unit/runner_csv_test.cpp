// A `csv:` input's lines (tools/runner/inputs.*): RFC 4180 fields, one record a line.

#include <gtest/gtest.h>

#include "inputs.hpp"

namespace {

using mproc::runner::csv_fields;
using Fields = std::vector<std::string>;

Fields fields(const std::string& line) {
    std::string why;
    const auto f = csv_fields(line, why);
    EXPECT_TRUE(f.has_value()) << line << ": " << why;
    return f.value_or(Fields{});
}

TEST(RunnerCsv, PlainAndQuotedFields) {
    EXPECT_EQ(fields("a,b,c"), (Fields{"a", "b", "c"}));
    EXPECT_EQ(fields("a"), (Fields{"a"}));
    EXPECT_EQ(fields(""), (Fields{""}));
    EXPECT_EQ(fields("a,,c,"), (Fields{"a", "", "c", ""}));  // empty fields, a trailing one
    EXPECT_EQ(fields("\"a,b\",c"), (Fields{"a,b", "c"}));     // a comma inside quotes
    EXPECT_EQ(fields("\"say \"\"hi\"\"\",x"), (Fields{"say \"hi\"", "x"}));  // "" is a quote
    EXPECT_EQ(fields("\"\",\"\"\"\""), (Fields{"", "\""}));
    EXPECT_EQ(fields(" a , b "), (Fields{" a ", " b "}));  // spaces are data
    EXPECT_EQ(fields("a\tb,\"x y\""), (Fields{"a\tb", "x y"}));
}

TEST(RunnerCsv, AQuoteLeftOpenIsNotARecord) {
    std::string why;
    EXPECT_FALSE(csv_fields("\"a,b", why).has_value());
    EXPECT_NE(why.find("not closed on its line"), std::string::npos) << why;
    EXPECT_FALSE(csv_fields("a,\"b\"\"", why).has_value());  // an escaped quote, still open
}

}  // namespace
