#pragma once
// Tasks shared by the MPI tests, registered in test_tasks.cpp.

#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace test_tasks {

struct Point {
    double x = 0;
    std::string label;
    std::vector<int> tags;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& x& label& tags;
    }
    bool operator==(const Point&) const = default;
};

int square(int x);
std::int64_t identity(std::int64_t x);
int add(int a, int b);
std::string shout(const std::string& s);
Point scale(const Point& p);
int fails_on_7(int x);                 // throws std::invalid_argument at 7
int sleep_ms(int ms);                  // sleeps, returns ms
int worker_rank(int sleep);            // sleeps `sleep` ms, returns the rank that ran it
void note(int x);                      // a void task
double cpu_seconds(int);               // this process's CPU time so far
std::pair<int, double> rank_cpu(int);  // (rank, CPU seconds) of the process running it
int init_value(int);                   // what set_init_value stored on this rank
void set_init_value(int v);

}  // namespace test_tasks
