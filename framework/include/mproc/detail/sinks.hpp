#pragma once
// The typed ends of a job: sources that pack inputs, sinks that unpack results into what the
// user holds (an AsyncResult, or the buffer behind an imap iterator).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc/async_result.hpp"
#include "mproc/detail/job.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/pool_front.hpp"

namespace mproc::detail {

// Reads a range lazily on the MPI thread, converting each element to the task's Pack.
template <class Pack, class View, class Convert>
class RangeSource final : public ChunkSource {
  public:
    RangeSource(View view, Convert convert) : view_(std::move(view)), convert_(std::move(convert)) {
        if constexpr (std::ranges::sized_range<View>) remaining_ = std::ranges::size(view_);
    }

    // An exception from the input (its iterator, or converting an element) ends the chunk
    // being filled: the items before it go out as usual, and the next fill throws it, so the
    // caller sees it where Python would, after the results of those items.
    std::uint32_t fill(std::uint32_t max_items, Buffer& out) override {
        if (input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
        if (!started_) {
            it_.emplace(std::ranges::begin(view_));
            started_ = true;
        }
        std::uint32_t n = 0;
        auto& it = *it_;
        const auto end = std::ranges::end(view_);
        if constexpr (Bitwise<Pack>) {
            // Write straight into the message; trim to what the input had.
            const std::size_t at = out.size();
            if (remaining_)
                max_items =
                    static_cast<std::uint32_t>(std::min<std::uint64_t>(max_items, *remaining_));
            out.resize(at + std::size_t{max_items} * sizeof(Pack));
            char* to = out.data() + at;  // (out.data() would be read again after every store)
            try {
                // Counted in the body: an item read is packed and counted even when the
                // step past it (++it) is what throws.
                for (; n < max_items && it != end; ++it) {
                    const Pack p = convert_(*it);
                    std::memcpy(to, &p, sizeof(Pack));
                    to += sizeof(Pack);
                    ++n;
                }
            } catch (...) {
                input_error_ = std::current_exception();
            }
            out.resize(at + std::size_t{n} * sizeof(Pack));
        } else {
            Packer<Pack> packer(out);
            try {
                for (; n < max_items && it != end; ++it) {
                    packer.put(convert_(*it));
                    ++n;
                }
            } catch (...) {
                input_error_ = std::current_exception();
            }
            packer.finish();
        }
        if (remaining_) *remaining_ -= n;
        if (n == 0 && input_error_) std::rethrow_exception(std::exchange(input_error_, nullptr));
        return n;
    }

    std::optional<std::uint64_t> remaining() const override { return remaining_; }
    bool error_pending() const override { return input_error_ != nullptr; }
    std::uint32_t item_bytes() const override {
        return static_cast<std::uint32_t>(packed_bytes<Pack>);
    }

  private:
    View view_;
    Convert convert_;
    bool started_ = false;
    std::optional<std::ranges::iterator_t<View>> it_;
    std::optional<std::uint64_t> remaining_;
    std::exception_ptr input_error_;  // thrown by the next fill
};

template <class Pack, class View, class Convert>
std::unique_ptr<ChunkSource> make_source(View view, Convert convert) {
    return std::make_unique<RangeSource<Pack, View, Convert>>(std::move(view), std::move(convert));
}

// Asks the kernel to back [p, p + bytes) with huge pages where it can: a map's result vector
// of tens of megabytes is otherwise filled through a page fault every 4 KiB, a third of the
// time a map of tiny tasks takes. Does nothing for small ranges.
void prefer_huge_pages(void* p, std::size_t bytes) noexcept;

// Unpacks `count` results into out[0, count).
template <class T>
void unpack_into(T* out, const char* data, std::size_t size, std::uint32_t count) {
    if constexpr (Bitwise<T>) {
        if (size < std::size_t{count} * sizeof(T)) throw Error("mproc: truncated result message");
        std::memcpy(static_cast<void*>(out), data, std::size_t{count} * sizeof(T));
    } else {
        Unpacker<T> unpacker(data, size);
        for (std::uint32_t i = 0; i < count; ++i) out[i] = unpacker.get();
    }
}

// Appends `count` unpacked results to `out`; on a malformed message `out` is left as it was.
template <class R>
void append_unpacked(std::vector<Stored<R>>& out, const char* data, std::size_t size,
                     std::uint32_t count) {
    using T = Stored<R>;
    const std::size_t at = out.size();
    try {
        if constexpr (std::is_default_constructible_v<T> && !std::is_same_v<T, bool>) {
            out.resize(at + count);
            unpack_into(out.data() + at, data, size, count);
        } else {
            // No default value to overwrite (shared-object handles), or no data() (vector<bool>).
            out.reserve(at + count);
            Unpacker<T> unpacker(data, size);
            for (std::uint32_t i = 0; i < count; ++i) out.push_back(unpacker.get());
        }
    } catch (...) {
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(at), out.end());
        throw;
    }
}

template <class R>
std::vector<Stored<R>> unpack_all(const char* data, std::size_t size, std::uint32_t count) {
    std::vector<Stored<R>> out;
    append_unpacked<R>(out, data, size, count);
    return out;
}

// map / starmap: every chunk's results in input order. When the input's size is known the
// results go straight to their place in the final vector; otherwise chunks are joined at
// the end.
template <class R>
class CollectSink final : public ResultSink {
  public:
    using Result = std::conditional_t<std::is_void_v<R>, void, std::vector<R>>;
    // Results go straight to their place when they can be default-made and addressed
    // (vector<bool> has no data()).
    static constexpr bool kDirect =
        !std::is_void_v<R> && std::is_default_constructible_v<R> && !std::is_same_v<R, bool>;

    CollectSink(std::shared_ptr<ResultState<Result>> state, std::optional<std::uint64_t> total)
        : state_(std::move(state)) {
        if constexpr (kDirect) {
            if (total) {
                direct_ = true;
                all_.reserve(*total);
                prefer_huge_pages(all_.data(), *total * sizeof(R));
                all_.resize(*total);
            }
        }
    }

    void deliver(std::uint64_t seq, std::uint64_t first, std::uint32_t count, const char* data,
                 std::size_t size) override {
        if constexpr (!std::is_void_v<R>) {
            if constexpr (kDirect) {
                if (direct_) {
                    if (first + count > all_.size())
                        throw Error("mproc: internal error: result beyond the input");
                    unpack_into(all_.data() + first, data, size, count);
                    return;
                }
            }
            if (chunks_.size() <= seq) chunks_.resize(seq + 1);
            chunks_[seq] = unpack_all<R>(data, size, count);
        }
        (void)seq, (void)first, (void)count, (void)data, (void)size;
    }
    void fail(std::uint64_t, std::uint64_t, std::uint32_t, std::exception_ptr e) override {
        state_->set_error(std::move(e));
    }
    void finish(std::uint64_t) override {
        if constexpr (std::is_void_v<R>) {
            state_->set_value(Unit{});
        } else {
            if (!direct_) {
                std::size_t total = 0;
                for (const auto& c : chunks_) total += c.size();
                all_.reserve(total);
                for (auto& c : chunks_) std::move(c.begin(), c.end(), std::back_inserter(all_));
                chunks_.clear();
            }
            state_->set_value(std::move(all_));
        }
    }
    void abort(std::exception_ptr e) override { state_->set_error(std::move(e)); }
    // Plain values (and tuples of them) pack end to end, so consecutive chunks' results read
    // as one chunk's; a chunk that comes joined to others simply fills their places too (or,
    // with the input's size unknown, the first one's slot in chunks_, the others' staying
    // empty).
    bool joins_chunks() const override { return packs_as_bytes<Stored<R>>; }

  private:
    std::shared_ptr<ResultState<Result>> state_;
    bool direct_ = false;
    std::vector<Stored<R>> all_;
    std::vector<std::vector<Stored<R>>> chunks_;
};

// apply: one item, one result.
template <class R>
class SingleSink final : public ResultSink {
  public:
    explicit SingleSink(std::shared_ptr<ResultState<R>> state) : state_(std::move(state)) {}

    void deliver(std::uint64_t, std::uint64_t, std::uint32_t, const char* data,
                 std::size_t size) override {
        Unpacker<Stored<R>> unpacker(data, size);
        state_->set_value(unpacker.get());
    }
    void fail(std::uint64_t, std::uint64_t, std::uint32_t, std::exception_ptr e) override {
        state_->set_error(std::move(e));
    }
    void finish(std::uint64_t) override {}
    void abort(std::exception_ptr e) override { state_->set_error(std::move(e)); }

  private:
    std::shared_ptr<ResultState<R>> state_;
};

// imap / imap_unordered: a bounded buffer of finished chunks between the engine and the reader.
//
// Tiny chunks arrive a microsecond apart, so the reader takes every ready chunk at once: a
// thread wake-up per chunk would cost more than the chunk.
template <class R>
class StreamSink final : public ResultSink {
  public:
    // `bound` is the job's: what the reader has read is counted there.
    StreamSink(std::shared_ptr<PoolState> pool, std::shared_ptr<ReadBound> bound, bool ordered)
        : settlement_(std::move(pool)), bound_(std::move(bound)), ordered_(ordered) {}

    void deliver(std::uint64_t seq, std::uint64_t, std::uint32_t count, const char* data,
                 std::size_t size) override {
        if (!ordered_ && append_to_last(count, data, size)) return;
        push(seq, Chunk{{unpack_all<R>(data, size, count), nullptr}, count});
    }
    void fail(std::uint64_t seq, std::uint64_t, std::uint32_t count,
              std::exception_ptr e) override {
        push(seq, Chunk{{{}, std::move(e)}, count});
    }
    void finish(std::uint64_t chunks) override {
        end([&] { total_ = chunks; });
    }
    void abort(std::exception_ptr e) override {
        end([&] { aborted_ = std::move(e); });
    }
    bool fails_whole_job() const override { return false; }

    // Reader side: the next chunk in order (or in completion order); nullopt at the end.
    std::optional<ResultChunk<R>> next() {
        if (local_.empty()) refill();
        if (local_.empty()) return std::nullopt;
        Chunk c = std::move(local_.front());
        local_.pop_front();
        // Counted as read only now, so the bound limits what the reader holds too: a reader
        // slower than the workers must not pile up chunks of its own. Published in small
        // batches: the counters are shared with the MPI thread.
        unpublished_chunks_ += c.chunks;
        unpublished_items_ += c.count;
        if (unpublished_chunks_ >= 64 || unpublished_items_ >= bound_->items / 16) publish();
        return std::move(c.results);
    }
    // The engine, to cancel the rest when the reader goes away.
    Engine& engine() const { return settlement_.pool().engine(); }

  private:
    struct Chunk {
        ResultChunk<R> results;
        std::uint64_t count = 0;   // items the chunk stood for (a failed one has no values)
        std::uint64_t chunks = 1;  // chunks merged into it (unordered: see append_to_last)
    };

    // Nothing more will come: `say` how the job ended (under the lock), wake the reader, and
    // settle the job in its pool.
    template <class Say>
    void end(Say&& say) {
        {
            std::lock_guard lock(mutex_);
            say();
        }
        cv_.notify_all();
        settlement_.settle();
    }

    // In completion order, results that arrive while the reader has not yet taken the last
    // chunk join it: tiny chunks then cost neither an allocation nor a queue entry each.
    bool append_to_last(std::uint32_t count, const char* data, std::size_t size) {
        bool wake;
        {
            std::lock_guard lock(mutex_);
            if (pending_.empty() || !pending_.back() || pending_.back()->results.error)
                return false;
            Chunk& last = *pending_.back();
            append_unpacked<R>(last.results.values, data, size, count);
            last.count += count;
            ++last.chunks;
            wake = waiting_;
        }
        if (wake) cv_.notify_one();
        return true;
    }

    void push(std::uint64_t seq, Chunk c) {
        bool wake;
        {
            std::lock_guard lock(mutex_);
            if (ordered_) {
                const std::uint64_t slot = seq - head_seq_;
                if (pending_.size() <= slot) pending_.resize(slot + 1);
                pending_[slot] = std::move(c);
            } else {
                pending_.emplace_back(std::move(c));
            }
            wake = waiting_;
        }
        if (wake) cv_.notify_one();
    }

    void publish() {
        if (unpublished_chunks_ == 0) return;
        bound_->read_items.fetch_add(unpublished_items_, std::memory_order_release);
        bound_->read_chunks.fetch_add(unpublished_chunks_, std::memory_order_release);
        unpublished_chunks_ = unpublished_items_ = 0;
        engine().room();  // the bound may have left no room
    }

    // Moves every chunk that may be read now into local_, waiting for at least one. While
    // results flow, the reader naps in short, growing steps (so chunks pile up and are taken
    // together, and nobody pays for a wake-up per chunk); after a millisecond with nothing
    // new it sleeps on the condition variable until the engine wakes it.
    void refill() {
        publish();  // before waiting: the engine may be waiting for room
        using namespace std::chrono;
        auto nap = microseconds(10);
        for (auto napped = microseconds(0); napped < milliseconds(1); napped += nap, nap *= 2) {
            if (take_ready()) return;
            std::this_thread::sleep_for(nap);
        }
        std::unique_lock lock(mutex_);
        for (;;) {
            const std::size_t n = take_ready_locked();
            if (n > 0 || taken_ == total_) break;
            if (aborted_) std::rethrow_exception(aborted_);
            waiting_ = true;
            cv_.wait(lock);
            waiting_ = false;
        }
    }

    // True when something was taken or nothing more will come.
    bool take_ready() {
        std::lock_guard lock(mutex_);
        return take_ready_locked() > 0 || taken_ == total_ || aborted_;
    }

    std::size_t take_ready_locked() {
        std::size_t n = 0;
        while (!pending_.empty() && pending_.front()) {
            taken_ += pending_.front()->chunks;
            local_.push_back(std::move(*pending_.front()));
            pending_.pop_front();
            ++n;
            if (ordered_) ++head_seq_;
        }
        return n;
    }

    Settlement settlement_;  // settled once the job finished or was aborted
    std::shared_ptr<ReadBound> bound_;
    const bool ordered_;
    std::mutex mutex_;
    std::condition_variable cv_;
    // Ordered: slot i holds chunk head_seq_ + i once it arrived. Unordered: arrival order.
    std::deque<std::optional<Chunk>> pending_;
    std::uint64_t head_seq_ = 0;
    std::uint64_t taken_ = 0;
    std::uint64_t total_ = std::numeric_limits<std::uint64_t>::max();
    bool waiting_ = false;
    std::exception_ptr aborted_;
    std::deque<Chunk> local_;  // reader-side: taken, not yet iterated
    std::uint64_t unpublished_chunks_ = 0, unpublished_items_ = 0;  // read, not yet counted
};

// What an imap's results range reads from: the job's StreamSink. Letting go of it before the
// end cancels the rest of the job.
template <class R>
class PoolStream {
  public:
    PoolStream(std::shared_ptr<Job> job, StreamSink<R>* sink) : job_(std::move(job)), sink_(sink) {}
    PoolStream(PoolStream&& o) noexcept
        : job_(std::move(o.job_)), sink_(o.sink_), ended_(o.ended_) {}
    PoolStream& operator=(PoolStream&&) = delete;
    ~PoolStream() {
        if (!ended_ && job_) sink_->engine().cancel(std::move(job_));
    }

    std::optional<ResultChunk<R>> next() {
        auto c = sink_->next();
        if (!c) ended_ = true;
        return c;
    }

  private:
    std::shared_ptr<Job> job_;  // owns the sink
    StreamSink<R>* sink_;
    bool ended_ = false;
};

}  // namespace mproc::detail
