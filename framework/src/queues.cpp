// Queues and pipes: rank 0's service and every rank's client (mproc/detail/queue_ops.hpp).

#include "queues.hpp"

#include <atomic>
#include <cstring>
#include <future>
#include <optional>
#include <utility>

#include "backoff.hpp"
#include "engine.hpp"
#include "interrupt.hpp"
#include "mpi.hpp"
#include "window.hpp"

namespace mproc::detail {

std::vector<char> pack_batch(const std::vector<std::vector<char>>& items) {
    std::vector<char> out(sizeof(std::uint32_t));
    const auto count = static_cast<std::uint32_t>(items.size());
    std::memcpy(out.data(), &count, sizeof count);
    for (const auto& item : items) {
        const std::uint64_t size = item.size();
        const std::size_t at = out.size();
        out.resize(at + sizeof size + item.size());
        std::memcpy(out.data() + at, &size, sizeof size);
        if (size > 0) std::memcpy(out.data() + at + sizeof size, item.data(), item.size());
    }
    return out;
}

std::vector<std::vector<char>> unpack_batch(const std::vector<char>& bytes) {
    std::uint32_t count = 0;
    if (bytes.size() < sizeof count) throw Error("mproc: internal error: short batch of items");
    std::memcpy(&count, bytes.data(), sizeof count);
    std::vector<std::vector<char>> items;
    std::size_t at = sizeof count;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint64_t size = 0;
        if (at + sizeof size > bytes.size()) throw Error("mproc: internal error: torn batch");
        std::memcpy(&size, bytes.data() + at, sizeof size);
        at += sizeof size;
        if (at + size > bytes.size()) throw Error("mproc: internal error: torn batch");
        items.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                           bytes.begin() + static_cast<std::ptrdiff_t>(at + size));
        at += size;
    }
    return items;
}

// ---- Rank 0: the service ------------------------------------------------------------------

void QueueService::handle(const QueueRequestHeader& h, std::vector<char> payload, int origin,
                          Respond respond) {
    if (h.op == QueueOp::cancel) {
        cancel(origin, h.request);  // answered through the request it cancels
        return;
    }
    Queue& q = queues_[h.queue];
    if (h.maxsize > 0) q.maxsize = h.maxsize;
    const auto deadline = h.timeout_ns < 0 ? Clock::time_point::max()
                                           : Clock::now() + std::chrono::nanoseconds(h.timeout_ns);
    auto reply = [&](QueueStatus s, std::uint64_t value = 0, std::vector<char> item = {}) {
        answer(origin, h.request, respond, QueueReply{s, value, std::move(item)});
    };
    auto wait_in = [&](std::deque<Waiting>& list, std::vector<char> item = {}) {
        if (h.timeout_ns == 0) return reply(QueueStatus::timeout);
        if (deadline != Clock::time_point::max()) ++timed_;
        list.push_back(
            Waiting{origin, h.request, deadline, std::move(respond), std::move(item), h.want});
    };
    switch (h.op) {
        case QueueOp::push:
            q.items.push_back(std::move(payload));  // never full (unbounded), nobody to answer
            ++q.unfinished;
            break;
        case QueueOp::put:
            if (q.closed) return reply(QueueStatus::closed);
            if (full(q)) return wait_in(q.putters, std::move(payload));
            q.items.push_back(std::move(payload));
            ++q.unfinished;
            reply(QueueStatus::ok);
            break;
        case QueueOp::get:
            if (!q.items.empty()) {
                auto [count, items] = take(q, h.want);
                reply(QueueStatus::ok, count, std::move(items));
                break;
            }
            if (q.closed) return reply(QueueStatus::closed);
            return wait_in(q.getters);
        case QueueOp::unget: {
            // [count][size][bytes]...: back to the front, in their order.
            std::vector<std::vector<char>> back = unpack_batch(payload);
            for (auto it = back.rbegin(); it != back.rend(); ++it)
                q.items.push_front(std::move(*it));
            break;
        }
        case QueueOp::poll:
            if (!q.items.empty() || q.closed) return reply(QueueStatus::ok, q.items.size());
            return wait_in(q.pollers);
        case QueueOp::size:
            return reply(QueueStatus::ok, q.items.size());
        case QueueOp::close:
            q.closed = true;
            reply(QueueStatus::ok);
            break;
        case QueueOp::task_done:
            if (q.unfinished == 0) return reply(QueueStatus::misuse);
            --q.unfinished;
            reply(QueueStatus::ok);
            break;
        case QueueOp::join:
            if (q.unfinished == 0) return reply(QueueStatus::ok);
            return wait_in(q.joiners);
        case QueueOp::cancel:
            break;
    }
    settle(q);
}

constexpr std::size_t kBatchBytes = 64 * 1024;

// Takes what a get asked for: one item as it is, or (want > 1) up to `want` items packed
// together, never more than half of what waits, so other consumers find some too.
std::pair<std::uint64_t, std::vector<char>> QueueService::take(Queue& q, std::uint32_t want) {
    if (want <= 1) {
        std::vector<char> item = std::move(q.items.front());
        q.items.pop_front();
        return {1, std::move(item)};
    }
    const std::size_t n = std::min<std::size_t>(want, std::max<std::size_t>(1, q.items.size() / 2));
    std::vector<std::vector<char>> batch;
    std::size_t bytes = 0;
    // Large items gain nothing from batching and cost copies: at most ~64 KiB per batch.
    while (batch.size() < n && (batch.empty() || bytes + q.items.front().size() <= kBatchBytes)) {
        bytes += q.items.front().size();
        batch.push_back(std::move(q.items.front()));
        q.items.pop_front();
    }
    return {batch.size(), pack_batch(batch)};
}

// After a change: admits waiting putters while there is room, hands items to waiting getters
// (oldest first), and answers pollers, joiners, and getters of a closed, drained queue.
void QueueService::settle(Queue& q) {
    auto answer = [this](Waiting& w, QueueReply r) {
        if (w.deadline != Clock::time_point::max()) --timed_;
        this->answer(w.origin, w.request, w.respond, std::move(r));
    };
    for (bool changed = true; changed;) {
        changed = false;
        while (!q.putters.empty() && !full(q) && !q.closed) {
            Waiting w = std::move(q.putters.front());
            q.putters.pop_front();
            q.items.push_back(std::move(w.item));
            ++q.unfinished;
            answer(w, QueueReply{QueueStatus::ok, 0, {}});
        }
        while (!q.getters.empty() && !q.items.empty()) {
            Waiting w = std::move(q.getters.front());
            q.getters.pop_front();
            auto [count, items] = take(q, w.want);
            answer(w, QueueReply{QueueStatus::ok, count, std::move(items)});
            changed = true;  // room for a putter
        }
    }
    auto answer_all = [&](std::deque<Waiting>& list, QueueStatus s, std::uint64_t value) {
        for (Waiting& w : list) answer(w, QueueReply{s, value, {}});
        list.clear();
    };
    if (q.closed) {
        answer_all(q.putters, QueueStatus::closed, 0);
        if (q.items.empty()) answer_all(q.getters, QueueStatus::closed, 0);
    }
    if (!q.items.empty() || q.closed) answer_all(q.pollers, QueueStatus::ok, q.items.size());
    if (q.unfinished == 0) answer_all(q.joiners, QueueStatus::ok, 0);
}

void QueueService::cancel(int origin, std::uint64_t request) {
    for (auto& [id, q] : queues_) {
        for (auto* list : {&q.getters, &q.putters, &q.pollers, &q.joiners}) {
            for (auto it = list->begin(); it != list->end(); ++it) {
                if (it->origin != origin || it->request != request) continue;
                Waiting w = std::move(*it);
                list->erase(it);
                if (w.deadline != Clock::time_point::max()) --timed_;
                answer(w.origin, w.request, w.respond, QueueReply{QueueStatus::cancelled, 0, {}});
                settle(q);  // a cancelled put may have been holding back nothing; getters may move
                return;
            }
        }
    }
    // Not waiting (any more): its answer is already on its way.
}

void QueueService::expire() {
    for (auto it = sends_.begin(); it != sends_.end();) {
        int done = 0;
        check(MPI_Test(&it->request, &done, MPI_STATUS_IGNORE), "MPI_Test");
        it = done ? sends_.erase(it) : std::next(it);
    }
    if (timed_ == 0) return;  // (the engine calls this every turn: no clock read unless needed)
    const auto now = Clock::now();
    for (auto& [id, q] : queues_) {
        for (auto* list : {&q.getters, &q.putters, &q.pollers, &q.joiners}) {
            for (auto it = list->begin(); it != list->end();) {
                if (it->deadline > now) {
                    ++it;
                    continue;
                }
                Waiting w = std::move(*it);
                it = list->erase(it);
                --timed_;
                answer(w.origin, w.request, w.respond, QueueReply{QueueStatus::timeout, 0, {}});
            }
        }
    }
}

std::optional<QueueService::Clock::time_point> QueueService::next_deadline() const {
    if (timed_ == 0) return std::nullopt;
    std::optional<Clock::time_point> best;
    for (const auto& [id, q] : queues_)
        for (const auto* list : {&q.getters, &q.putters, &q.pollers, &q.joiners})
            for (const Waiting& w : *list)
                if (w.deadline != Clock::time_point::max() && (!best || w.deadline < *best))
                    best = w.deadline;
    return best;
}

// Local requests carry their own `respond`; a worker's is answered with a reply message.
void QueueService::answer(int origin, std::uint64_t request, const Respond& respond, QueueReply r) {
    if (respond) {
        respond(std::move(r));
        return;
    }
    const QueueReplyHeader rh{request, r.value, r.status, 0};
    if (r.payload.empty()) {
        // Small: sent eagerly, so the blocking send completes at once (a worker has at most
        // one request out, so its receive buffers cannot be full).
        check(MPI_Send(&rh, sizeof rh, MPI_BYTE, origin, kTagQueueReply, comm_), "MPI_Send");
        return;
    }
    Send& s = sends_.emplace_back();
    s.buffer.resize(sizeof rh + r.payload.size());
    std::memcpy(s.buffer.data(), &rh, sizeof rh);
    std::memcpy(s.buffer.data() + sizeof rh, r.payload.data(), r.payload.size());
    check(MPI_Isend(s.buffer.data(), static_cast<int>(s.buffer.size()), MPI_BYTE, origin,
                    kTagQueueReply, comm_, &s.request),
          "MPI_Isend");
}

bool QueueService::poll_remote(MPI_Comm comm) {
    bool any = false;
    for (int i = 0; i < 64; ++i) {
        const auto arrival = try_receive(comm, MPI_ANY_SOURCE, kTagQueue, receive_);
        if (!arrival) break;
        any = true;
        QueueRequestHeader h;
        if (receive_.size() < sizeof h) throw Error("mproc: internal error: short queue request");
        std::memcpy(&h, receive_.data(), sizeof h);
        std::vector<char> item(receive_.begin() + sizeof h, receive_.end());
        comm_ = comm;
        handle(h, std::move(item), arrival->source, nullptr);  // answered by answer()
    }
    return any;
}

// ---- Every rank: the client ---------------------------------------------------------------

namespace {

std::atomic<std::uint64_t> g_next_request{1};

// Waits for `ready()`, serving what must be served meanwhile; on a terminate request, calls
// `cancel()` once and goes on waiting for the (single) answer.
//
// Sleeps stay short (50 µs) for the first 20 ms: two processes talking through queues each
// wait for the other, and longer sleeps on both sides settle into taking turns at sleeping
// (measured: 160 worker-to-worker round trips/s with sleeps growing to 1 ms, 77 k/s with this).
// A wait that lasts longer is a process with nothing to do; it sleeps up to a millisecond.
template <class Ready, class Cancel>
void wait_answer(Ready&& ready, Cancel&& cancel) {
    Backoff backoff(std::chrono::microseconds(20), std::chrono::microseconds(500));
    bool cancelled = false;
    while (!ready()) {
        if (!cancelled && interrupt_requested()) {
            cancel();
            cancelled = true;
        }
        serve_engine_calls();
        const bool talking = backoff.idle_for() < std::chrono::milliseconds(20);
        backoff.pause(talking ? std::chrono::microseconds(50) : Backoff::kMaxSleep);
    }
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
    QueueRequestHeader h{queue,
                         g_next_request.fetch_add(1),
                         timeout.count() < 0 ? -1 : timeout.count(),
                         op,
                         maxsize,
                         want,
                         0};
    QueueRequestHeader cancel = h;  // what a terminate request sends while this one waits
    cancel.op = QueueOp::cancel;
    const bool engine_thread = on_mpi_thread() && window_rank() == 0;
    if (window_rank() == 0) {
        Engine* engine = Engine::current();
        if (engine == nullptr) throw Error("mproc queues and pipes work only inside mproc::run");
        std::vector<char> item = payload ? *payload : std::vector<char>{};
        if (no_reply) {
            if (engine_thread) {
                engine->queues().handle(h, std::move(item), 0, nullptr);
            } else {
                engine->post_call([engine, h, item = std::move(item)]() mutable {
                    engine->queues().handle(h, std::move(item), 0, nullptr);
                });
            }
            return QueueReply{};
        }
        if (engine_thread) {
            // A task running on the engine thread itself (one rank): serve it right here.
            std::optional<QueueReply> got;
            engine->queues().handle(h, std::move(item), 0,
                                    [&](QueueReply r) { got = std::move(r); });
            wait_answer(
                [&] {
                    engine->queues().expire();
                    return got.has_value();
                },
                [&] { engine->queues().handle(cancel, {}, 0, nullptr); });
            return finish(std::move(*got));
        }
        auto promise = std::make_shared<std::promise<QueueReply>>();
        auto future = promise->get_future();
        engine->call([&] {
            engine->queues().handle(h, std::move(item), 0,
                                    [promise](QueueReply r) { promise->set_value(std::move(r)); });
        });
        wait_answer(
            [&] {
                return future.wait_for(std::chrono::microseconds(0)) == std::future_status::ready;
            },
            [&] { engine->call([&] { engine->queues().handle(cancel, {}, 0, nullptr); }); });
        return finish(future.get());
    }

    // A worker: one request message to rank 0, one reply back.
    if (!on_mpi_thread())
        throw Error("mproc queues are used from the task's own thread on workers");
    MPI_Comm comm = mproc_comm();
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

// A queue this worker thread gave items back to, not yet known to have them (settle_released).
thread_local std::optional<std::pair<std::uint64_t, std::uint32_t>> t_unsettled;

void release_prefetched() {
    for (auto& [queue, p] : t_prefetched) {
        if (p.items.empty()) continue;
        std::vector<std::vector<char>> items(std::make_move_iterator(p.items.begin()),
                                             std::make_move_iterator(p.items.end()));
        p.items.clear();
        const std::vector<char> batch = pack_batch(items);
        queue_call(QueueOp::unget, queue, p.maxsize, {}, &batch);
        if (window_rank() != 0) t_unsettled.emplace(queue, p.maxsize);
    }
}

void settle_released() {
    if (!t_unsettled) return;
    const auto [queue, maxsize] = *t_unsettled;
    t_unsettled.reset();
    // Requests from one rank on the queue channel are served in order: once this one is
    // answered, every give-back sent before it has been served.
    queue_call(QueueOp::size, queue, maxsize, {}, nullptr);
}

}  // namespace mproc::detail
