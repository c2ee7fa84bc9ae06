#pragma once
// The typed ends of a job: sources that pack inputs, sinks that unpack results into what the
// user holds (an AsyncResult, or the buffer behind an imap iterator).

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc/async_result.hpp"
#include "mproc/detail/engine.hpp"
#include "mproc/detail/job.hpp"

namespace mproc::detail {

// Reads a range lazily on the engine thread, converting each element to the task's Pack.
template <class Pack, class View, class Convert>
class RangeSource final : public ChunkSource {
public:
    RangeSource(View view, Convert convert)
        : view_(std::move(view)), convert_(std::move(convert)) {
        if constexpr (std::ranges::sized_range<View>) remaining_ = std::ranges::size(view_);
    }

    std::uint32_t fill(std::uint32_t max_items, Buffer& out) override {
        if (!started_) {
            it_.emplace(std::ranges::begin(view_));
            started_ = true;
        }
        Packer<Pack> packer(out);
        std::uint32_t n = 0;
        auto& it = *it_;
        const auto end = std::ranges::end(view_);
        for (; n < max_items && it != end; ++it, ++n) packer.put(convert_(*it));
        packer.finish();
        if (remaining_) *remaining_ -= n;
        return n;
    }

    std::optional<std::uint64_t> remaining() const override { return remaining_; }

private:
    View view_;
    Convert convert_;
    bool started_ = false;
    std::optional<std::ranges::iterator_t<View>> it_;
    std::optional<std::uint64_t> remaining_;
};

template <class Pack, class View, class Convert>
std::unique_ptr<ChunkSource> make_source(View view, Convert convert) {
    return std::make_unique<RangeSource<Pack, View, Convert>>(std::move(view), std::move(convert));
}

template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Unit, R>;

template <class R>
std::vector<Stored<R>> unpack_all(const char* data, std::size_t size, std::uint32_t count) {
    Unpacker<Stored<R>> unpacker(data, size);
    std::vector<Stored<R>> out;
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) out.push_back(unpacker.get());
    return out;
}

// map / starmap: every chunk's results, joined in input order when the last one arrives.
template <class R>
class CollectSink final : public ResultSink {
public:
    using Result = std::conditional_t<std::is_void_v<R>, void, std::vector<R>>;

    explicit CollectSink(std::shared_ptr<ResultState<Result>> state) : state_(std::move(state)) {}

    void deliver(std::uint64_t seq, std::uint64_t, std::uint32_t count, const char* data,
                 std::size_t size) override {
        if constexpr (!std::is_void_v<R>) {
            if (chunks_.size() <= seq) chunks_.resize(seq + 1);
            chunks_[seq] = unpack_all<R>(data, size, count);
        }
        (void)seq, (void)count, (void)data, (void)size;
    }
    void fail(std::uint64_t, std::uint64_t, std::uint32_t, std::exception_ptr e) override {
        state_->set_error(std::move(e));
    }
    void finish(std::uint64_t) override {
        if constexpr (std::is_void_v<R>) {
            state_->set_value(Unit{});
        } else {
            std::size_t total = 0;
            for (const auto& c : chunks_) total += c.size();
            std::vector<R> all;
            all.reserve(total);
            for (auto& c : chunks_) std::move(c.begin(), c.end(), std::back_inserter(all));
            chunks_.clear();
            state_->set_value(std::move(all));
        }
    }
    void abort(std::exception_ptr e) override { state_->set_error(std::move(e)); }

private:
    std::shared_ptr<ResultState<Result>> state_;
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

// imap / imap_unordered: a bounded buffer of finished chunks between engine and reader.
template <class R>
class StreamSink final : public ResultSink {
public:
    struct Chunk {
        std::vector<Stored<R>> values;
        std::exception_ptr error;
    };

    StreamSink(std::shared_ptr<PoolState> pool, Job& job, bool ordered)
        : pool_(std::move(pool)), job_(job), ordered_(ordered) {}

    void deliver(std::uint64_t seq, std::uint64_t, std::uint32_t count, const char* data,
                 std::size_t size) override {
        push(seq, Chunk{unpack_all<R>(data, size, count), nullptr});
    }
    void fail(std::uint64_t seq, std::uint64_t, std::uint32_t, std::exception_ptr e) override {
        push(seq, Chunk{{}, std::move(e)});
    }
    void finish(std::uint64_t chunks) override {
        {
            std::lock_guard lock(mutex_);
            total_ = chunks;
        }
        cv_.notify_all();
        settle();
    }
    void abort(std::exception_ptr e) override {
        {
            std::lock_guard lock(mutex_);
            aborted_ = std::move(e);
        }
        cv_.notify_all();
        settle();
    }
    bool fails_whole_job() const override { return false; }

    // Reader side: the next chunk in order (or in completion order); nullopt at the end.
    std::optional<Chunk> next() {
        std::unique_lock lock(mutex_);
        for (;;) {
            if (taken_ == total_) return std::nullopt;
            if (ordered_) {
                auto it = pending_.find(taken_);
                if (it != pending_.end()) {
                    Chunk c = std::move(it->second);
                    pending_.erase(it);
                    return take(std::move(c));
                }
            } else if (!pending_.empty()) {
                auto it = pending_.begin();
                Chunk c = std::move(it->second);
                pending_.erase(it);
                return take(std::move(c));
            }
            if (aborted_) std::rethrow_exception(aborted_);
            ++waiting_;
            cv_.wait(lock);
            --waiting_;
        }
    }

private:
    void push(std::uint64_t seq, Chunk c) {
        bool wake;
        {
            std::lock_guard lock(mutex_);
            pending_.emplace(ordered_ ? seq : arrival_++, std::move(c));
            wake = waiting_ > 0;
        }
        if (wake) cv_.notify_one();
    }
    Chunk take(Chunk c) {
        ++taken_;
        job_.consumed.fetch_add(1, std::memory_order_release);
        nudge_engine();  // the window may have had no room
        return c;
    }
    void settle() {
        if (!settled_.exchange(true)) pool_->settle_one();
    }

    std::shared_ptr<PoolState> pool_;
    Job& job_;
    const bool ordered_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::uint64_t, Chunk> pending_;  // keyed by seq (ordered) or arrival (unordered)
    std::uint64_t arrival_ = 0;
    std::uint64_t taken_ = 0;
    std::uint64_t total_ = std::numeric_limits<std::uint64_t>::max();
    int waiting_ = 0;
    std::exception_ptr aborted_;
    std::atomic<bool> settled_{false};
};

}  // namespace mproc::detail
