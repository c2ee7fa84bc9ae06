#include "worker.hpp"

#include <array>

#include "execute.hpp"
#include "protocol.hpp"
#include "remote_actions.hpp"
#include "task_child.hpp"
#include "wait.hpp"

namespace mproc::detail {

int serve(const Communicator& comm, int master, RemoteActions& actions) {
    tighten_timer_slack();
    // Result messages in flight back to the master; it is always receiving, so they drain
    // quickly, and a slot is free again long before the ring comes round.
    std::array<Send, 4> slots;
    std::size_t next = 0;
    Buffer in;
    TaskChild child;  // for pools whose tasks run in a child process (maxtasksperchild, isolate)
    for (;;) {
        std::optional<Arrival> arrival;
        wait_until(
            [&] {
                arrival = try_receive(comm.get(), master, MPI_ANY_TAG, in);
                if (!arrival) actions.poll();  // an idle worker runs what other ranks ask of it
                return arrival.has_value();
            },
            {.policy = kIdleWorker});
        if (arrival->tag == kTagControl) break;
        if (arrival->tag == kTagAction) {  // rank 0 (as master) asks for an action this rank keeps
            actions.take(in, arrival->source);
            continue;
        }

        Send& slot = slots[next];
        next = (next + 1) % slots.size();
        slot.wait();
        slot.buffer.clear();
        for_each_part<TaskHeader>(in.data(), in.size(), "task",
                                  [&](const TaskHeader& header, const char* args) {
                                      if (header.child_tasks != 0) {
                                          child.run(header, args, slot.buffer);
                                      } else {
                                          // The rank's state may change: a child forked
                                          // from now on sees it (a pool's initializer).
                                          child.stop();
                                          execute_chunk(header, args, slot.buffer);
                                      }
                                  });
        slot.start(comm.get(), master, kTagResult);
    }
    for (Send& s : slots) s.wait();
    return 0;
}

}  // namespace mproc::detail
