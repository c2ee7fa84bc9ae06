#include "engine/group_leader.hpp"

#include <string>

#include "base/protocol.hpp"
#include "mproc/error.hpp"

namespace mproc::detail {

GroupLeader::GroupLeader(const Communicator& comm, const std::vector<int>& members,
                         const RelayRings* rings)
    : comm_(comm),
      slot_(static_cast<std::size_t>(comm.size()), -1),
      decide_(comm.rank(), members, *this, clock_, kRelayInlineBytes) {
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

GroupLeader::Member& GroupLeader::member(int rank) {
    const int slot = rank >= 0 && rank < static_cast<int>(slot_.size())
                         ? slot_[static_cast<std::size_t>(rank)]
                         : -1;
    if (slot < 0)
        throw Error("mproc: group leader rank " + std::to_string(comm_.rank()) +
                    " got a message from rank " + std::to_string(rank) +
                    ", which is not in its group");
    return members_[static_cast<std::size_t>(slot)];
}

bool GroupLeader::poll() {
    bool any = false;
    while (!stopping_) {
        const auto arrival = try_receive(comm_.get(), 0, MPI_ANY_TAG, in_);
        if (!arrival) break;
        any = true;
        if (arrival->tag == kTagTask) {
            decide_.from_rank0(in_.data(), in_.size());
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
            decide_.from_member(arrival.source, in_.data(), in_.size());
        });
    decide_.tick();
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
            decide_.from_member(m.rank, in_.data(), in_.size());
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
            decide_.from_member(m.rank, in_.data(), in_.size());
    }
}

void GroupLeader::to_member(int rank, const char* message, std::size_t size) {
    Member& m = member(rank);
    if (m.down == nullptr) {
        send_by_mpi(m, message, size, kTagTask);
    } else if (size > kRelayInlineBytes) {
        // MPI keeps large messages in order among themselves; the marker places them among
        // the ring's.
        send_by_mpi(m, message, size, kTagTask);
        write_down(m, RelayKind::by_mpi, nullptr, 0);
    } else {
        write_down(m, RelayKind::message, message, size);
    }
}

void GroupLeader::to_rank0(Buffer batch) {
    sends_.start(comm_.get(), 0, kTagResult, std::move(batch));
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

void GroupLeader::stop_members() {
    stopping_ = true;
    decide_.stop();
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

std::optional<MpiThread::Patience> GroupLeader::poll_again_in() const {
    const auto wait = decide_.poll_again_in();
    if (!wait) return std::nullopt;
    return MpiThread::Patience{*wait, !stopping_};
}

}  // namespace mproc::detail
