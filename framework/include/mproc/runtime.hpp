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

// Where the calling rank runs tasks, for a program that gives each worker its own share of a
// node (threads, devices, a scratch folder): `slot` numbers the ranks that run tasks from 0,
// in rank order over the whole run; `node_slot` numbers those on this rank's node; and
// `node_workers` is how many run tasks there. Rank 0 and group leaders run none: their slot
// and node_slot are -1. With one rank, rank 0 runs the tasks: slot 0 of 1.
struct WorkerSlot {
    int slot = -1;
    int node_slot = -1;
    int node_workers = 0;
};
WorkerSlot worker_slot();

}  // namespace mproc
