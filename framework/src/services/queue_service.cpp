// Rank 0's side of every queue and pipe (mproc/detail/queue_ops.hpp).

#include "services/queue_service.hpp"

#include <cstring>
#include <utility>

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
    serve_waiting(q);
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
void QueueService::serve_waiting(Queue& q) {
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
                serve_waiting(
                    q);  // a cancelled put may have been holding back nothing; getters may move
                return;
            }
        }
    }
    // Not waiting (any more): its answer is already on its way.
}

void QueueService::expire() {
    for (auto it = sends_.begin(); it != sends_.end();)
        it = it->done() ? sends_.erase(it) : std::next(it);
    if (timed_ == 0) return;  // (called every turn of the loop: no clock read unless needed)
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
        check(MPI_Send(&rh, sizeof rh, MPI_BYTE, origin, kTagQueueReply, comm_.get()), "MPI_Send");
        return;
    }
    Send& s = sends_.emplace_back();
    s.buffer.resize(sizeof rh + r.payload.size());
    std::memcpy(s.buffer.data(), &rh, sizeof rh);
    std::memcpy(s.buffer.data() + sizeof rh, r.payload.data(), r.payload.size());
    s.start(comm_.get(), origin, kTagQueueReply);
}

bool QueueService::poll() {
    const bool any = receive_arrived(comm_.get(), kTagQueue, receive_, 64, [&](Arrival arrival) {
        QueueRequestHeader h;
        if (receive_.size() < sizeof h)
            throw Error("mproc: a malformed queue request from rank " +
                        std::to_string(arrival.source) + ": " + std::to_string(receive_.size()) +
                        " bytes, fewer than its header's " + std::to_string(sizeof h));
        std::memcpy(&h, receive_.data(), sizeof h);
        std::vector<char> item(receive_.begin() + sizeof h, receive_.end());
        handle(h, std::move(item), arrival.source, nullptr);  // answered by answer()
    });
    if (any) last_remote_ = Clock::now();
    expire();
    return any;
}

std::optional<MpiThread::Patience> QueueService::poll_again_in() const {
    const auto now = Clock::now();
    if (now - last_remote_ < std::chrono::milliseconds(20))
        return MpiThread::Patience{std::chrono::microseconds(50), false};
    const auto deadline = next_deadline();
    if (!deadline) return std::nullopt;
    return MpiThread::Patience{std::max(*deadline - now, Clock::duration::zero()), true};
}

}  // namespace mproc::detail
