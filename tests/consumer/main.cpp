#include <iostream>
#include <mproc/mproc.hpp>

int cube(int x) {
    return x * x * x;
}
MPROC_TASK(cube);

int main(int argc, char** argv) {
    return mproc::run(argc, argv, [] {
        mproc::Pool pool;
        int total = 0;
        for (int c : pool.map(cube, mproc::range(1, 5))) total += c;
        std::cout << "consumer total " << total << std::endl;  // 1 + 8 + 27 + 64 = 100
    });
}
