// The baseline for the runner's overhead: the squares job written directly with the library
// (imap over a range, each record formatted as the runner's .jsonl and written to a file).
//
//   mpirun -np 3 runner_direct_bench N OUTPUT

#include <cstdio>
#include <cstdlib>
#include <mproc/mproc.hpp>
#include <string>

namespace {
long long square(long long x) {
    return x * x;
}
MPROC_TASK(square);
}  // namespace

int main(int argc, char** argv) {
    const long long n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
    const std::string path = argc > 2 ? argv[2] : "direct.jsonl";
    return mproc::run(argc, argv, [&] {
        mproc::Pool pool;
        std::FILE* out = std::fopen(path.c_str(), "w");
        long long i = 0;
        char line[96];
        for (long long r : pool.imap(square, mproc::range(0LL, n), 0)) {
            const int len =
                std::snprintf(line, sizeof line,
                              "{\"index\": %lld, \"input\": %lld, \"result\": %lld}\n", i, i, r);
            std::fwrite(line, 1, static_cast<std::size_t>(len), out);
            ++i;
        }
        std::fclose(out);
    });
}
