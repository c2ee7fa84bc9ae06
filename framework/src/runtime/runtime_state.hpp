#pragma once
// The runtime of one rank, and its one owner: made by mproc::run on every rank, it owns the
// communicators, the MPI thread, the shared window, the node segment, the jobs other ranks
// may set off (RemoteActions) and, on rank 0, the pool service, the thread the Pools'
// callbacks run on and the queue service; it tears them down in the reverse order. What is
// handed no reference to a part reaches it through Runtime::current(), the one pointer to it:
// a Pool once, when it is made; a shared object's or a queue's handle, which is bytes that
// travel between ranks, at every call.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/groups.hpp"
#include "mproc/detail/engine.hpp"
#include "transport/mpi_thread.hpp"
#include "shared/node_segment.hpp"
#include "shared/shared_window.hpp"
#include "transport/transport.hpp"

namespace mproc::detail {

class Heartbeat;
class LockTable;
class PoolService;
class QueueService;
class RelayRings;
class RemoteActions;
class Trace;

// Facts about this process that every part of the runtime needs.
struct RuntimeInfo {
    int rank = 0;
    int size = 1;
    std::string host;
    std::vector<std::string> hosts;  // on rank 0: every rank's host, by rank
    int master = 0;   // the rank this one takes tasks from (rank 0, or its group's leader)
    int workers = 0;  // the ranks that run tasks (worker_count())
    WorkerSlot slot;  // where this rank runs tasks (worker_slot())
};

class Runtime {
  public:
    // Collective: every rank makes one, once MPI is initialised, on the thread that did so.
    Runtime();
    ~Runtime();
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    // The runtime running in this process, or nullptr outside mproc::run.
    static Runtime* current() noexcept;

    // The rank's part of the run: on rank 0, `main_fn` on a thread of its own while this
    // thread runs the MPI loop; on the others, tasks until rank 0 says stop. The exit code.
    int run(const std::function<void()>& main_fn);

    const RuntimeInfo& info() const noexcept { return info_; }
    const GroupLayout& groups() const noexcept { return groups_; }
    const Communicator& comm() const noexcept { return comm_; }
    MpiThread& mpi_thread() noexcept { return mpi_thread_; }
    SharedWindow& window() noexcept { return window_; }
    NodeSegment& segment() noexcept { return segment_; }
    LockTable& locks() noexcept { return *locks_; }
    RemoteActions& actions() noexcept { return *actions_; }
    // Rank 0's pool engine; on other ranks an Error whose message is `what`.
    std::shared_ptr<Engine> pool_engine(const char* what);
    QueueService& queues();
    // A number for a queue request, unique in this process.
    std::uint64_t next_request() noexcept { return next_request_.fetch_add(1); }

  private:
    int run_rank0(const std::function<void()>& main_fn);

    Communicator comm_;
    Communicator node_;  // the ranks on this rank's node
    RuntimeInfo info_;
    std::vector<int> nodes_;  // by rank: its node, named by the node's first rank
    GroupLayout groups_;
    // Made once the hosts are known; declared here so it beats until the rest is torn down.
    std::unique_ptr<Heartbeat> heartbeat_;
    bool several_nodes_;
    MpiThread mpi_thread_;
    SharedWindow window_;
    NodeSegment segment_;
    std::unique_ptr<RelayRings> relay_;  // with groups: leaders' and members' shared rings
    std::unique_ptr<LockTable> locks_;
    std::unique_ptr<RemoteActions> actions_;
    std::unique_ptr<Trace> trace_;          // rank 0: what the run did (MPROC_TRACE)
    std::unique_ptr<QueueService> queues_;  // rank 0
    CallbackThread callbacks_;              // rank 0: where the Pools' callbacks run
    // Rank 0. Shared with the Pools, which may outlive the run (a Pool kept in a static): the
    // runtime shuts it when it ends, and its calls then throw or do nothing.
    std::shared_ptr<PoolService> pools_;
    std::atomic<std::uint64_t> next_request_{1};
};

// The current runtime, or an Error saying `what` works only inside mproc::run.
Runtime& runtime(const char* what);

// This rank's facts: valid inside mproc::run; rank 0 of size 1 outside it.
const RuntimeInfo& runtime_info() noexcept;

}  // namespace mproc::detail
