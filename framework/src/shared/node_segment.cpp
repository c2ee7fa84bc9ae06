#include "shared/node_segment.hpp"

#include <atomic>
#include <new>

namespace mproc::detail {
namespace {

// The segment's first bytes: where the next allocation goes, and where the segment ends.
struct SegmentHeader {
    std::atomic<std::uint64_t> bump;
    std::uint64_t bytes;
};
constexpr std::uint64_t kFirstOffset = 64;
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the segment relies on lock-free atomics in memory shared between processes");

}  // namespace

NodeSegment::NodeSegment(const Communicator& node, bool several_nodes, std::uint64_t bytes) {
    if (several_nodes) return;
    if (node.rank() != 0) bytes = 0;
    void* base = nullptr;
    const int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, MPI_INFO_NULL,
                                           node.get(), &base, &win_);
    if (rc != MPI_SUCCESS) {
        win_ = MPI_WIN_NULL;
        return;
    }
    MPI_Aint size0 = 0;
    int unit = 0;
    check(MPI_Win_shared_query(win_, 0, &size0, &unit, &base), "MPI_Win_shared_query");
    const bool usable = size0 >= static_cast<MPI_Aint>(kFirstOffset + sizeof(SegmentHeader));
    if (node.rank() == 0 && usable) {
        auto* h = new (base) SegmentHeader{};
        h->bump.store(kFirstOffset);
        h->bytes = static_cast<std::uint64_t>(size0);
    }
    check(MPI_Barrier(node.get()), "MPI_Barrier");  // the header is written before any use
    base_ = usable ? static_cast<char*>(base) : nullptr;
}

NodeSegment::~NodeSegment() {
    if (win_ != MPI_WIN_NULL) MPI_Win_free(&win_);
}

std::uint64_t NodeSegment::allocate(std::uint64_t bytes) {
    if (base_ == nullptr) return 0;
    auto& h = *reinterpret_cast<SegmentHeader*>(base_);
    std::uint64_t at = h.bump.load(std::memory_order_relaxed);
    do {
        if (at + bytes > h.bytes) return 0;
    } while (!h.bump.compare_exchange_weak(at, at + bytes, std::memory_order_relaxed));
    return at;
}

}  // namespace mproc::detail
