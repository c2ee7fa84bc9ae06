#pragma once
// mproc::range: Python's range as a lazy, sized C++ view.
//
//     pool.map(square, mproc::range(10));               // 0..9
//     pool.imap(f, mproc::range<std::int64_t>(0, 100'000'000, 1));   // never materialised

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <ranges>
#include <stdexcept>

namespace mproc {

template <std::integral T>
class Range : public std::ranges::view_interface<Range<T>> {
  public:
    class iterator {
      public:
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using iterator_concept = std::random_access_iterator_tag;

        iterator() = default;
        iterator(T value, T step) : value_(value), step_(step) {}

        T operator*() const { return value_; }
        T operator[](difference_type n) const { return static_cast<T>(value_ + n * step_); }
        iterator& operator++() {
            value_ += step_;
            return *this;
        }
        iterator operator++(int) {
            auto old = *this;
            ++*this;
            return old;
        }
        iterator& operator--() {
            value_ -= step_;
            return *this;
        }
        iterator operator--(int) {
            auto old = *this;
            --*this;
            return old;
        }
        iterator& operator+=(difference_type n) {
            value_ += static_cast<T>(n * step_);
            return *this;
        }
        iterator& operator-=(difference_type n) {
            value_ -= static_cast<T>(n * step_);
            return *this;
        }
        friend iterator operator+(iterator it, difference_type n) { return it += n; }
        friend iterator operator+(difference_type n, iterator it) { return it += n; }
        friend iterator operator-(iterator it, difference_type n) { return it -= n; }
        friend difference_type operator-(const iterator& a, const iterator& b) {
            return (static_cast<difference_type>(a.value_) -
                    static_cast<difference_type>(b.value_)) /
                   static_cast<difference_type>(a.step_);
        }
        friend bool operator==(const iterator& a, const iterator& b) {
            return a.value_ == b.value_;
        }
        friend auto operator<=>(const iterator& a, const iterator& b) {
            return a.step_ > 0 ? a.value_ <=> b.value_ : b.value_ <=> a.value_;
        }

      private:
        T value_{};
        T step_{1};
    };

    Range() = default;
    Range(T start, T stop, T step) : start_(start), step_(step) {
        if (step == 0) throw std::invalid_argument("mproc::range: step must not be zero");
        // Number of elements as Python computes it; stop is rounded to start + n * step.
        long double span = static_cast<long double>(stop) - static_cast<long double>(start);
        long long n = 0;
        if ((step > 0 && stop > start) || (step < 0 && stop < start)) {
            long double s = static_cast<long double>(step);
            n = static_cast<long long>((span + s - (step > 0 ? 1 : -1)) / s);
        }
        size_ = static_cast<std::size_t>(n);
    }

    iterator begin() const { return iterator(start_, step_); }
    iterator end() const {
        return iterator(static_cast<T>(start_ + static_cast<T>(size_) * step_), step_);
    }
    std::size_t size() const { return size_; }

  private:
    T start_{};
    T step_{1};
    std::size_t size_ = 0;
};

template <std::integral T>
Range<T> range(T stop) {
    return Range<T>(T{0}, stop, T{1});
}

template <std::integral T>
Range<T> range(T start, T stop, T step = T{1}) {
    return Range<T>(start, stop, step);
}

}  // namespace mproc

template <class T>
inline constexpr bool std::ranges::enable_borrowed_range<mproc::Range<T>> = true;
