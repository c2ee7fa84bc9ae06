// main() for MPI tests: GoogleTest runs on rank 0 inside mproc::run; other ranks serve.
// The exit code is non-zero when a test failed or any rank failed.

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    int failures = 0;
    const int code = mproc::run(argc, argv, [&] { failures = RUN_ALL_TESTS(); });
    return code != 0 ? code : failures;
}
