// Packing and unpacking chunks: the raw-byte fast path and the Boost archive path.

#include <gtest/gtest.h>

#include <map>
#include <mproc/detail/serialize.hpp>
#include <string>
#include <tuple>
#include <typeinfo>
#include <vector>

using mproc::detail::Buffer;
using mproc::detail::Packer;
using mproc::detail::packed_bytes;
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
        ar& name& table;
    }
    bool operator==(const Rich&) const = default;
};

// A type with its own byte codec, found by argument-dependent lookup.
struct Tagged {
    std::string tag;
    int n = 0;
    bool operator==(const Tagged&) const = default;
};
void mproc_pack(std::vector<char>& out, const Tagged& t) {
    mproc::detail::pack_string(out, t.tag);
    mproc::detail::pack_raw(out, t.n);
}
void mproc_unpack(const char*& at, const char* end, Tagged& t) {
    mproc::detail::unpack_string(at, end, t.tag);
    mproc::detail::unpack_raw(at, end, t.n);
}

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

// What a group leader cuts a span of packed inputs by (packed_bytes): each item's bytes as
// Packer writes them, so n items take n times that.
template <class T>
void packs_to_its_fixed_size(const T& value) {
    Buffer buf;
    Packer<T> packer(buf);
    for (int i = 0; i < 7; ++i) packer.put(value);
    packer.finish();
    EXPECT_EQ(buf.size(), 7 * packed_bytes<T>) << typeid(T).name();
}

TEST(Serialize, FixedSizeItemsKnowTheBytesTheyPackTo) {
    packs_to_its_fixed_size(std::int32_t{5});
    packs_to_its_fixed_size(Plain{});
    packs_to_its_fixed_size(std::tuple<char, double, int>{'a', 1.5, 3});  // no padding packed
    packs_to_its_fixed_size(std::pair<char, std::int64_t>{'b', 9});
    EXPECT_EQ((packed_bytes<std::tuple<char, double, int>>), 13u);
    EXPECT_EQ(packed_bytes<std::string>, 0u);
    EXPECT_EQ((packed_bytes<std::tuple<int, std::string>>), 0u);
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

TEST(Serialize, CustomCodecsAreUsedWhenATypeHasOne) {
    static_assert(mproc::detail::CustomPacked<Tagged>);
    static_assert(!mproc::detail::CustomPacked<Rich>);
    Buffer buf;
    Packer<Tagged> packer(buf);
    packer.put({"ab", 7});
    packer.finish();
    EXPECT_EQ(buf.size(), sizeof(std::uint64_t) + 2 + sizeof(int));  // exactly the codec's bytes
    EXPECT_EQ(round_trip<Tagged>({{"ab", 7}, {"", -1}}),
              (std::vector<Tagged>{{"ab", 7}, {"", -1}}));
    Buffer cut(buf.begin(), buf.end() - 1);
    Unpacker<Tagged> unpacker(cut.data(), cut.size());
    EXPECT_THROW(unpacker.get(), mproc::Error);
}

TEST(Serialize, TruncatedInputIsAnErrorNotACrash) {
    Buffer buf(3);
    Unpacker<std::int64_t> unpacker(buf.data(), buf.size());
    EXPECT_THROW(unpacker.get(), mproc::Error);
}
