#pragma once
// The scale simulator: rank 0's real Dispatcher (framework/src/engine/dispatcher.*) and each
// group leader's real GroupDispatcher (group_dispatcher.*), driven by a discrete-event loop
// with a simulated clock and network, over workers that follow the engine's rules, every rank
// with a core of its own, as on a cluster. What the schedulers' code costs is not assumed:
// every call into them is timed on this machine as it runs, and the rank's simulated clock
// moves by what the call took. What the simulator does assume is in Costs, each figure with
// where it comes from (docs/scale-model.md).
//
//     Costs costs = ...;                        // from a bench run (model_main.cpp)
//     Outcome o = simulate({.ranks = 10'000, .task_ms = 10, .group_size = 16}, costs);
//     o.efficiency, o.rank0_us_per_task

#include <cstdint>

namespace mproc::model {

// What the simulator takes as given, in microseconds (bandwidth in bytes per µs).
struct Costs {
    double wake = 0;        // a timed wake-up of a sleeping thread, its CPU and its delay
    double message = 0;     // MPI's CPU per message sent or received (rank 0, a leader, a worker)
    double turn = 0;        // a loop's turn beyond its messages: polling every service, MPI's progress
    double ring = 0;        // a record written into a shared-memory ring and read back
    double latency_node = 0.5;  // a message's flight within a node
    double latency_net = 1.5;   // a message's flight between nodes
    double bandwidth = 12'000;  // bytes per µs between nodes (12 GB/s)
};

struct Setup {
    int ranks = 129;
    double task_ms = 2;
    int group_size = 0;        // 0: flat; else groups of this many ranks (a leader and members)
    int node_ranks = 16;       // ranks per node; 0: every rank on one node
    std::uint32_t chunksize = 1;
    double spread = 0.05;      // each task takes task_ms × (1 ± spread), uniformly
    std::uint64_t tasks = 0;   // 0: 25 per worker or more (Simulation::per_worker), at least 20,000
    std::uint64_t seed = 1;
};

struct Outcome {
    int workers = 0;
    std::uint64_t tasks = 0;
    double efficiency = 0;        // the workers' share of time in tasks, over the middle half of the results
    double rank0_us_per_task = 0; // rank 0's CPU over the same span, per task
    double rank0_busy = 0;        // the share of that span rank 0 spent on its CPU
    double dispatcher_us_per_task = 0;  // the part of it spent in the Dispatcher's calls
    double wakes_per_task = 0;          // rank 0's timed wake-ups per task
    double messages_per_task = 0;       // messages rank 0 sent and received per task
    double turns_per_task = 0;          // turns of rank 0's loop per task
    double simulated_seconds = 0;
};

Outcome simulate(const Setup& setup, const Costs& costs);

}  // namespace mproc::model
