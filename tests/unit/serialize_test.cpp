// Packing and unpacking chunks: the raw-byte fast path and the Boost archive path.

#include <gtest/gtest.h>
#include <mproc/detail/serialize.hpp>

#include <map>
#include <string>
#include <tuple>
#include <vector>

using mproc::detail::Buffer;
using mproc::detail::Packer;
using mproc::detail::packs_as_bytes;
using mproc::detail::Unpacker;

namespace {

struct Plain {
    int a;
    double b;
};

struct Rich {
    std::string name;
    std::map<std::string, std::vector<int>> table;
    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar & name & table;
    }
    bool operator==(const Rich&) const = default;
};

template <class T>
std::vector<T> round_trip(const std::vector<T>& items) {
    Buffer buf;
    Packer<T> packer(buf);
    for (const T& x : items) packer.put(x);
    packer.finish();
    Unpacker<T> unpacker(buf.data(), buf.size());
    std::vector<T> out;
    for (std::size_t i = 0; i < items.size(); ++i) out.push_back(unpacker.get());
    return out;
}

}  // namespace

TEST(Serialize, FastPathIsChosenForTriviallyCopyableTypes) {
    static_assert(packs_as_bytes<int>);
    static_assert(packs_as_bytes<Plain>);
    static_assert(packs_as_bytes<std::tuple<int, double>>);
    static_assert(packs_as_bytes<std::pair<int, float>>);
    static_assert(!packs_as_bytes<std::string>);
    static_assert(!packs_as_bytes<const char*>);
    static_assert(!packs_as_bytes<std::tuple<int, std::string>>);
}

TEST(Serialize, FastPathCostsExactlyTheBytes) {
    Buffer buf;
    Packer<std::int64_t> packer(buf);
    for (std::int64_t i = 0; i < 100; ++i) packer.put(i);
    packer.finish();
    EXPECT_EQ(buf.size(), 100 * sizeof(std::int64_t));
}

TEST(Serialize, RoundTrips) {
    EXPECT_EQ(round_trip<int>({1, -2, 3}), (std::vector<int>{1, -2, 3}));
    auto plain = round_trip<Plain>({{1, 2.5}, {3, -4.0}});
    EXPECT_EQ(plain[1].a, 3);
    EXPECT_EQ(plain[1].b, -4.0);
    EXPECT_EQ(round_trip<std::string>({"", "abc", std::string(100000, 'z')}),
              (std::vector<std::string>{"", "abc", std::string(100000, 'z')}));
    using Mixed = std::tuple<int, std::string, std::vector<double>>;
    EXPECT_EQ(round_trip<Mixed>({{1, "x", {0.5}}, {2, "", {}}}),
              (std::vector<Mixed>{{1, "x", {0.5}}, {2, "", {}}}));
    using Pair = std::tuple<int, double>;
    EXPECT_EQ(round_trip<Pair>({{1, 2.0}}), (std::vector<Pair>{{1, 2.0}}));
    Rich r{"n", {{"k", {1, 2}}}};
    EXPECT_EQ(round_trip<Rich>({r, Rich{}}), (std::vector<Rich>{r, Rich{}}));
}

TEST(Serialize, TruncatedInputIsAnErrorNotACrash) {
    Buffer buf(3);
    Unpacker<std::int64_t> unpacker(buf.data(), buf.size());
    EXPECT_THROW(unpacker.get(), mproc::Error);
}
