// mproc::range behaves like Python's range.

#include <gtest/gtest.h>

#include <mproc/range.hpp>
#include <ranges>
#include <vector>

namespace {
template <class R>
std::vector<long long> items(const R& r) {
    std::vector<long long> v;
    for (auto x : r) v.push_back(x);
    return v;
}
}  // namespace

TEST(Range, LikePython) {
    static_assert(std::ranges::random_access_range<mproc::Range<int>>);
    static_assert(std::ranges::sized_range<mproc::Range<int>>);
    static_assert(std::ranges::view<mproc::Range<int>>);
    EXPECT_EQ(items(mproc::range(5)), (std::vector<long long>{0, 1, 2, 3, 4}));
    EXPECT_EQ(items(mproc::range(2, 5)), (std::vector<long long>{2, 3, 4}));
    EXPECT_EQ(items(mproc::range(0, 10, 3)), (std::vector<long long>{0, 3, 6, 9}));
    EXPECT_EQ(items(mproc::range(10, 0, -3)), (std::vector<long long>{10, 7, 4, 1}));
    EXPECT_TRUE(items(mproc::range(5, 2)).empty());
    EXPECT_TRUE(items(mproc::range(0)).empty());
    EXPECT_TRUE(items(mproc::range(-3)).empty());
    EXPECT_EQ(mproc::range(0, 10, 3).size(), 4u);
    EXPECT_EQ(mproc::range<std::int64_t>(0, 100'000'000'000, 7).size(), 14'285'714'286u);
    EXPECT_THROW(mproc::range(0, 5, 0), std::invalid_argument);
}
