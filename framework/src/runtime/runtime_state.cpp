#include "runtime/runtime_state.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "engine/group_leader.hpp"
#include "services/heartbeat.hpp"
#include "shared/lock_table.hpp"
#include "base/protocol.hpp"
#include "services/queue_service.hpp"
#include "shared/relay_rings.hpp"
#include "shared/remote_actions.hpp"
#include "engine/pool_service.hpp"
#include "base/task_child.hpp"
#include "base/trace.hpp"
#include "engine/worker.hpp"

namespace mproc::detail {
namespace {

std::atomic<Runtime*> g_current{nullptr};

constexpr std::uint64_t kDefaultArenaBytes = 4 << 20;
constexpr std::uint64_t kDefaultSegmentBytes = 64ull << 20;

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) return "unknown-host";
    return name;
}

// Every rank's host name, on rank 0 (empty elsewhere): what messages about a rank name it by.
std::vector<std::string> gather_hosts(const Communicator& comm, const std::string& mine) {
    const int length = static_cast<int>(mine.size());
    std::vector<int> lengths(comm.rank() == 0 ? static_cast<std::size_t>(comm.size()) : 0);
    check(MPI_Gather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, 0, comm.get()), "MPI_Gather");
    std::vector<int> at(lengths.size());
    int total = 0;
    for (std::size_t r = 0; r < lengths.size(); ++r) {
        at[r] = total;
        total += lengths[r];
    }
    std::string all(static_cast<std::size_t>(total), '\0');
    check(MPI_Gatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), at.data(),
                      MPI_CHAR, 0, comm.get()),
          "MPI_Gatherv");
    std::vector<std::string> hosts;
    for (std::size_t r = 0; r < lengths.size(); ++r)
        hosts.push_back(
            all.substr(static_cast<std::size_t>(at[r]), static_cast<std::size_t>(lengths[r])));
    return hosts;
}

// The environment variable `name` as a number of bytes (at least `min`), or `fallback` when
// it is unset. Read by the one rank that decides a size, while the others are already in
// the collective allocation: a bad value ends them all, with a message naming it.
std::uint64_t bytes_from_env(const Communicator& comm, const char* name, std::uint64_t fallback,
                             std::uint64_t min, const char* what) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') return fallback;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(text, &end, 10);
    if (*end == '\0' && n >= min) return n;
    std::fprintf(stderr, "mproc: %s='%s': want a number of bytes%s for %s\n", name, text,
                 min > 0 ? (" (at least " + std::to_string(min) + ")").c_str() : "", what);
    MPI_Abort(comm.get(), 2);
    std::abort();
}

// MPROC_GROUP_SIZE as rank 0 reads it (other hosts may not have it in their environment),
// sent to all, so every rank computes the same group layout (groups.hpp).
int group_setting(const Communicator& comm) {
    int setting = kGroupsAuto;
    if (comm.rank() == 0) {
        try {
            setting = parse_group_setting(std::getenv("MPROC_GROUP_SIZE"));
        } catch (const Error& e) {
            std::fprintf(stderr, "mproc: %s\n", e.what());
            MPI_Abort(comm.get(), 2);
        }
    }
    check(MPI_Bcast(&setting, 1, MPI_INT, 0, comm.get()), "MPI_Bcast");
    return setting;
}

// Each rank's node, by rank, named by the world rank of its node's first rank.
std::vector<int> nodes_of(const Communicator& comm, const Communicator& node) {
    int first = comm.rank();
    check(MPI_Bcast(&first, 1, MPI_INT, 0, node.get()), "MPI_Bcast");
    std::vector<int> nodes(static_cast<std::size_t>(comm.size()));
    check(MPI_Allgather(&first, 1, MPI_INT, nodes.data(), 1, MPI_INT, comm.get()), "MPI_Allgather");
    return nodes;
}

}  // namespace

Runtime::Runtime()
    : node_(Communicator::NodeOf{comm_}),
      info_{comm_.rank(), comm_.size(), host_name(), {}, 0, 0, {}},
      nodes_(nodes_of(comm_, node_)),
      groups_(plan_groups(nodes_, group_setting(comm_))),
      several_nodes_(node_.size() < comm_.size()),
      mpi_thread_(comm_.rank() == 0),
      window_(comm_, mpi_thread_,
              comm_.rank() == 0 ? bytes_from_env(comm_, "MPROC_SHARED_BYTES", kDefaultArenaBytes,
                                                 64, "the shared-object arena")
                                : 0),
      segment_(node_, several_nodes_,
               node_.rank() == 0 && !several_nodes_
                   ? bytes_from_env(comm_, "MPROC_PIPE_BYTES", kDefaultSegmentBytes, 0,
                                    "the pipes' ring buffers")
                   : 0),
      relay_(groups_.leaders() > 0 ? std::make_unique<RelayRings>(comm_, node_, groups_) : nullptr),
      locks_(std::make_unique<LockTable>(window_)),
      actions_(std::make_unique<RemoteActions>(comm_, mpi_thread_, comm_.rank() == 0)) {
    info_.hosts = gather_hosts(comm_, info_.host);
    info_.master = std::max(0, groups_.master[static_cast<std::size_t>(comm_.rank())]);
    info_.workers = groups_.workers();
    info_.slot = slot_of(nodes_, groups_, comm_.rank());
    heartbeat_ = std::make_unique<Heartbeat>(comm_, info_.host, info_.hosts);
    if (comm_.rank() == 0) {
        queues_ = std::make_unique<QueueService>(comm_);
        trace_ = std::make_unique<Trace>();
        pools_ = std::make_shared<PoolService>(comm_, groups_, mpi_thread_, *trace_, callbacks_,
                                               info_.hosts);
    }
    g_current.store(this, std::memory_order_release);
}

Runtime::~Runtime() {
    g_current.store(nullptr, std::memory_order_release);
    if (pools_) pools_->shut();
}

Runtime* Runtime::current() noexcept {
    return g_current.load(std::memory_order_acquire);
}

std::shared_ptr<Engine> Runtime::pool_engine(const char* what) {
    if (!pools_) throw Error(what);
    return pools_;
}

QueueService& Runtime::queues() {
    if (!queues_) throw Error("mproc: internal error: rank 0's queue service used on a worker");
    return *queues_;
}

int Runtime::run(const std::function<void()>& main_fn) {
    if (comm_.rank() == 0) return run_rank0(main_fn);
    try {
        if (groups_.leader(comm_.rank())) {
            GroupLeader leader(comm_, groups_.members[static_cast<std::size_t>(comm_.rank())],
                               relay_.get());
            MpiThread::Service* const services[] = {&leader};
            // With nothing owed it looks for rank 0's next message every millisecond, as
            // rank 0's loop does (that message cannot wake it). While members owe results it
            // sleeps up to a hold (GroupLeader::poll_again_in), not 1 ms: a leader that woke
            // every millisecond took a fifth of a loaded node's CPU, in turns that each found
            // about half a batch.
            mpi_thread_.loop(services, [&] { return leader.finished(); },
                             {.idle = std::chrono::milliseconds(1), .longest = kMaxRelayHold});
            return 0;
        }
        const int me = comm_.rank();
        return serve(comm_, info_.master, relay_ ? relay_->down(me) : nullptr,
                     relay_ ? relay_->up(me) : nullptr, *actions_, Place{me, info_.host});
    } catch (...) {
        std::cerr << "mproc: " << (groups_.leader(comm_.rank()) ? "group leader" : "worker")
                  << " rank " << comm_.rank() << " threw "
                  << describe_exception(std::current_exception()) << std::endl;
        MPI_Abort(comm_.get(), 1);
        return 1;
    }
}

int Runtime::run_rank0(const std::function<void()>& main_fn) {
    std::exception_ptr error;
    PoolService& pools = *pools_;
    // The user's code runs on its own thread; this thread stays in the loop, the only one
    // that calls MPI.
    std::thread user([&] {
        try {
            main_fn();
        } catch (...) {
            error = std::current_exception();
        }
        pools.stop();
    });
    try {
        MpiThread::Service* const services[] = {queues_.get(), &pools, actions_.get(),
                                                heartbeat_.get()};
        // Across nodes (osc/pt2pt) a one-sided operation aimed at rank 0's arena completes
        // only when rank 0 enters MPI: there its loop never sleeps long, or every shared-object
        // operation from a worker waits out its sleep (measured: ~1 ms each with 1 ms sleeps).
        // On one node with shared windows (no one-sided operation waits for it) it sleeps as
        // long as its services are sure of, up to kRelayCover: a group its leader feeds sends a
        // batch about once a third of the work rank 0 keeps out on it (8 ms with 2 ms tasks in
        // groups of 16), and the leader's queue covers rank 0 being late.
        const auto idle_sleep =
            several_nodes_ ? std::chrono::microseconds(50) : std::chrono::microseconds(1000);
        const auto longest = several_nodes_ || segment_.base() == nullptr
                                 ? idle_sleep
                                 : std::chrono::microseconds(kRelayCover);
        mpi_thread_.loop(services, [&] { return pools.finished(); },
                         {.idle = idle_sleep, .longest = longest});
        pools.stop_workers();
        trace_->write(info_.hosts);
    } catch (...) {
        // The loop cannot go on (an MPI failure): end every rank rather than hang any.
        std::cerr << "mproc: the mproc engine on rank 0 threw "
                  << describe_exception(std::current_exception()) << std::endl;
        MPI_Abort(comm_.get(), 1);
    }
    user.join();
    if (error) {
        std::cerr << "mproc: the main function on rank 0 threw " << describe_exception(error)
                  << std::endl;
        return 1;
    }
    return 0;
}

Runtime& runtime(const char* what) {
    if (in_task_child())
        throw Error(std::string(what) +
                    " cannot be used in a task that runs in a child process (a Pool with "
                    "maxtasksperchild or isolate): the child has no MPI. Use a Pool without "
                    "them for tasks that use queues, pipes or shared objects");
    Runtime* r = Runtime::current();
    if (r == nullptr) throw Error(std::string(what) + " work only inside mproc::run");
    return *r;
}

const RuntimeInfo& runtime_info() noexcept {
    static const RuntimeInfo outside{0, 1, host_name(), {}, 0, 0, {}};  // before and after mproc::run
    const Runtime* r = Runtime::current();
    return r != nullptr ? r->info() : outside;
}

}  // namespace mproc::detail
