#include "shared/relay_rings.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "base/futex.hpp"

namespace mproc::detail {

namespace {

constexpr std::uint64_t kRelayRingBytes = 256 * 1024;  // a power of two

struct RecordHeader {
    RelayKind kind;
    std::uint32_t reserved;
    std::uint64_t size;
};

std::uint64_t padded(std::uint64_t n) {
    return (n + 7) & ~std::uint64_t{7};
}

}  // namespace

// One writer, one reader; head and tail count bytes written and read, so head - tail is what
// the ring holds. Records are a RecordHeader and the bytes, padded to 8, and may wrap.
struct RelayRing {
    alignas(64) std::atomic<std::uint64_t> head{0};
    alignas(64) std::atomic<std::uint64_t> tail{0};
    alignas(64) std::atomic<std::uint32_t> data_seq{0};  // bumped when a record is written
    std::atomic<std::uint32_t> reader_waiting{0};
    alignas(64) char data[kRelayRingBytes];

    void copy_in(std::uint64_t at, const void* src, std::uint64_t n) {
        const std::uint64_t i = at % kRelayRingBytes, first = std::min(n, kRelayRingBytes - i);
        std::memcpy(data + i, src, first);
        std::memcpy(data, static_cast<const char*>(src) + first, n - first);
    }
    void copy_out(std::uint64_t at, void* dst, std::uint64_t n) const {
        const std::uint64_t i = at % kRelayRingBytes, first = std::min(n, kRelayRingBytes - i);
        std::memcpy(dst, data + i, first);
        std::memcpy(static_cast<char*>(dst) + first, data, n - first);
    }
};

bool relay_write(RelayRing& ring, RelayKind kind, const char* data, std::size_t size) {
    const std::uint64_t need = sizeof(RecordHeader) + padded(size);
    const std::uint64_t head = ring.head.load(std::memory_order_relaxed);
    if (kRelayRingBytes - (head - ring.tail.load(std::memory_order_acquire)) < need) return false;
    const RecordHeader header{kind, 0, size};
    ring.copy_in(head, &header, sizeof header);
    ring.copy_in(head + sizeof header, data, size);
    ring.head.store(head + need, std::memory_order_release);
    signal(ring.data_seq, ring.reader_waiting);
    return true;
}

std::optional<RelayKind> relay_read(RelayRing& ring, std::vector<char>& out) {
    const std::uint64_t tail = ring.tail.load(std::memory_order_relaxed);
    if (ring.head.load(std::memory_order_acquire) == tail) return std::nullopt;
    RecordHeader header;
    ring.copy_out(tail, &header, sizeof header);
    out.resize(header.size);
    ring.copy_out(tail + sizeof header, out.data(), header.size);
    ring.tail.store(tail + sizeof header + padded(header.size), std::memory_order_release);
    return header.kind;
}

void relay_sleep(RelayRing& ring, std::chrono::microseconds d) {
    sleep_on(ring.data_seq, ring.reader_waiting, d, [&] {
        return ring.head.load(std::memory_order_acquire) !=
               ring.tail.load(std::memory_order_relaxed);
    });
}

RelayRings::RelayRings(const Communicator& comm, const Communicator& node,
                       const GroupLayout& layout)
    : rings_(static_cast<std::size_t>(comm.size()), nullptr) {
    // Which world rank each rank of the node is, to find a member's part of the window.
    std::vector<int> world(static_cast<std::size_t>(node.size()));
    const int me = comm.rank();
    check(MPI_Allgather(&me, 1, MPI_INT, world.data(), 1, MPI_INT, node.get()), "MPI_Allgather");
    const bool member = layout.master[static_cast<std::size_t>(me)] > 0;
    const MPI_Aint bytes = member ? static_cast<MPI_Aint>(2 * sizeof(RelayRing)) : 0;
    void* mine = nullptr;
    const int rc =
        MPI_Win_allocate_shared(bytes, alignof(RelayRing), MPI_INFO_NULL, node.get(), &mine, &win_);
    // Every rank of the node learns whether all could map it, so a leader and its members
    // agree on rings or MPI.
    int ok = rc == MPI_SUCCESS ? 1 : 0;
    check(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, node.get()), "MPI_Allreduce");
    if (!ok) {
        if (rc == MPI_SUCCESS) MPI_Win_free(&win_);
        win_ = MPI_WIN_NULL;
        return;
    }
    if (member) {
        auto* pair = static_cast<RelayRing*>(mine);
        new (pair) RelayRing{};
        new (pair + 1) RelayRing{};
    }
    check(MPI_Barrier(node.get()), "MPI_Barrier");  // every ring is made before any use
    for (int n = 0; n < node.size(); ++n) {
        const int r = world[static_cast<std::size_t>(n)];
        const int master = layout.master[static_cast<std::size_t>(r)];
        // A rank needs its own rings (a member) and its members' (a leader).
        if (master <= 0 || (r != me && master != me)) continue;
        MPI_Aint size = 0;
        int unit = 0;
        void* base = nullptr;
        check(MPI_Win_shared_query(win_, n, &size, &unit, &base), "MPI_Win_shared_query");
        rings_[static_cast<std::size_t>(r)] = static_cast<RelayRing*>(base);
    }
}

RelayRings::~RelayRings() {
    if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
}

RelayRing* RelayRings::down(int member) const {
    return rings_[static_cast<std::size_t>(member)];
}

RelayRing* RelayRings::up(int member) const {
    RelayRing* d = rings_[static_cast<std::size_t>(member)];
    return d == nullptr ? nullptr : d + 1;
}

}  // namespace mproc::detail
