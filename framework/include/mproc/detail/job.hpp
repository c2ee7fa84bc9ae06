#pragma once
// A job is one Pool call (map, imap, apply, ...) as the pool engine sees it: a source that
// packs input items into chunks on demand, a sink that takes each chunk's packed results, and
// the bookkeeping the dispatcher keeps while chunks are out on workers.
//
// Sources and sinks are type-erased here and written as templates in pool.hpp; the dispatcher
// (framework/src) only moves bytes.

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "mproc/detail/bytes.hpp"

namespace mproc::detail {

// Pulls input items lazily and packs them. Called only on the MPI thread.
class ChunkSource {
  public:
    virtual ~ChunkSource() = default;
    // Packs up to `max_items` items onto `out` and returns how many (0 when exhausted).
    virtual std::uint32_t fill(std::uint32_t max_items, Buffer& out) = 0;
    // The number of items not yet packed, when the input knows its size.
    virtual std::optional<std::uint64_t> remaining() const = 0;
    // Whether the input threw while the last fill packed the items before it: the next fill
    // throws it (so a short fill does not mean the input ended).
    virtual bool error_pending() const { return false; }
    // The bytes every packed item takes when all take the same (plain values), else 0. Then a
    // group leader can cut a run of chunks packed as one (a span) into its chunks.
    virtual std::uint32_t item_bytes() const { return 0; }
};

// Receives results. Called on the MPI thread; implementations hand results to user threads.
class ResultSink {
  public:
    virtual ~ResultSink() = default;
    // The packed results of chunk `seq`, holding inputs [first, first + count).
    virtual void deliver(std::uint64_t seq, std::uint64_t first, std::uint32_t count,
                         const char* data, std::size_t size) = 0;
    // Chunk `seq` failed with `error` (a RemoteError or another mproc::Error).
    virtual void fail(std::uint64_t seq, std::uint64_t first, std::uint32_t count,
                      std::exception_ptr error) = 0;
    // Every chunk has been delivered or failed; `chunks` is how many there were.
    virtual void finish(std::uint64_t chunks) = 0;
    // The job was dropped (terminate, shutdown): nothing more will arrive.
    virtual void abort(std::exception_ptr error) = 0;
    // Whether one failed chunk ends the whole job (map, apply) or only its own items (imap).
    virtual bool fails_whole_job() const { return true; }
    // Whether deliver may take the results of consecutive chunks at once: seq the first of
    // them, [first, first + count) all their items, data their packed results end to end.
    // A group leader then joins a span's results into one block (GroupDispatcher).
    virtual bool joins_chunks() const { return false; }
};

// What an imap lets rank 0 hold for its reader: at most `chunks` chunks and `items` items
// handed out but not yet read (automatic chunks grow large for tiny tasks, so chunks alone do
// not bound memory). The reader's thread counts what it has read; the engine reads the counts.
struct ReadBound {
    std::uint64_t chunks = 0;
    std::uint64_t items = 0;
    std::atomic<std::uint64_t> read_chunks{0};
    std::atomic<std::uint64_t> read_items{0};

    ReadBound(std::uint64_t most_chunks, std::uint64_t most_items)
        : chunks(most_chunks), items(most_items) {}
    // Whether a job that handed out `chunks_out` chunks of `items_out` items may hand out more.
    bool has_room(std::uint64_t chunks_out, std::uint64_t items_out) const {
        return chunks_out - read_chunks.load(std::memory_order_acquire) < chunks &&
               items_out - read_items.load(std::memory_order_acquire) < items;
    }
};

struct Job {
    std::uint64_t id = 0;  // assigned by the dispatcher
    std::size_t slot = 0;  // its place in the dispatcher's list of live jobs
    int pool_id = 0;
    TaskId task = 0;
    std::string task_name;
    std::unique_ptr<ChunkSource> source;
    std::unique_ptr<ResultSink> sink;
    std::uint32_t chunksize = 0;    // 0: chosen by the dispatcher
    int pinned_rank = -1;           // >= 0: run only on this rank (initializers)
    std::uint32_t child_tasks = 0;  // see TaskHeader::child_tasks (maxtasksperchild, isolate)
    std::shared_ptr<ReadBound> bound;  // an imap's; null: no bound (map, apply)

    // Engine-thread state.
    std::uint64_t next_seq = 0;
    std::uint64_t next_index = 0;
    std::uint64_t in_flight = 0;
    bool input_done = false;
    bool failed = false;
    bool cancelled = false;
    double ns_per_item = -1;  // running estimate from workers' busy times; < 0 unknown
    std::uint32_t ramp = 1;   // chunk size while no estimate exists; doubles per chunk
};

}  // namespace mproc::detail
