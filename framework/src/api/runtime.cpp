#include "mproc/runtime.hpp"

#include <mpi.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

#include "mproc/detail/registry.hpp"
#include "runtime/runtime_state.hpp"

namespace mproc {
namespace {

// Initialises MPI unless the program already did, and finalises only what it initialised.
class MpiSession {
  public:
    MpiSession(int& argc, char**& argv) {
        int initialized = 0;
        detail::check(MPI_Initialized(&initialized), "MPI_Initialized");
        if (!initialized) {
            int provided = 0;
            // Only one thread of a rank calls MPI (see ARCHITECTURE.md), so FUNNELED suffices,
            // and it is what osc/pt2pt accepts.
            detail::check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided),
                          "MPI_Init_thread");
            owned_ = true;
        }
    }
    ~MpiSession() {
        if (owned_) MPI_Finalize();
    }
    MpiSession(const MpiSession&) = delete;
    MpiSession& operator=(const MpiSession&) = delete;

  private:
    bool owned_ = false;
};

}  // namespace

int run(int argc, char** argv, std::function<void()> main_fn) {
    // Under mpirun, a rank whose launcher is killed (kill -9 mpirun) would otherwise run on
    // as an orphan, still writing results; the kernel ends it with its launcher instead.
    if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) return 1;  // the launcher died before we could ask
    }
    if (!detail::registration_errors().empty()) {
        std::cerr << detail::registration_errors();
        return 2;
    }
    // Shared objects need one-sided windows that work. Debian's default component, rdma, is
    // chosen over sm whenever it is allowed (priority 101), crashes on 64-bit
    // compare-and-swap in Open MPI 4.1.4 and fails across hosts over TCP; sm serves
    // MPI_Win_allocate on one node and is the fastest, pt2pt works across nodes (measured
    // on Debian 12's Open MPI 4.1.4; see the README's "Shared values and locks"). A
    // setting of the user's own wins.
    setenv("OMPI_MCA_osc", "sm,pt2pt", 0);
    MpiSession session(argc, argv);
    detail::Runtime runtime;
    return runtime.run(main_fn);
}

int rank_count() {
    return detail::runtime_info().size;
}

int worker_count() {
    return detail::runtime_info().workers;
}

WorkerSlot worker_slot() {
    return detail::runtime_info().slot;
}

}  // namespace mproc
