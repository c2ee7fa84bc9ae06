#include "rings.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>

#include "backoff.hpp"
#include "interrupt.hpp"
#include "mproc/detail/ring_ops.hpp"
#include "mproc/error.hpp"
#include "window.hpp"

namespace mproc::detail {
namespace {

using Clock = std::chrono::steady_clock;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "rings rely on lock-free atomics in memory shared between processes");

constexpr std::uint64_t kRingBytes = 256 * 1024;  // per direction; a power of two
constexpr std::uint64_t kDefaultSegmentBytes = 64ull << 20;

// One direction of a pipe: a single writer and a single reader (as with Python's pipes, two
// processes using the same end at once is the user's bug). head and tail count bytes written
// and read since the start, so head - tail is what the ring holds. A side that must wait
// sleeps on a futex word the other side bumps (and wakes, if the waiting flag says so).
struct Ring {
    alignas(64) std::atomic<std::uint64_t> head{0};
    alignas(64) std::atomic<std::uint64_t> tail{0};
    alignas(64) std::atomic<std::uint32_t> data_seq{0};  // bumped when bytes are written
    std::atomic<std::uint32_t> reader_waiting{0};
    std::atomic<std::uint32_t> closed{0};
    alignas(64) std::atomic<std::uint32_t> space_seq{0};  // bumped when bytes are read
    std::atomic<std::uint32_t> writer_waiting{0};

    char* data() { return reinterpret_cast<char*>(this + 1); }
};
constexpr std::uint64_t kRingStride = sizeof(Ring) + kRingBytes;

// The segment's first bytes: where the next ring goes, and where the segment ends.
struct SegmentHeader {
    std::atomic<std::uint64_t> bump;
    std::uint64_t bytes;
};
constexpr std::uint64_t kFirstRing = 64;

struct Segment {
    MPI_Win win = MPI_WIN_NULL;
    char* base = nullptr;
};
Segment g_segment;

SegmentHeader& header() {
    return *reinterpret_cast<SegmentHeader*>(g_segment.base);
}

Ring& ring_at(std::uint64_t handle) {
    if (g_segment.base == nullptr)
        throw Error("a pipe end made for one node is used where its ring is not mapped");
    return *reinterpret_cast<Ring*>(g_segment.base + (handle & ~kRingFlag));
}

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* t) {
    // Not FUTEX_PRIVATE: the word is in memory other processes map too.
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, t, nullptr, 0);
}

// Bumps `seq` and wakes its sleeper, if one said it sleeps. The full fence orders the caller's
// publication (head or tail) before the look at the flag, against the waiter's flag-then-look.
void signal(std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting) {
    seq.fetch_add(1, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiting.load(std::memory_order_seq_cst) != 0) futex(seq, FUTEX_WAKE, INT_MAX, nullptr);
}

// Waits until `ready()`, as every mproc wait does (backoff.hpp): polls for 20 µs (a round
// trip's answer usually comes sooner), yields until 200 µs, then sleeps, here on the futex the
// other end wakes; the sleeps are short enough to notice a terminate request. False if
// `deadline` passes first.
template <class Ready>
bool wait_until(Ready ready, std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting,
                std::optional<Clock::time_point> deadline) {
    using std::chrono::microseconds;
    // Rank 0's engine thread (a task running there at one rank) sleeps briefly: other threads
    // may be waiting for it to serve their calls.
    const microseconds cap =
        on_mpi_thread() && window_rank() == 0 ? microseconds(200) : Backoff::kMaxSleep;
    const auto sleep = [&](microseconds d) {
        const std::uint32_t s = seq.load(std::memory_order_seq_cst);
        waiting.store(1, std::memory_order_seq_cst);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!ready()) {
            const timespec t{0, static_cast<long>(std::chrono::nanoseconds(d).count())};
            futex(seq, FUTEX_WAIT, s, &t);  // returns at once if seq moved since it was read
        }
        waiting.store(0, std::memory_order_relaxed);
    };
    Backoff backoff(microseconds(20), microseconds(200));
    while (!ready()) {
        microseconds max_sleep = cap;
        if (deadline) {
            const auto left = *deadline - Clock::now();
            if (left <= Clock::duration::zero()) return false;
            max_sleep = std::min(max_sleep, std::chrono::ceil<microseconds>(left));
        }
        check_interrupt();
        serve_engine_calls();  // a task on rank 0's engine thread must keep serving its calls
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();  // a spin-wait hint, for the polls before the backoff yields
#endif
        backoff.pause(sleep, max_sleep);
    }
    return true;
}

void write_bytes(Ring& r, const char* src, std::uint64_t n) {
    std::uint64_t head = r.head.load(std::memory_order_relaxed);
    while (n > 0) {
        std::uint64_t free = 0;
        wait_until(
            [&] {
                free = kRingBytes - (head - r.tail.load(std::memory_order_acquire));
                return free > 0;
            },
            r.space_seq, r.writer_waiting, std::nullopt);
        const std::uint64_t at = head % kRingBytes;
        const std::uint64_t k = std::min({n, free, kRingBytes - at});
        std::memcpy(r.data() + at, src, k);
        src += k;
        n -= k;
        head += k;
        r.head.store(head, std::memory_order_release);
        signal(r.data_seq, r.reader_waiting);
    }
}

void read_bytes(Ring& r, char* dst, std::uint64_t n) {
    std::uint64_t tail = r.tail.load(std::memory_order_relaxed);
    while (n > 0) {
        std::uint64_t held = 0;
        wait_until(
            [&] {
                held = r.head.load(std::memory_order_acquire) - tail;
                return held > 0;
            },
            r.data_seq, r.reader_waiting, std::nullopt);
        const std::uint64_t at = tail % kRingBytes;
        const std::uint64_t k = std::min({n, held, kRingBytes - at});
        std::memcpy(dst, r.data() + at, k);
        dst += k;
        n -= k;
        tail += k;
        r.tail.store(tail, std::memory_order_release);
        signal(r.space_seq, r.writer_waiting);
    }
}

// Whether a message starts in the ring, or the writer closed it with nothing left.
bool readable(Ring& r) {
    return r.head.load(std::memory_order_acquire) != r.tail.load(std::memory_order_relaxed) ||
           r.closed.load(std::memory_order_acquire) != 0;
}

}  // namespace

void open_node_segment(MPI_Comm comm) {
    // Several nodes: pipes use rank 0's queues, which reach everywhere.
    if (shared_window_needs_target_progress()) return;
    MPI_Comm node = node_comm();
    int node_rank = 0;
    MPI_Comm_rank(node, &node_rank);
    std::uint64_t bytes = 0;
    try {
        bytes = node_rank == 0 ? bytes_from_env("MPROC_PIPE_BYTES", kDefaultSegmentBytes, 0,
                                                "the pipes' ring buffers")
                               : 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "mproc: %s\n", e.what());
        MPI_Abort(comm, 2);
    }
    // A failed allocation (an osc component without shared windows) leaves pipes on queues.
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    void* base = nullptr;
    MPI_Win win = MPI_WIN_NULL;
    const int rc =
        MPI_Win_allocate_shared(static_cast<MPI_Aint>(bytes), 1, MPI_INFO_NULL, node, &base, &win);
    MPI_Comm_set_errhandler(node, MPI_ERRORS_ARE_FATAL);
    if (rc != MPI_SUCCESS) return;
    MPI_Aint size0 = 0;
    int unit = 0;
    MPI_Win_shared_query(win, 0, &size0, &unit, &base);
    const bool usable = size0 >= static_cast<MPI_Aint>(kFirstRing + kRingStride);
    if (node_rank == 0 && usable) {
        auto* h = new (base) SegmentHeader{};
        h->bump.store(kFirstRing);
        h->bytes = bytes;
    }
    MPI_Barrier(node);  // the header is written before any rank makes a ring
    g_segment = {win, usable ? static_cast<char*>(base) : nullptr};
}

void close_node_segment() {
    if (g_segment.win != MPI_WIN_NULL) MPI_Win_free(&g_segment.win);
    g_segment = Segment{};
}

std::uint64_t new_ring() {
    if (g_segment.base == nullptr) return 0;
    SegmentHeader& h = header();
    std::uint64_t at = h.bump.load(std::memory_order_relaxed);
    do {
        if (at + kRingStride > h.bytes) return 0;  // full: this pipe uses queues instead
    } while (!h.bump.compare_exchange_weak(at, at + kRingStride, std::memory_order_relaxed));
    new (g_segment.base + at) Ring{};
    return kRingFlag | at;
}

void ring_send(std::uint64_t ring, const std::vector<char>& bytes) {
    Ring& r = ring_at(ring);
    const std::uint64_t n = bytes.size();
    write_bytes(r, reinterpret_cast<const char*>(&n), sizeof n);
    write_bytes(r, bytes.data(), n);
}

bool ring_recv(std::uint64_t ring, std::vector<char>& out) {
    Ring& r = ring_at(ring);
    wait_until([&] { return readable(r); }, r.data_seq, r.reader_waiting, std::nullopt);
    if (r.head.load(std::memory_order_acquire) == r.tail.load(std::memory_order_relaxed))
        return false;  // closed, and everything read
    std::uint64_t n = 0;
    read_bytes(r, reinterpret_cast<char*>(&n), sizeof n);
    out.resize(n);
    read_bytes(r, out.data(), n);
    return true;
}

bool ring_poll(std::uint64_t ring, std::chrono::nanoseconds timeout) {
    Ring& r = ring_at(ring);
    std::optional<Clock::time_point> deadline;
    if (timeout.count() >= 0) deadline = Clock::now() + timeout;
    return wait_until([&] { return readable(r); }, r.data_seq, r.reader_waiting, deadline);
}

void ring_close(std::uint64_t ring) {
    Ring& r = ring_at(ring);
    r.closed.store(1, std::memory_order_release);
    signal(r.data_seq, r.reader_waiting);
}

}  // namespace mproc::detail
