// Payloads over what one MPI message carries (2 GiB): a result, an input and a queue item.
// Each fails its own operation with a message naming the limit, and everything else goes on;
// none ends the job. Several GiB each: these tests run one at a time (RESOURCE_LOCK).

#include <gtest/gtest.h>

#include <cstdint>
#include <mproc/mproc.hpp>
#include <string>

namespace {

constexpr std::uint64_t kOver = (std::uint64_t{1} << 31) + 16;  // just over INT_MAX bytes

std::string huge_result(std::uint64_t bytes) {
    return std::string(bytes, 'r');
}
MPROC_TASK(huge_result);

std::uint64_t length_of(const std::string& s) {
    return s.size();
}
MPROC_TASK(length_of);

bool names_the_limit(const std::exception& e) {
    return std::string(e.what()).find("more than one MPI message carries") != std::string::npos ||
           std::string(e.what()).find("bytes one MPI message can carry") != std::string::npos;
}

}  // namespace

TEST(Large, ResultOverOneMessageFailsItsTaskOnly) {
    mproc::Pool pool;
    try {
        (void)pool.apply(huge_result, kOver);
        FAIL() << "a result of " << kOver << " bytes came back";
    } catch (const mproc::RemoteError& e) {
        EXPECT_TRUE(names_the_limit(e)) << e.what();
    }
    EXPECT_EQ(pool.apply(length_of, std::string("still here")), 10u);  // the pool goes on
}

TEST(Large, InputOverOneMessage) {
    mproc::Pool pool;
    const std::string big(kOver, 'i');
    if (mproc::worker_count() == 0) {
        // Run on rank 0 itself: nothing is sent, so nothing limits it.
        EXPECT_EQ(pool.apply(length_of, big), kOver);
    } else {
        try {
            (void)pool.apply(length_of, big);
            FAIL() << "an input of " << kOver << " bytes was sent";
        } catch (const mproc::Error& e) {
            EXPECT_TRUE(names_the_limit(e)) << e.what();
        }
    }
    EXPECT_EQ(pool.apply(length_of, std::string("next")), 4u);
}

TEST(Large, QueueItemOverOneMessageIsRefusedAtPut) {
    mproc::Queue<std::string> q;
    try {
        q.put(std::string(kOver, 'q'));
        FAIL() << "an item of " << kOver << " bytes was put";
    } catch (const mproc::Error& e) {
        EXPECT_TRUE(names_the_limit(e)) << e.what();
    }
    q.put("small");
    EXPECT_EQ(q.get(), "small");
}
