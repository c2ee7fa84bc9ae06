// Every rank's side of queues and pipes (mproc/detail/queue_ops.hpp): a request to rank 0's
// queue service, and its answer. On rank 0 the request goes to the service through the MPI
// thread; on a worker it is one message to rank 0 and one reply back.

#include <cstring>
#include <future>
#include <optional>
#include <utility>

#include "base/interrupt.hpp"
#include "mproc/detail/queue_ops.hpp"
#include "services/queue_service.hpp"
#include "runtime/runtime_state.hpp"
#include "transport/wait.hpp"

namespace mproc::detail {

namespace {

// Waits for `ready()`, in a conversation with rank 0 (wait.hpp); on a terminate request,
// calls `cancel()` once and goes on waiting for the (single) answer.
template <class Ready, class Cancel>
void wait_answer(Ready&& ready, Cancel&& cancel) {
    const WaitFor how{.policy = kConversation, .interruptible = true};
    if (wait_until(ready, how) == Waited::ready) return;
    cancel();
    wait_until(ready, {.policy = kConversation});
}

QueueReply finish(QueueReply r) {
    if (r.status == QueueStatus::cancelled) throw_terminated();
    return r;
}

}  // namespace

std::uint64_t new_queue_id() {
    return shared_alloc(8);  // unique for the run, with no message to anyone
}

QueueReply queue_call(QueueOp op, std::uint64_t queue, std::uint32_t maxsize,
                      std::chrono::nanoseconds timeout, const std::vector<char>* payload,
                      std::uint32_t want) {
    const bool no_reply = op == QueueOp::push || op == QueueOp::unget;
    // Not for those: an unget runs inside other waits (a lock's queue among them), which must
    // not be left half-way.
    if (!no_reply) check_interrupt();
    // About to wait for something: hold no item taken ahead from any queue meanwhile.
    if (op == QueueOp::get || op == QueueOp::put || op == QueueOp::poll || op == QueueOp::join)
        release_prefetched();
    // Checked on every rank: an item put on rank 0 may be read by a worker.
    if (payload != nullptr)
        check_message_size(payload->size() + sizeof(QueueRequestHeader), "a queue item");
    Runtime& rt = runtime("mproc queues and pipes");
    MpiThread& mpi = rt.mpi_thread();
    QueueRequestHeader h{
        queue, rt.next_request(), timeout.count() < 0 ? -1 : timeout.count(), op, maxsize, want, 0};
    QueueRequestHeader cancel = h;  // what a terminate request sends while this one waits
    cancel.op = QueueOp::cancel;
    const bool mpi_thread = MpiThread::here() == &mpi;
    if (rt.comm().rank() == 0) {
        QueueService& service = rt.queues();
        std::vector<char> item = payload ? *payload : std::vector<char>{};
        if (no_reply) {
            if (mpi_thread) {
                service.handle(h, std::move(item), 0, nullptr);
            } else {
                mpi.post_call([&service, h, item = std::move(item)]() mutable {
                    service.handle(h, std::move(item), 0, nullptr);
                });
            }
            return QueueReply{};
        }
        if (mpi_thread) {
            // A task running on the MPI thread itself (one rank): serve it right here.
            std::optional<QueueReply> got;
            service.handle(h, std::move(item), 0, [&](QueueReply r) { got = std::move(r); });
            wait_answer(
                [&] {
                    service.expire();
                    return got.has_value();
                },
                [&] { service.handle(cancel, {}, 0, nullptr); });
            return finish(std::move(*got));
        }
        auto promise = std::make_shared<std::promise<QueueReply>>();
        auto future = promise->get_future();
        mpi.call([&] {
            service.handle(h, std::move(item), 0,
                           [promise](QueueReply r) { promise->set_value(std::move(r)); });
        });
        wait_answer(
            [&] {
                return future.wait_for(std::chrono::microseconds(0)) == std::future_status::ready;
            },
            [&] { mpi.call([&] { service.handle(cancel, {}, 0, nullptr); }); });
        return finish(future.get());
    }

    // A worker: one request message to rank 0, one reply back.
    if (!mpi_thread) throw Error("mproc queues are used from the task's own thread on workers");
    MPI_Comm comm = rt.comm().get();
    std::vector<char> message(sizeof h + (payload ? payload->size() : 0));

    std::memcpy(message.data(), &h, sizeof h);
    if (payload && !payload->empty())
        std::memcpy(message.data() + sizeof h, payload->data(), payload->size());
    check(MPI_Send(message.data(), static_cast<int>(message.size()), MPI_BYTE, 0, kTagQueue, comm),
          "MPI_Send");
    if (no_reply) return QueueReply{};  // messages from one rank keep their order
    std::vector<char> in;
    wait_answer(
        [&] { return try_receive(comm, 0, kTagQueueReply, in).has_value(); },
        [&] { check(MPI_Send(&cancel, sizeof cancel, MPI_BYTE, 0, kTagQueue, comm), "MPI_Send"); });
    QueueReplyHeader rh;
    if (in.size() < sizeof rh)
        throw Error("mproc: a malformed queue reply: " + std::to_string(in.size()) +
                    " bytes, fewer than its header's " + std::to_string(sizeof rh));
    std::memcpy(&rh, in.data(), sizeof rh);
    if (rh.request != h.request) throw Error("mproc: internal error: a queue reply out of turn");
    return finish(
        QueueReply{rh.status, rh.value, std::vector<char>(in.begin() + sizeof rh, in.end())});
}

namespace {

struct Prefetched {
    std::deque<std::vector<char>> items;
    std::uint32_t maxsize = 0;
    std::chrono::steady_clock::time_point last_get{};
};
thread_local std::unordered_map<std::uint64_t, Prefetched> t_prefetched;

}  // namespace

std::vector<char> queue_get(std::uint64_t queue, std::uint32_t maxsize,
                            std::chrono::nanoseconds timeout, bool& timed_out) {
    using Clock = std::chrono::steady_clock;
    timed_out = false;
    Prefetched& mine = t_prefetched[queue];
    if (!mine.items.empty()) {
        check_interrupt();
        std::vector<char> item = std::move(mine.items.front());
        mine.items.pop_front();
        mine.last_get = Clock::now();
        return item;
    }
    release_prefetched();  // this get may wait
    // Only a Process reading in a tight loop takes ahead (its items go back when it ends); a
    // slow consumer takes one at a time, as the others do.
    const bool tight =
        in_process_context() && Clock::now() - mine.last_get < std::chrono::microseconds(50);
    const std::uint32_t want = tight ? 32 : 1;
    QueueReply r = queue_call(QueueOp::get, queue, maxsize, timeout, nullptr, want);
    Prefetched& again = t_prefetched[queue];  // (the map may have changed meanwhile)
    again.last_get = Clock::now();
    if (r.status == QueueStatus::timeout) {
        timed_out = true;
        return {};
    }
    if (want == 1) return std::move(r.payload);
    std::vector<std::vector<char>> items = unpack_batch(r.payload);
    again.maxsize = maxsize;
    for (std::size_t i = 1; i < items.size(); ++i) again.items.push_back(std::move(items[i]));
    return std::move(items.front());
}

// A queue this worker thread gave items back to, not yet known to have them (confirm_given_back).
thread_local std::optional<std::pair<std::uint64_t, std::uint32_t>> t_given_back;

void release_prefetched() {
    for (auto& [queue, p] : t_prefetched) {
        if (p.items.empty()) continue;
        std::vector<std::vector<char>> items(std::make_move_iterator(p.items.begin()),
                                             std::make_move_iterator(p.items.end()));
        p.items.clear();
        const std::vector<char> batch = pack_batch(items);
        queue_call(QueueOp::unget, queue, p.maxsize, {}, &batch);
        if (runtime_info().rank != 0) t_given_back.emplace(queue, p.maxsize);
    }
}

void confirm_given_back() {
    if (!t_given_back) return;
    const auto [queue, maxsize] = *t_given_back;
    t_given_back.reset();
    // Requests from one rank on the queue channel are served in order: once this one is
    // answered, every give-back sent before it has been served.
    queue_call(QueueOp::size, queue, maxsize, {}, nullptr);
}

}  // namespace mproc::detail
