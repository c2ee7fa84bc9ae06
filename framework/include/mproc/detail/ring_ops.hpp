#pragma once
// Pipes between processes of one node: a ring buffer per direction in memory every rank of
// the node maps (see framework/src/rings.cpp). A message is its length and its bytes, written
// into the ring as space allows, so a 100 MB message streams through a 256 KiB ring. A waiting
// end polls briefly, then sleeps on a futex in the ring that the other end wakes; nothing
// goes through rank 0 or MPI, so a round trip costs two wake-ups at most.
//
// Used by Connection (pipe.hpp) when every rank is on one node and the node segment has room;
// otherwise a pipe's directions are queues on rank 0 (queue_ops.hpp), which work anywhere.

#include <chrono>
#include <cstdint>
#include <vector>

namespace mproc::detail {

// A ring's handle has this bit set; a queue id never does.
inline constexpr std::uint64_t kRingFlag = std::uint64_t{1} << 63;

inline bool is_ring(std::uint64_t handle) {
    return (handle & kRingFlag) != 0;
}

// A new ring, or 0 when there can be none (ranks on several nodes, or the segment is full).
std::uint64_t new_ring();

void ring_send(std::uint64_t ring, const std::vector<char>& bytes);
// The next message; false when the writer has closed the ring and everything is read.
bool ring_recv(std::uint64_t ring, std::vector<char>& out);
// Whether a message (or the end of the stream) is there within `timeout` (negative: forever).
bool ring_poll(std::uint64_t ring, std::chrono::nanoseconds timeout);
// The writer's end: the reader sees the end of the stream once it has read everything.
void ring_close(std::uint64_t ring);

}  // namespace mproc::detail
