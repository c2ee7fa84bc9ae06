#include "engine/worker.hpp"

#include <array>

#include "base/execute.hpp"
#include "base/protocol.hpp"
#include "shared/remote_actions.hpp"
#include "transport/wait.hpp"

namespace mproc::detail {

namespace {

// Where a worker's task messages come from and its result messages go: its master by MPI,
// or the two rings it shares with its group's leader (relay_rings.hpp), with MPI for what is
// too large for a ring.
class MasterLink {
  public:
    MasterLink(const Communicator& comm, int master, RelayRing* down, RelayRing* up)
        : comm_(comm), master_(master), down_(down), up_(up) {}

    // The next message from the master into `in`, if one is there: its tag (kTagTask,
    // kTagControl, or kTagAction from rank 0).
    std::optional<int> try_take(Buffer& in) {
        if (down_ == nullptr) {
            const auto arrival = try_receive(comm_.get(), master_, MPI_ANY_TAG, in);
            if (!arrival) return std::nullopt;
            return arrival->tag;
        }
        if (!by_mpi_) {
            const auto kind = relay_read(*down_, in);
            if (!kind) return std::nullopt;
            if (*kind == RelayKind::stop) return kTagControl;
            if (*kind == RelayKind::message) return kTagTask;
            by_mpi_ = true;  // a large message: it comes by MPI, and it is next
        }
        if (!try_receive(comm_.get(), master_, kTagTask, in)) return std::nullopt;
        by_mpi_ = false;
        return kTagTask;
    }

    // How a wait for the next message sleeps: on the ring's futex, which the leader's write
    // ends, or the default (a plain sleep) when messages come by MPI.
    std::function<void(std::chrono::microseconds)> sleep() {
        if (down_ == nullptr || by_mpi_) return {};
        return [this](std::chrono::microseconds d) { relay_sleep(*down_, d); };
    }

    // Sends the results in `slot` to the master.
    void send(Send& slot) {
        if (up_ == nullptr) {
            slot.start(comm_.get(), master_, kTagResult);
            return;
        }
        if (slot.buffer.size() > kRelayInlineBytes) {
            slot.start(comm_.get(), master_, kTagResult);
            write_up(RelayKind::by_mpi, slot.buffer.data(), 0);
        } else {
            write_up(RelayKind::message, slot.buffer.data(), slot.buffer.size());
        }
    }

    // Whether messages come through rings.
    bool rings() const { return down_ != nullptr; }

    // Tells the leader this worker has taken its stop and writes nothing more.
    void stopped() {
        if (up_ != nullptr) write_up(RelayKind::stop, nullptr, 0);
    }

  private:
    void write_up(RelayKind kind, const char* data, std::size_t size) {
        // The leader reads every ring it serves each turn: a full ring empties soon.
        wait_until([&] { return relay_write(*up_, kind, data, size); });
    }

    const Communicator& comm_;
    const int master_;
    RelayRing* const down_;
    RelayRing* const up_;
    bool by_mpi_ = false;  // the ring said the next message comes by MPI
};

}  // namespace

int serve(const Communicator& comm, int master, RelayRing* down, RelayRing* up,
          RemoteActions& actions, const Place& here) {
    tighten_timer_slack();
    MasterLink link(comm, master, down, up);
    // Result messages in flight back to the master; it is always receiving, so they drain
    // quickly, and a slot is free again long before the ring comes round.
    std::array<Send, 4> slots;
    std::size_t next = 0;
    Buffer in;
    ChunkRunner runner(here);
    for (;;) {
        std::optional<int> tag;
        wait_until(
            [&] {
                tag = link.try_take(in);
                if (tag) return true;
                actions.poll();  // an idle worker runs what other ranks ask of it
                // A large result sent by MPI while tasks come through the rings: across some
                // transports (TCP) its bytes move only while this rank calls MPI. (Without
                // rings, try_take's receive does that; a test per slot there would only add
                // MPI progress calls to every poll: -25% on tiny tasks.)
                if (link.rings())
                    for (Send& s : slots) s.done();
                return false;
            },
            {.policy = kIdleWorker, .sleep = link.sleep()});
        if (*tag == kTagControl) break;
        if (*tag == kTagAction) {  // rank 0 (as master) asks for an action this rank keeps
            actions.take(in, 0);
            continue;
        }

        Send& slot = slots[next];
        next = (next + 1) % slots.size();
        slot.wait();
        slot.buffer.clear();
        for_each_part<TaskHeader>(in.data(), in.size(), "task",
                                  [&](const TaskHeader& header, const char* args) {
                                      runner.run(header, args, slot.buffer);
                                  });
        link.send(slot);
    }
    link.stopped();
    for (Send& s : slots) s.wait();
    return 0;
}

}  // namespace mproc::detail
