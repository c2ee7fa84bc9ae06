#pragma once
// The config's input as a lazy stream of Items, read only as chunks go out: a 10^8-line file
// or a huge grid never sits in memory. Indices already done (a resumed run) are skipped.

#include <cstdint>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>

#include "config.hpp"
#include "items.hpp"

namespace mproc::runner {

class InputStream {
  public:
    explicit InputStream(const InputSpec& spec);
    // How many inputs there are in all (a lines input is counted once, quickly).
    std::uint64_t size() const { return size_; }
    // The next input, or nullopt at the end.
    std::optional<Value> next();

  private:
    Value grid_point(std::uint64_t i) const;

    const InputSpec& spec_;
    std::uint64_t size_ = 0;
    std::uint64_t at_ = 0;
    std::ifstream lines_;
};

// An input range of the Items still to do, for Pool::imap.
class ItemRange {
  public:
    ItemRange(const InputSpec& spec, std::function<bool(std::uint64_t)> done)
        : stream_(spec), done_(std::move(done)) {}

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
    std::default_sentinel_t end() const { return {}; }
    std::uint64_t total() const { return stream_.size(); }

  private:
    void advance();

    InputStream stream_;
    std::function<bool(std::uint64_t)> done_;
    std::uint64_t index_ = 0;
    Item current_;
    bool ended_ = false;
};

}  // namespace mproc::runner
