#pragma once
// The config's input as a lazy stream of Items, read only as chunks go out: a 10^8-line file
// or a huge grid never sits in memory. Indices already done (a resumed run) are skipped.

#include <atomic>
#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>

#include "config.hpp"
#include "items.hpp"

namespace mproc::runner {

// One CSV line's fields (RFC 4180: "..." quotes a field, "" is a quote inside one), or
// nullopt with `why` set when the line is not a whole record (an open quote; a record may not
// span lines).
std::optional<std::vector<std::string>> csv_fields(const std::string& line, std::string& why);

class InputStream {
  public:
    explicit InputStream(const InputSpec& spec);
    // How many inputs there are in all (a lines input is counted once, quickly).
    std::uint64_t size() const { return size_; }
    // The next input, or nullopt at the end.
    std::optional<Value> next();
    // Input `i` (of those the stream is limited to), and from there on with next(). A lines
    // or csv input finds its lines through a table of where each starts, made on first use.
    std::optional<Value> at(std::uint64_t i);
    // Restricts the stream to the inputs with indices in [first, end) (before the first next()).
    void limit(std::uint64_t first, std::uint64_t end);

  private:
    Value grid_point(std::uint64_t i) const;

    const InputSpec& spec_;
    std::uint64_t size_ = 0;
    std::uint64_t at_ = 0;
    std::ifstream lines_;
    std::vector<std::uint64_t> line_starts_;  // at(): where each input's line starts
};

// Part `index` of `count` equal parts of the inputs, as a Slurm array task takes them: a
// contiguous run of indices, so the parts' results concatenate in order.
struct Shard {
    std::uint64_t index = 0, count = 1;
    std::uint64_t first(std::uint64_t n) const { return n * index / count; }
    std::uint64_t end(std::uint64_t n) const { return n * (index + 1) / count; }
};

// An input range of the Items still to do (of one shard), for Pool::imap. Items keep their
// index among all the inputs.
class ItemRange {
  public:
    ItemRange(const InputSpec& spec, std::function<bool(std::uint64_t)> done, Shard shard = {});

    class iterator {
      public:
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(ItemRange* r) : r_(r) { r_->advance(); }
        const Item& operator*() const { return r_->current_; }
        iterator& operator++() {
            r_->advance();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool at_end() const { return r_->ended_; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

      private:
        ItemRange* r_ = nullptr;
    };

    iterator begin() { return iterator(this); }
    // Called with each item as it is handed out (on the thread reading the range).
    void on_read(std::function<void(const Item&)> fn) { on_read_ = std::move(fn); }
    std::default_sentinel_t end() const { return {}; }
    // Ends the range early: no more inputs go out (errors.max_failures).
    void stop() { stopped_.store(true); }
    // Hands the inputs out in this order instead (indices of this shard; pool.order), before
    // the first is read.
    void reorder(std::vector<std::uint64_t> order) { order_ = std::move(order); }
    // How many inputs this shard has.
    std::uint64_t total() const { return end_ - first_; }
    // The shard's first index.
    std::uint64_t first() const { return first_; }

  private:
    void advance();

    InputStream stream_;
    std::function<bool(std::uint64_t)> done_;
    std::function<void(const Item&)> on_read_;
    std::uint64_t first_ = 0, end_ = 0;
    std::uint64_t index_ = 0;
    std::optional<std::vector<std::uint64_t>> order_;
    std::size_t ordered_ = 0;  // how far into order_
    Item current_;
    bool ended_ = false;
    std::atomic<bool> stopped_{false};  // (set by the thread reading the results)
};

}  // namespace mproc::runner
