#include "test_tasks.hpp"

#include <mpi.h>
#include <sys/resource.h>

#include <chrono>
#include <mproc/mproc.hpp>
#include <stdexcept>
#include <thread>

namespace test_tasks {
namespace {
int g_init_value = -1;
}

int square(int x) {
    return x * x;
}
std::int64_t identity(std::int64_t x) {
    return x;
}
int add(int a, int b) {
    return a + b;
}
std::string shout(const std::string& s) {
    return s + "!";
}
Point scale(const Point& p) {
    Point q = p;
    q.x *= 2;
    q.tags.push_back(static_cast<int>(p.tags.size()));
    return q;
}
int fails_on_7(int x) {
    if (x == 7) throw std::invalid_argument("seven is not allowed");
    return x;
}
int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
}
int worker_rank(int sleep) {
    std::this_thread::sleep_for(std::chrono::milliseconds(sleep));
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}
void note(int) {}
double cpu_seconds(int) {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
std::pair<int, double> rank_cpu(int) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return {rank, cpu_seconds(0)};
}
int init_value(int) {
    return g_init_value;
}
void set_init_value(int v) {
    g_init_value = v;
}

MPROC_TASK(square);
MPROC_TASK(identity);
MPROC_TASK(add);
MPROC_TASK(shout);
MPROC_TASK(scale);
MPROC_TASK(fails_on_7);
MPROC_TASK(sleep_ms);
MPROC_TASK(worker_rank);
MPROC_TASK(note);
MPROC_TASK(cpu_seconds);
MPROC_TASK(rank_cpu);
MPROC_TASK(init_value);
MPROC_TASK(set_init_value);

}  // namespace test_tasks
