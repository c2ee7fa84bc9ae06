// Pipes between processes of one node: rings in the node segment (mproc/detail/ring_ops.hpp).

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <optional>

#include "base/futex.hpp"
#include "base/interrupt.hpp"
#include "mproc/detail/ring_ops.hpp"
#include "mproc/error.hpp"
#include "shared/node_segment.hpp"
#include "runtime/runtime_state.hpp"
#include "transport/wait.hpp"

namespace mproc::detail {
namespace {

using Clock = std::chrono::steady_clock;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "rings rely on lock-free atomics in memory shared between processes");

constexpr std::uint64_t kRingBytes = 256 * 1024;  // per direction; a power of two

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

Ring& ring_at(std::uint64_t handle) {
    char* base = runtime("mproc pipes").segment().base();
    if (base == nullptr)
        throw Error("a pipe end made for one node is used where its ring is not mapped");
    return *reinterpret_cast<Ring*>(base + (handle & ~kRingFlag));
}

// Waits until `ready()` (see wait.hpp), sleeping on the futex word `seq` that the other end
// bumps and wakes when `waiting` says someone sleeps. False if `deadline` passes first.
template <class Ready>
bool wait_ring(Ready ready, std::atomic<std::uint32_t>& seq, std::atomic<std::uint32_t>& waiting,
               std::optional<Clock::time_point> deadline) {
    const auto sleep = [&](std::chrono::microseconds d) { sleep_on(seq, waiting, d, ready); };
    switch (wait_until(ready, {.deadline = deadline, .interruptible = true, .sleep = sleep})) {
        case Waited::ready:
            return true;
        case Waited::timed_out:
            return false;
        case Waited::interrupted:
            break;
    }
    throw_terminated();
}

// Copies `n` bytes from `src` into the ring (writing), or from the ring to `dst` (reading),
// in pieces as room or data allows; each piece is published by moving this side's counter
// and waking the other side.
void transfer(Ring& r, const char* src, char* dst, std::uint64_t n) {
    const bool writing = src != nullptr;
    std::atomic<std::uint64_t>& mine = writing ? r.head : r.tail;
    std::atomic<std::uint64_t>& theirs = writing ? r.tail : r.head;
    std::uint64_t at_count = mine.load(std::memory_order_relaxed);
    while (n > 0) {
        std::uint64_t ready = 0;  // room to write, or bytes to read
        wait_ring(
            [&] {
                const std::uint64_t other = theirs.load(std::memory_order_acquire);
                ready = writing ? kRingBytes - (at_count - other) : other - at_count;
                return ready > 0;
            },
            writing ? r.space_seq : r.data_seq, writing ? r.writer_waiting : r.reader_waiting,
            std::nullopt);
        const std::uint64_t at = at_count % kRingBytes;
        const std::uint64_t k = std::min({n, ready, kRingBytes - at});
        if (writing) {
            std::memcpy(r.data() + at, src, k);
            src += k;
        } else {
            std::memcpy(dst, r.data() + at, k);
            dst += k;
        }
        n -= k;
        at_count += k;
        mine.store(at_count, std::memory_order_release);
        if (writing)
            signal(r.data_seq, r.reader_waiting);
        else
            signal(r.space_seq, r.writer_waiting);
    }
}

void write_bytes(Ring& r, const char* src, std::uint64_t n) {
    transfer(r, src, nullptr, n);
}

void read_bytes(Ring& r, char* dst, std::uint64_t n) {
    transfer(r, nullptr, dst, n);
}

// Whether a message starts in the ring, or the writer closed it with nothing left.
bool readable(Ring& r) {
    return r.head.load(std::memory_order_acquire) != r.tail.load(std::memory_order_relaxed) ||
           r.closed.load(std::memory_order_acquire) != 0;
}

}  // namespace

std::uint64_t new_ring() {
    NodeSegment& segment = runtime("mproc pipes").segment();
    const std::uint64_t at = segment.allocate(kRingStride);
    if (at == 0) return 0;  // full, or no segment: this pipe uses queues instead
    new (segment.base() + at) Ring{};
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
    wait_ring([&] { return readable(r); }, r.data_seq, r.reader_waiting, std::nullopt);
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
    return wait_ring([&] { return readable(r); }, r.data_seq, r.reader_waiting, deadline);
}

void ring_close(std::uint64_t ring) {
    Ring& r = ring_at(ring);
    r.closed.store(1, std::memory_order_release);
    signal(r.data_seq, r.reader_waiting);
}

}  // namespace mproc::detail
