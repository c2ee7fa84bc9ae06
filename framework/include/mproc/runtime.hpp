#pragma once
// mproc::run: the shape of every mproc program.
//
//     int main(int argc, char** argv) {
//         return mproc::run(argc, argv, [] {   // runs on rank 0 only
//             mproc::Pool pool;
//             ...
//         });                                   // other ranks serve until it returns
//     }
//
// run() initialises MPI (unless the program already did), runs `main_fn` on rank 0 while
// every other rank serves tasks, then stops every rank and finalises MPI. It returns 0, or 1
// when `main_fn` threw (the exception is printed). Without mpirun the program is one rank
// and tasks run on rank 0 itself.

#include <functional>

namespace mproc {

int run(int argc, char** argv, std::function<void()> main_fn);

// Every rank of the run: rank 0, the workers and any group leaders; 1 with one rank.
int rank_count();

// The number of ranks that run tasks: all ranks but rank 0 and the group leaders (with
// MPROC_GROUP_SIZE; see the README's "Node groups"); 0 with one rank.
int worker_count();

}  // namespace mproc
