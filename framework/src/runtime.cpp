#include "mproc/runtime.hpp"

#include <mpi.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>

#include "engine.hpp"
#include "mpi.hpp"
#include "mproc/detail/registry.hpp"
#include "rings.hpp"
#include "runtime_state.hpp"
#include "window.hpp"
#include "worker.hpp"

namespace mproc {
namespace detail {
namespace {

RuntimeInfo g_info;

std::string host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0) return "unknown-host";
    return name;
}

// Initialises MPI unless the program already did, and finalises only what it initialised.
class MpiSession {
  public:
    MpiSession(int& argc, char**& argv) {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            int provided = 0;
            // Only rank 0's main thread calls MPI (see ARCHITECTURE.md), so FUNNELED suffices,
            // and it is what osc/pt2pt accepts.
            check(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
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

// The window under shared objects, open for the whole run on every rank (collective).
class SharedWindowScope {
  public:
    explicit SharedWindowScope(MPI_Comm comm) {
        open_shared_window(comm);
        open_node_segment(comm);
    }
    ~SharedWindowScope() {
        close_node_segment();
        close_shared_window();
    }
    SharedWindowScope(const SharedWindowScope&) = delete;
    SharedWindowScope& operator=(const SharedWindowScope&) = delete;
};

void print_exception(const char* where, std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        std::cerr << "mproc: " << where << " threw " << demangle(typeid(ex).name()) << ": "
                  << ex.what() << std::endl;
    } catch (...) {
        std::cerr << "mproc: " << where << " threw a non-standard exception" << std::endl;
    }
}

int run_master(const Communicator& comm, const std::function<void()>& main_fn) {
    Engine engine(comm);
    std::exception_ptr error;
    // The user's code runs on its own thread; this thread stays in the engine, the only one
    // that calls MPI.
    std::thread user([&] {
        try {
            main_fn();
        } catch (...) {
            error = std::current_exception();
        }
        engine.stop();
    });
    try {
        engine.loop();
    } catch (...) {
        // The engine cannot go on (an MPI failure): end every rank rather than hang any.
        print_exception("the mproc engine on rank 0", std::current_exception());
        MPI_Abort(comm.get(), 1);
    }
    user.join();
    if (error) {
        print_exception("the main function on rank 0", error);
        return 1;
    }
    return 0;
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

}  // namespace

const RuntimeInfo& runtime_info() noexcept {
    return g_info;
}

}  // namespace detail

int run(int argc, char** argv, std::function<void()> main_fn) {
    using namespace detail;
    // Under mpirun, a rank whose launcher is killed (kill -9 mpirun) would otherwise run on
    // as an orphan, still writing results; the kernel ends it with its launcher instead.
    if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) return 1;  // the launcher died before we could ask
    }
    if (!registration_errors().empty()) {
        std::cerr << registration_errors();
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
    int code = 0;
    {
        Communicator comm;
        g_info = RuntimeInfo{comm.rank(), comm.size(), host_name(), {}};
        g_info.hosts = gather_hosts(comm, g_info.host);
        SharedWindowScope shared(comm.get());
        if (comm.rank() == 0) {
            code = run_master(comm, main_fn);
        } else {
            try {
                code = serve(comm);
            } catch (...) {
                print_exception(("worker rank " + std::to_string(comm.rank())).c_str(),
                                std::current_exception());
                MPI_Abort(comm.get(), 1);
            }
        }
    }
    g_info = RuntimeInfo{0, 1, g_info.host, {}};
    return code;
}

int worker_count() {
    return detail::runtime_info().size - 1;
}

}  // namespace mproc
