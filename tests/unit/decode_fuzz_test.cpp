// Decoders against bytes that did not come from their encoders: random buffers, every
// truncation of real messages, and single-byte corruptions. Each decode either succeeds or
// throws mproc::Error; it never reads past the end, never allocates what a message merely
// claims, and never recurses without bound. Built with AddressSanitizer and
// UndefinedBehaviorSanitizer (tests/CMakeLists.txt), so a stray read fails the test.

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "items.hpp"
#include "base/protocol.hpp"
#include "value.hpp"

namespace {

using mproc::Error;
using mproc::detail::Buffer;
using mproc::runner::Item;
using mproc::runner::Record;
using mproc::runner::Value;

template <class T>
Buffer encode(const T& v) {
    Buffer out;
    mproc_pack(out, v);
    return out;
}

// Decodes `bytes` as a T: true when it decoded, false when it was refused with mproc::Error.
// Anything else (another exception, a crash, a sanitizer report) fails the test.
template <class T>
bool decodes(const char* data, std::size_t size) {
    const char* at = data;
    T v;
    try {
        mproc_unpack(at, data + size, v);
    } catch (const Error&) {
        return false;
    }
    EXPECT_LE(at, data + size);
    return true;
}

// Every prefix of a real encoding but the whole is refused; the whole decodes; every
// single-byte corruption either decodes or is refused.
template <class T>
void check_encoding(const Buffer& whole, std::mt19937_64& rng) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
        // A copy of exactly n bytes, so a read past it is a heap overflow ASan reports.
        std::vector<char> prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_FALSE(decodes<T>(prefix.data(), prefix.size())) << "prefix of " << n << " bytes";
    }
    EXPECT_TRUE(decodes<T>(whole.data(), whole.size()));
    for (int round = 0; round < 2000; ++round) {
        std::vector<char> bent(whole.begin(), whole.end());
        bent[rng() % bent.size()] = static_cast<char>(rng());
        decodes<T>(bent.data(), bent.size());
    }
}

std::vector<Value> samples() {
    Value::Map point{{"alpha", Value::written("2.50", 2.5)}, {"n", Value(7)}};
    Value::List list{
        Value(), Value(true), Value(-3), Value(0.25), Value(std::string("caf\xe9")), Value(point)};
    return {Value(), Value(42), Value(std::string(300, 'x')), Value(list),
            Value(Value::Map{{"inner", Value(list)}, {"empty", Value(Value::List{})}})};
}

TEST(DecodeFuzz, ValuesTruncatedAndCorrupted) {
    std::mt19937_64 rng(12345);
    for (const Value& v : samples()) check_encoding<Value>(encode(v), rng);
}

TEST(DecodeFuzz, ItemsAndRecords) {
    std::mt19937_64 rng(777);
    for (const Value& v : samples()) {
        check_encoding<Item>(encode(Item{99, v}), rng);
        Record r;
        r.index = 5;
        r.line = "{\"index\": 5, \"input\": 1, \"result\": 1}\n";
        r.busy_ns = 1234;
        r.rank = 3;
        r.ok = false;
        r.extra = std::make_unique<Record::Extra>(
            Record::Extra{v, Value(), "exit code 1", "6\thost\t1.000\t 0.5\t0\t0\t1\t0\tfalse\n"});
        check_encoding<Record>(encode(r), rng);
    }
}

TEST(DecodeFuzz, RandomBytes) {
    std::mt19937_64 rng(42);
    for (int round = 0; round < 20000; ++round) {
        std::vector<char> bytes(rng() % 64);
        for (char& c : bytes) c = static_cast<char>(rng());
        // Small kinds are the likely first bytes of a real value: make them common.
        if (!bytes.empty() && round % 2 == 0) bytes[0] = static_cast<char>(rng() % 9);
        decodes<Value>(bytes.data(), bytes.size());
        decodes<Item>(bytes.data(), bytes.size());
        decodes<Record>(bytes.data(), bytes.size());
    }
}

TEST(DecodeFuzz, ClaimsBeyondTheMessageAreRefusedBeforeAllocating) {
    // A list or map that claims 2^60 elements in a 9-byte message.
    for (std::uint8_t kind : {5, 6}) {
        Buffer b;
        mproc::detail::pack_raw(b, kind);
        mproc::detail::pack_raw(b, std::uint64_t{1} << 60);
        EXPECT_FALSE(decodes<Value>(b.data(), b.size()));
    }
    // A string that claims more bytes than follow.
    Buffer s;
    mproc::detail::pack_raw(s, std::uint8_t{4});
    mproc::detail::pack_raw(s, std::uint64_t{1} << 40);
    s.insert(s.end(), 10, 'x');
    EXPECT_FALSE(decodes<Value>(s.data(), s.size()));
}

TEST(DecodeFuzz, NestingIsBounded) {
    Buffer deep;  // a list in a list in a list ... 100000 deep: refused, not a stack overflow
    for (int i = 0; i < 100000; ++i) {
        mproc::detail::pack_raw(deep, std::uint8_t{5});
        mproc::detail::pack_raw(deep, std::uint64_t{1});
    }
    mproc::detail::pack_raw(deep, std::uint8_t{0});
    EXPECT_FALSE(decodes<Value>(deep.data(), deep.size()));
    Buffer shallow;  // 100 deep is fine
    for (int i = 0; i < 100; ++i) {
        mproc::detail::pack_raw(shallow, std::uint8_t{5});
        mproc::detail::pack_raw(shallow, std::uint64_t{1});
    }
    mproc::detail::pack_raw(shallow, std::uint8_t{0});
    EXPECT_TRUE(decodes<Value>(shallow.data(), shallow.size()));
}

// The parts of a task or result message: every part handed on lies inside the message, and
// a message whose lengths do not add up is refused.
template <class Header>
void walk(const std::vector<char>& m, bool& refused, std::size_t& parts) {
    refused = false;
    parts = 0;
    try {
        mproc::detail::for_each_part<Header>(m.data(), m.size(), "test",
                                             [&](const Header& h, const char* payload) {
                                                 EXPECT_GE(payload, m.data());
                                                 EXPECT_LE(payload + h.size, m.data() + m.size());
                                                 ++parts;
                                             });
    } catch (const Error&) {
        refused = true;
    }
}

TEST(DecodeFuzz, TaskAndResultMessages) {
    using mproc::detail::ResultHeader;
    using mproc::detail::TaskHeader;
    // Two well-formed chunks.
    std::vector<char> m;
    for (std::uint64_t size : {5u, 0u}) {
        TaskHeader h{1, 2, 3, 4, size, 1, 0};
        const char* p = reinterpret_cast<const char*>(&h);
        m.insert(m.end(), p, p + sizeof h);
        m.insert(m.end(), size, 'a');
    }
    bool refused = false;
    std::size_t parts = 0;
    walk<TaskHeader>(m, refused, parts);
    EXPECT_FALSE(refused);
    EXPECT_EQ(parts, 2u);
    // Every truncation but at a part's end is refused.
    for (std::size_t n = 1; n < m.size(); ++n) {
        std::vector<char> prefix(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(n));
        walk<TaskHeader>(prefix, refused, parts);
        const bool at_boundary = n == sizeof(TaskHeader) + 5;
        EXPECT_EQ(refused, !at_boundary) << n << " bytes";
    }
    // Random messages, read both ways.
    std::mt19937_64 rng(99);
    for (int round = 0; round < 20000; ++round) {
        std::vector<char> r(rng() % 160);
        for (char& c : r) c = static_cast<char>(rng() % 4 == 0 ? rng() : 0);
        walk<TaskHeader>(r, refused, parts);
        walk<ResultHeader>(r, refused, parts);
    }
}

}  // namespace
