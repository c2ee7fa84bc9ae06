#include "engine/group_leader.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "mproc/error.hpp"
#include "base/protocol.hpp"

namespace mproc::detail {

namespace {

// How long a member's results may wait here for others to join them on the way to rank 0:
// what its message took (`ns`), at most kMaxRelayHold (protocol.hpp says why that is safe).
// Rank 0 then takes results a batch at a time instead of one by one, and this loop wakes about
// once a batch.
MpiThread::Clock::duration hold_for(double ns) {
    return std::min<MpiThread::Clock::duration>(
        kMaxRelayHold, std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
}

}  // namespace

GroupLeader::GroupLeader(const Communicator& comm, const std::vector<int>& members,
                         const RelayRings* rings)
    : comm_(comm), slot_(static_cast<std::size_t>(comm.size()), -1) {
    for (int r : members) {
        slot_[static_cast<std::size_t>(r)] = static_cast<int>(members_.size());
        Member& m = members_.emplace_back();
        m.rank = r;
        if (rings != nullptr) {
            m.down = rings->down(r);
            m.up = rings->up(r);
        }
    }
}

GroupLeader::Member& GroupLeader::member(int rank, const char* what) {
    const int slot = rank >= 0 && rank < static_cast<int>(slot_.size())
                         ? slot_[static_cast<std::size_t>(rank)]
                         : -1;
    if (slot < 0)
        throw Error("mproc: group leader rank " + std::to_string(comm_.rank()) + " " + what +
                    " rank " + std::to_string(rank) + ", which is not in its group");
    return members_[static_cast<std::size_t>(slot)];
}

bool GroupLeader::poll() {
    bool any = false;
    while (!stopping_) {
        const auto arrival = try_receive(comm_.get(), 0, MPI_ANY_TAG, in_);
        if (!arrival) break;
        any = true;
        if (arrival->tag == kTagTask) {
            forward(in_.data(), in_.size());
        } else if (arrival->tag == kTagControl) {
            stop_members();
        } else {
            throw Error("mproc: group leader rank " + std::to_string(comm_.rank()) +
                        " got a message with tag " + std::to_string(arrival->tag) +
                        " from rank 0, which it does not relay");
        }
    }
    for (Member& m : members_) {
        while (!m.backlog.empty() &&
               relay_write(*m.down, m.backlog.front().first, m.backlog.front().second.data(),
                           m.backlog.front().second.size()))
            m.backlog.pop_front();
        if (m.up != nullptr) any |= read_up(m);
    }
    // Without rings, members answer by MPI. (A group has rings for all its members or for
    // none: they are mapped for a whole node or not at all. With them, a large result comes
    // by MPI too, and read_up receives it from its member when the ring says so.)
    if (members_.front().up == nullptr)
        any |= receive_arrived(comm_.get(), kTagResult, in_, 256, [&](Arrival arrival) {
            gather(member(arrival.source, "got results from"));
        });
    if (batch_messages_ > 0 && (stopping_ || flush_due(Clock::now()))) flush();
    return any;
}

bool GroupLeader::read_up(Member& m) {
    bool any = false;
    for (;;) {
        if (m.result_by_mpi) {
            // A large result: the ring said it comes by MPI, and nothing after it is read
            // before it has.
            if (!try_receive(comm_.get(), m.rank, kTagResult, in_)) return any;
            m.result_by_mpi = false;
            gather(m);
            any = true;
            continue;
        }
        const auto kind = relay_read(*m.up, in_);
        if (!kind) return any;
        any = true;
        if (*kind == RelayKind::by_mpi)
            m.result_by_mpi = true;
        else if (*kind == RelayKind::stop)
            m.stopped = true;  // it has written its last result
        else
            gather(m);
    }
}

void GroupLeader::send_by_mpi(const Member& m, const char* data, std::size_t size, int tag) {
    Buffer message = sends_.take_buffer();
    message.assign(data, data + size);
    sends_.start(comm_.get(), m.rank, tag, std::move(message));
}

void GroupLeader::write_down(Member& m, RelayKind kind, const char* data, std::size_t size) {
    if (m.backlog.empty() && relay_write(*m.down, kind, data, size)) return;
    m.backlog.emplace_back(kind, std::vector<char>(data, data + size));
}

void GroupLeader::forward(const char* data, std::size_t size) {
    for_each_part<RouteHeader>(
        data, size, "routed task", [&](const RouteHeader& route, const char* message) {
            Member& m = member(route.rank, "was sent chunks for");
            std::uint32_t chunks = 0;
            for_each_part<TaskHeader>(message, route.size, "task",
                                      [&](const TaskHeader&, const char*) { ++chunks; });
            if (m.down == nullptr) {
                send_by_mpi(m, message, route.size, kTagTask);
            } else if (route.size > kRelayInlineBytes) {
                // MPI keeps large messages in order among themselves; the marker places them
                // among the ring's.
                send_by_mpi(m, message, route.size, kTagTask);
                write_down(m, RelayKind::by_mpi, nullptr, 0);
            } else {
                write_down(m, RelayKind::message, message, route.size);
            }
            if (m.owed.empty()) m.owed_since = Clock::now();
            m.owed.push_back(chunks);
            ++out_total_;
        });
}

void GroupLeader::gather(Member& m) {
    if (m.owed.empty())
        throw Error("mproc: group leader rank " + std::to_string(comm_.rank()) +
                    " got results from rank " + std::to_string(m.rank) + ", which owed none");
    // Members answer in order, so this answers the oldest message.
    m.owed.pop_front();
    --out_total_;
    const auto now = Clock::now();
    m.owed_since = now;
    if (stopping_) return;  // rank 0 has what it waited for; the rest it would drop

    // What the member's message took: the next one it holds takes about as long, which is
    // how long its results may wait here.
    std::uint64_t busy = 0;
    for_each_part<ResultHeader>(in_.data(), in_.size(), "result",
                                [&](const ResultHeader& h, const char*) { busy += h.busy_ns; });
    const auto took = static_cast<double>(busy);
    ns_per_message_ = ns_per_message_ < 0 ? took : 0.7 * ns_per_message_ + 0.3 * took;
    // One MPI message carries at most kMaxMessageBytes: send what is gathered first.
    if (batch_messages_ > 0 && batch_.size() + sizeof(RouteHeader) + in_.size() > kMaxMessageBytes)
        flush();
    if (batch_messages_ == 0) {
        batch_ = sends_.take_buffer();
        batch_due_ = Clock::time_point::max();
    }
    const RouteHeader route{m.rank, 0, in_.size()};
    const std::size_t at = batch_.size();
    batch_.resize(at + sizeof route + in_.size());
    std::memcpy(batch_.data() + at, &route, sizeof route);
    std::memcpy(batch_.data() + at + sizeof route, in_.data(), in_.size());
    ++batch_messages_;
    batch_due_ = std::min(batch_due_, now + hold_for(took));
}

bool GroupLeader::flush_due(Clock::time_point now) const {
    // Every member has answered, or the oldest answer has waited its hold, or nobody owes
    // anything more (the end of a map: nothing else will join the batch). Not at half the
    // group, as before: that sent twice the messages and woke this loop more often, for no
    // gain to members, whose queued work covers the hold. (129 ranks on 2 cores in groups of
    // 16, 2 ms tasks, with the leader's loop sleeping up to a hold rather than 1 ms: its
    // turns 40% fewer, the host's CPU per task 29.8 µs against 30.8, 92.8% of the ideal rate
    // against 91.8%; medians of 14 alternating runs each.)
    return batch_messages_ >= members_.size() || now >= batch_due_ || out_total_ == 0 ||
           batch_.size() >= (1u << 20);
}

void GroupLeader::flush() {
    sends_.start(comm_.get(), 0, kTagResult, std::move(batch_));
    batch_messages_ = 0;
}

void GroupLeader::stop_members() {
    stopping_ = true;
    for (Member& m : members_) {
        if (m.down != nullptr)
            write_down(m, RelayKind::stop, nullptr, 0);
        else
            send_by_mpi(m, nullptr, 0, kTagControl);
    }
}

bool GroupLeader::finished() {
    if (!stopping_) return false;
    for (Member& m : members_) {
        // A member on rings says it has taken its stop: until then it may write results,
        // and a full ring nobody reads would hold it forever.
        if (!m.backlog.empty() || (m.up != nullptr && !m.stopped)) return false;
    }
    return sends_.drained();
}

// Rank 0's refills come when they come; what can be planned is the members' results and the
// batch's hold. Sleep until the batch is due, or for a hold's length (hold_for: a message's
// time), whichever is first: a member has kRelayCover of work queued beyond the chunk it
// runs, so it does not wait for this. With nothing owed, nothing is expected: the loop's idle
// sleep says how soon rank 0's next message (a new map's first chunks) is seen.
std::optional<MpiThread::Patience> GroupLeader::poll_again_in() const {
    if (stopping_) return MpiThread::Patience{Clock::duration::zero(), false};
    std::optional<MpiThread::Patience> best;
    if (batch_messages_ > 0)
        best =
            MpiThread::Patience{std::max(batch_due_ - Clock::now(), Clock::duration::zero()), true};
    if (out_total_ > 0) {
        const Clock::duration hold =
            ns_per_message_ < 0 ? Clock::duration::zero() : hold_for(ns_per_message_);
        if (!best || hold < best->wait) best = MpiThread::Patience{hold, true};
    }
    return best;
}

}  // namespace mproc::detail
