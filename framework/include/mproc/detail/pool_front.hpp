#pragma once
// What Pool and ThreadPool share in front of their workers: the open, closed and terminated
// states, and the range an imap reader walks, chunk by chunk.

#include <cstddef>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mproc/detail/serialize.hpp"
#include "mproc/error.hpp"

namespace mproc::detail {

// A pool's life, as Python's: close() takes no more work, terminate() also drops what is not
// done, join() (after either) waits for what was submitted.
class PoolLife {
  public:
    explicit PoolLife(const char* name) : name_(name) {}

    // `n`, a pool's size as given to `name_`'s constructor: ValueError when negative, saying
    // that it counts `what` and what 0 means.
    int checked_size(int n, const char* what, const char* zero_means) const {
        if (n < 0)
            throw ValueError(std::string(name_) + "(" + std::to_string(n) + "): the number of " +
                             what + " must be at least 1, or 0 for " + zero_means);
        return n;
    }
    // What a pool's destructor does first: unless terminated, close and `join()`, swallowing
    // what that throws (the engine refuses only once the run has ended).
    template <class Join>
    void end(Join&& join) noexcept {
        try {
            if (!terminated_) {
                close();
                join();
            }
        } catch (...) {
        }
    }

    void close() { closed_ = true; }
    void terminate() { closed_ = terminated_ = true; }
    bool terminated() const { return terminated_; }
    // Throws PoolClosed when the pool takes no more work.
    void check_open() const {
        if (terminated_) throw PoolClosed(std::string(name_) + ": the pool was terminated");
        if (closed_) throw PoolClosed(std::string(name_) + ": the pool is closed");
    }
    // Throws Error unless close() or terminate() came first.
    void check_joinable() const {
        if (!closed_)
            throw Error(std::string(name_) + "::join: call close() or terminate() first");
    }

  private:
    const char* name_;
    bool closed_ = false;
    bool terminated_ = false;
};

// One chunk of an imap's results as its reader takes it: the values, or what failed it.
template <class R>
struct ResultChunk {
    std::vector<Stored<R>> values;
    std::exception_ptr error;
};

// The results of an imap: an input range, read once, over the chunks `Source` hands over
// (`std::optional<ResultChunk<R>> next()`: the next chunk in the order the reader wants,
// nullopt at the end; destroying it gives up on the rest). A failed chunk throws its error
// where it stands and is stepped over whole.
template <class R, class Source>
class ChunkedResults {
    // Kept where iterators can point at it while the results object itself moves.
    struct Cursor {
        Source source;
        ResultChunk<R> chunk;
        std::size_t pos = 0;
        bool ended = false;

        explicit Cursor(Source s) : source(std::move(s)) {}
        void advance() {
            pos = 0;
            if (auto next = source.next()) {
                chunk = std::move(*next);
            } else {
                ended = true;
                chunk = {};
            }
        }
        // Steps over chunks with no items (an input that ended on a chunk's edge).
        void skip_empty() {
            while (!ended && !chunk.error && pos >= chunk.values.size()) advance();
        }
    };

  public:
    using value_type = Stored<R>;

    class iterator {
      public:
        using value_type = Stored<R>;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::input_iterator_tag;

        iterator() = default;
        explicit iterator(Cursor* c) : c_(c) {}

        // The current result; rethrows the error of a failed chunk (RemoteError), or what the
        // input threw, after the results of the items before it.
        value_type& operator*() const {
            if (c_->chunk.error) std::rethrow_exception(c_->chunk.error);
            return c_->chunk.values[c_->pos];
        }
        iterator& operator++() {
            if (c_->chunk.error) {
                c_->advance();  // a failed chunk is stepped over as a whole
            } else {
                ++c_->pos;
            }
            c_->skip_empty();
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.c_->ended; }

      private:
        Cursor* c_ = nullptr;
    };

    explicit ChunkedResults(Source source) : cursor_(std::make_unique<Cursor>(std::move(source))) {}

    iterator begin() {
        if (!started_) {
            started_ = true;
            cursor_->advance();
            cursor_->skip_empty();
        }
        return iterator(cursor_.get());
    }
    std::default_sentinel_t end() const { return {}; }

  private:
    std::unique_ptr<Cursor> cursor_;
    bool started_ = false;
};

}  // namespace mproc::detail
