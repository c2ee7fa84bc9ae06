#include "worker.hpp"

#include <array>
#include <cstring>

#include "backoff.hpp"
#include "execute.hpp"
#include "protocol.hpp"

namespace mproc::detail {

int serve(const Communicator& comm) {
    tighten_timer_slack();
    struct Slot {
        Buffer buffer;
        MPI_Request request = MPI_REQUEST_NULL;
    };
    // Result messages in flight back to rank 0; rank 0 is always receiving, so they drain
    // quickly, and a slot is free again long before the ring comes round.
    std::array<Slot, 4> slots;
    std::size_t next = 0;
    Buffer in;
    // Yield for a millisecond before sleeping: rank 0 refills a worker within microseconds
    // while a map runs, and an idle worker then sleeps.
    Backoff backoff(std::chrono::microseconds(20), std::chrono::microseconds(1000));
    for (;;) {
        const auto arrival = try_receive(comm.get(), 0, MPI_ANY_TAG, in);
        if (!arrival) {
            backoff.pause();
            continue;
        }
        backoff.reset();
        if (arrival->tag == kTagControl) break;

        Slot& slot = slots[next];
        next = (next + 1) % slots.size();
        check(MPI_Wait(&slot.request, MPI_STATUS_IGNORE), "MPI_Wait");
        slot.buffer.clear();
        for_each_part<TaskHeader>(in.data(), in.size(), "task",
                                  [&](const TaskHeader& header, const char* args) {
                                      execute_chunk(header, args, slot.buffer);
                                  });
        check(MPI_Isend(slot.buffer.data(), static_cast<int>(slot.buffer.size()), MPI_BYTE, 0,
                        kTagResult, comm.get(), &slot.request),
              "MPI_Isend");
    }
    for (Slot& s : slots) check(MPI_Wait(&s.request, MPI_STATUS_IGNORE), "MPI_Wait");
    return 0;
}

}  // namespace mproc::detail
