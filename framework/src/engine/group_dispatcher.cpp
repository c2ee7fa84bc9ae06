#include "engine/group_dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "mproc/error.hpp"

namespace mproc::detail {

namespace {

// How long a member's results may wait here for others to join them on the way to rank 0:
// what its message took (`ns`), at most kMaxRelayHold (protocol.hpp says why that is safe).
// Rank 0 then takes results a batch at a time instead of one by one, and the leader's loop
// wakes about once a batch.
Clock::duration hold_for(double ns, Clock::duration most = kMaxRelayHold) {
    return std::min<Clock::duration>(most, std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
}

}  // namespace

GroupDispatcher::GroupDispatcher(int leader, const std::vector<int>& members, Links& links,
                                 const Clock& clock, std::size_t pack_bytes)
    : leader_(leader), links_(links), clock_(clock), pack_bytes_(pack_bytes) {
    for (int r : members) {
        if (r >= static_cast<int>(slot_.size())) slot_.resize(static_cast<std::size_t>(r) + 1, -1);
        slot_[static_cast<std::size_t>(r)] = static_cast<int>(members_.size());
        members_.emplace_back().rank = r;
    }
    quiet_checked_ = clock_.now();
}

GroupDispatcher::Member& GroupDispatcher::member(int rank, const char* what) {
    const int slot = rank >= 0 && rank < static_cast<int>(slot_.size())
                         ? slot_[static_cast<std::size_t>(rank)]
                         : -1;
    if (slot < 0)
        throw Error("mproc: group leader rank " + std::to_string(leader_) + " " + what +
                    " rank " + std::to_string(rank) + ", which is not in its group");
    return members_[static_cast<std::size_t>(slot)];
}

// ---- From rank 0 --------------------------------------------------------------------------

void GroupDispatcher::from_rank0(const char* data, std::size_t size) {
    if (stopping_) return;
    for_each_part<RouteHeader>(
        data, size, "routed task", [&](const RouteHeader& route, const char* message) {
            if (route.flags == kRouteSpan) {
                queue_span(message, route.size);
                return;
            }
            if (route.flags == kRouteGroup) {
                for_each_part<TaskHeader>(message, route.size, "task",
                                          [&](const TaskHeader& h, const char* inputs) {
                                              const char* chunk = inputs - sizeof h;
                                              const std::size_t bytes = sizeof h + h.size;
                                              queue_.push_back({queued_.size(), bytes});
                                              ++group_out_;
                                              queued_.insert(queued_.end(), chunk, chunk + bytes);
                                          });
                return;
            }
            if (route.flags != kRouteMember)
                throw Error("mproc: group leader rank " + std::to_string(leader_) +
                            " got a routed part marked " + std::to_string(route.flags) +
                            " from rank 0, which it does not know");
            Member& m = member(route.rank, "was sent chunks for");
            std::uint32_t chunks = 0;
            for_each_part<TaskHeader>(message, route.size, "task",
                                      [&](const TaskHeader&, const char*) { ++chunks; });
            send(m, message, route.size, chunks, false);
        });
}

void GroupDispatcher::queue_span(const char* message, std::size_t size) {
    SpanHeader span;
    TaskHeader h;
    if (size < sizeof span + sizeof h)
        throw Error("mproc: group leader rank " + std::to_string(leader_) +
                    " got a span of " + std::to_string(size) + " bytes, too few for its headers");
    std::memcpy(&span, message, sizeof span);
    std::memcpy(&h, message + sizeof span, sizeof h);
    const char* inputs = message + sizeof span + sizeof h;
    if (span.chunk_items == 0 || h.count == 0 ||
        h.size != std::uint64_t{h.count} * span.item_bytes ||
        size - sizeof span - sizeof h != h.size)
        throw Error("mproc: group leader rank " + std::to_string(leader_) + " got a span of " +
                    std::to_string(h.count) + " items of " + std::to_string(span.item_bytes) +
                    " bytes in chunks of " + std::to_string(span.chunk_items) + " with " +
                    std::to_string(size - sizeof span - sizeof h) + " bytes of inputs");
    Span& s = spans_.emplace_back();
    s.job = h.job;
    s.seq = h.seq;
    s.count = h.count;
    for (std::uint32_t done = 0; done < h.count; done += span.chunk_items) {
        TaskHeader c = h;
        c.seq = h.seq + s.chunks.size();
        c.first = h.first + done;
        c.count = std::min(span.chunk_items, h.count - done);
        c.size = std::uint64_t{c.count} * span.item_bytes;
        queue_.push_back({queued_.size(), sizeof c + c.size});
        const char* from = inputs + std::size_t{done} * span.item_bytes;
        queued_.insert(queued_.end(), reinterpret_cast<const char*>(&c),
                       reinterpret_cast<const char*>(&c) + sizeof c);
        queued_.insert(queued_.end(), from, from + c.size);
        s.chunks.emplace_back();
    }
    s.left = static_cast<std::uint32_t>(s.chunks.size());
    group_out_ += s.chunks.size();
}

void GroupDispatcher::send(Member& m, const char* message, std::size_t size, std::uint32_t chunks,
                           bool group) {
    links_.to_member(m.rank, message, size);
    if (m.owed.empty()) m.owed_since = clock_.now();
    m.owed.push_back({chunks, group});
    if (group) m.group_chunks += chunks;
    ++out_total_;
}

// ---- To members ---------------------------------------------------------------------------

std::size_t GroupDispatcher::member_budget() const {
    if (ns_per_chunk_ < 0) return 2;
    const double cover_ns = std::chrono::duration<double, std::nano>(kMemberCover).count();
    return static_cast<std::size_t>(
        std::clamp(1.0 + std::ceil(cover_ns / std::max(ns_per_chunk_, 1.0)), 2.0, 16.0));
}

void GroupDispatcher::hand_out() {
    // A member takes half its budget per message: one runs while the next waits, and the
    // leader hears of it about twice per budget. One message per member per round, starting
    // one member further each time, and none larger than the member's share of what waits, so
    // a short queue is spread rather than taken by the first (with short chunks half a budget
    // is 8, and a map's last 8 chunks went to one member while its neighbour idled).
    const std::size_t budget = member_budget();
    const std::size_t most = std::max<std::size_t>(1, budget / 2);
    const std::size_t n = members_.size();
    for (bool gave = true; gave && !queue_.empty();) {
        gave = false;
        const std::size_t batch = std::min(most, (queue_.size() + n - 1) / n);
        for (std::size_t i = 0; i < n && !queue_.empty(); ++i) {
            Member& m = members_[(turn_ + i) % n];
            if (m.group_chunks + batch > budget) continue;
            hand_.clear();
            std::uint32_t chunks = 0;
            while (chunks < batch && !queue_.empty() &&
                   (chunks == 0 || hand_.size() + queue_.front().size <= pack_bytes_)) {
                const Queued q = queue_.front();
                queue_.pop_front();
                hand_.insert(hand_.end(), queued_.data() + q.at, queued_.data() + q.at + q.size);
                ++chunks;
            }
            send(m, hand_.data(), hand_.size(), chunks, true);
            gave = true;
        }
        turn_ = (turn_ + 1) % n;
    }
    // The queue's bytes are dropped once it is empty, or moved down once most are behind it.
    if (queue_.empty()) {
        queued_.clear();
    } else if (queue_.front().at > (1u << 20) && queue_.front().at > queued_.size() / 2) {
        const std::size_t from = queue_.front().at;
        queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(from));
        for (Queued& q : queue_) q.at -= from;
    }
}

// ---- From members, to rank 0 ----------------------------------------------------------------

void GroupDispatcher::from_member(int rank, const char* data, std::size_t size) {
    Member& m = member(rank, "got results from");
    if (m.owed.empty())
        throw Error("mproc: group leader rank " + std::to_string(leader_) +
                    " got results from rank " + std::to_string(rank) + ", which owed none");
    // Members answer in order, so this answers the oldest message.
    const Member::Owed answered = m.owed.front();
    m.owed.pop_front();
    if (answered.group) m.group_chunks -= answered.chunks;
    --out_total_;
    const auto now = clock_.now();
    m.owed_since = now;
    if (stopping_) {
        if (answered.group) group_out_ -= answered.chunks;
        return;
    }  // rank 0 has what it waited for; the rest it would drop

    // What the member's message took: the next one it holds takes about as long, which is
    // how long its results may wait here.
    std::uint64_t busy = 0;
    for_each_part<ResultHeader>(data, size, "result",
                                [&](const ResultHeader& h, const char*) { busy += h.busy_ns; });
    const auto took = static_cast<double>(busy);
    ns_per_message_ = ns_per_message_ < 0 ? took : 0.7 * ns_per_message_ + 0.3 * took;
    if (answered.group && answered.chunks > 0) {
        const double per_chunk = took / answered.chunks;
        ns_per_chunk_ = ns_per_chunk_ < 0 ? per_chunk : 0.7 * ns_per_chunk_ + 0.3 * per_chunk;
    }
    if (answered.group)
        group_out_ -= answered.chunks;
    else
        ++batch_own_;
    // The group's results may wait longer: the members hold kMemberCover and the queue here
    // more, so rank 0's refill is not awaited by anyone.
    if (answered.group && !spans_.empty()) {
        take_span_results(rank, data, size, now + hold_for(took, kMemberCover));
        return;
    }
    if (answered.group) batch_group_chunks_ += answered.chunks;
    const RouteHeader route{rank, answered.group ? kRouteGroup : kRouteMember, size};
    add_to_batch(route, data,
                 now + (answered.group ? hold_for(took, kMemberCover) : hold_for(took)));
}

void GroupDispatcher::take_span_results(int rank, const char* data, std::size_t size,
                                        Clock::time_point due) {
    for_each_part<ResultHeader>(data, size, "result", [&](const ResultHeader& h,
                                                          const char* payload) {
        const char* part = payload - sizeof h;  // the header as the member wrote it
        const auto span = std::find_if(spans_.begin(), spans_.end(), [&](const Span& s) {
            return s.job == h.job && h.seq - s.seq < s.chunks.size();
        });
        if (span == spans_.end()) {
            ++batch_group_chunks_;
            add_to_batch(RouteHeader{rank, kRouteGroup, sizeof h + h.size}, part, due);
            return;
        }
        take_span_result(*span, rank, h, part, due);
        if (span->left == 0) spans_.erase(span);
    });
}

void GroupDispatcher::take_span_result(Span& span, int rank, const ResultHeader& h,
                                       const char* part, Clock::time_point due) {
    Span::Result& r = span.chunks[h.seq - span.seq];
    if (r.rank != 0)
        throw Error("mproc: group leader rank " + std::to_string(leader_) + " got chunk " +
                    std::to_string(h.seq) + " of job " + std::to_string(h.job) +
                    " answered twice, by ranks " + std::to_string(r.rank) + " and " +
                    std::to_string(rank));
    const std::size_t bytes = sizeof h + h.size;
    --span.left;
    r.rank = rank;
    if (h.status != ResultStatus::ok && !span.broken) {
        // Rank 0 hears of each chunk of a span that failed, with the member that ran it.
        span.broken = true;
        for (const Span::Result& held : span.chunks) {
            if (held.rank == 0 || &held == &r) continue;
            ResultHeader hh;
            std::memcpy(&hh, span.results.data() + held.at, sizeof hh);
            ++batch_group_chunks_;
            add_to_batch(RouteHeader{held.rank, kRouteGroup, sizeof hh + hh.size},
                         span.results.data() + held.at, due);
        }
        span.results = Buffer();
    }
    if (span.broken) {
        ++batch_group_chunks_;
        add_to_batch(RouteHeader{rank, kRouteGroup, bytes}, part, due);
        return;
    }
    r.at = span.results.size();
    span.results.insert(span.results.end(), part, part + bytes);
    span.payload += h.size;
    if (span.left == 0) join(span, due);
}

void GroupDispatcher::join(const Span& span, Clock::time_point due) {
    ResultHeader joined{span.job, span.seq, 0, std::numeric_limits<std::uint64_t>::max(),
                        span.payload, span.count, ResultStatus::ok};
    char* to = batch_room(RouteHeader{leader_, kRouteSpan, sizeof joined + span.payload}, due);
    char* payload = to + sizeof joined;
    // In chunk order: the results of consecutive chunks end to end.
    for (const Span::Result& r : span.chunks) {
        ResultHeader h;
        std::memcpy(&h, span.results.data() + r.at, sizeof h);
        std::memcpy(payload, span.results.data() + r.at + sizeof h, h.size);
        payload += h.size;
        joined.busy_ns += h.busy_ns;
        joined.start_ns = std::min(joined.start_ns, h.start_ns);
    }
    std::memcpy(to, &joined, sizeof joined);
    batch_group_chunks_ += span.chunks.size();
}

void GroupDispatcher::add_to_batch(const RouteHeader& route, const char* data,
                                   Clock::time_point due) {
    std::memcpy(batch_room(route, due), data, route.size);
}

char* GroupDispatcher::batch_room(const RouteHeader& route, Clock::time_point due) {
    // One MPI message carries at most kMaxMessageBytes: send what is gathered first.
    if (batch_parts_ > 0 && batch_.size() + sizeof route + route.size > kMaxMessageBytes) flush();
    if (batch_parts_ == 0) {
        batch_ = links_.take_buffer();
        batch_.clear();
        batch_due_ = Clock::time_point::max();
    }
    const std::size_t at = batch_.size();
    batch_.resize(at + sizeof route + route.size);
    std::memcpy(batch_.data() + at, &route, sizeof route);
    ++batch_parts_;
    batch_due_ = std::min(batch_due_, due);
    return batch_.data() + at + sizeof route;
}

void GroupDispatcher::report_quiet(Clock::time_point now) {
    quiet_checked_ = now;
    for (Member& m : members_) {
        if (m.group_chunks == 0 || now - m.owed_since < kQuietReport ||
            now - m.quiet_told < kQuietReport)
            continue;
        m.quiet_told = now;
        const std::int64_t owed_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - m.owed_since).count();
        add_to_batch(RouteHeader{m.rank, kRouteQuiet, sizeof owed_ns},
                     reinterpret_cast<const char*>(&owed_ns), now);
    }
}

bool GroupDispatcher::flush_due(Clock::time_point now) const {
    // The oldest answer has waited its hold, or nobody owes anything more (the end of a map:
    // nothing else will join the batch).
    if (now >= batch_due_ || out_total_ == 0 || batch_.size() >= (1u << 20)) return true;
    // Members fed by rank 0 itself: once every member has answered. Not at half the group:
    // that sent twice the messages and woke this loop more often, for no gain to members,
    // whose queued work covers the hold. (129 ranks on 2 cores in groups of 16, 2 ms tasks,
    // with the leader's loop sleeping up to a hold rather than 1 ms: its turns 40% fewer, the
    // host's CPU per task 29.8 µs against 30.8, 92.8% of the ideal rate against 91.8%; medians
    // of 14 alternating runs each.)
    if (batch_own_ > 0) return batch_parts_ >= members_.size();
    // The group's chunks: once they answer a third of what rank 0 keeps out on the group (what
    // is still out and what they answer), which is what rank 0 refills a message at a time;
    // fewer would wake it for nothing.
    return batch_group_chunks_ * 2 >= group_out_;
}

void GroupDispatcher::flush() {
    links_.to_rank0(std::move(batch_));
    batch_ = Buffer();
    batch_parts_ = 0;
    batch_own_ = 0;
    batch_group_chunks_ = 0;
}

void GroupDispatcher::tick() {
    if (stopping_) return;
    if (!queue_.empty()) hand_out();
    const auto now = clock_.now();
    if (now - quiet_checked_ >= kQuietReport / 2) report_quiet(now);
    if (batch_parts_ > 0 && flush_due(now)) flush();
}

void GroupDispatcher::stop() {
    if (batch_parts_ > 0) flush();
    stopping_ = true;
    group_out_ -= queue_.size();
    queue_.clear();  // nobody waits for their results now
    queued_.clear();
    spans_.clear();
}

// Rank 0's refills come when they come; what can be planned is the members' results and the
// batch's hold. Sleep until the batch is due, or for a hold's length (hold_for: a message's
// time), whichever is first: a member has work queued beyond the chunk it runs, so it does not
// wait for this. With nothing owed, nothing is expected: the loop's idle sleep says how soon
// rank 0's next message (a new map's first chunks) is seen.
std::optional<Clock::duration> GroupDispatcher::poll_again_in() const {
    if (stopping_) return Clock::duration::zero();
    std::optional<Clock::duration> best;
    if (batch_parts_ > 0) best = std::max(batch_due_ - clock_.now(), Clock::duration::zero());
    if (out_total_ > 0) {
        const Clock::duration hold =
            ns_per_message_ < 0 ? Clock::duration::zero() : hold_for(ns_per_message_);
        if (!best || hold < *best) best = hold;
    }
    return best;
}

}  // namespace mproc::detail
