#pragma once
// Shared numbers on MPI one-sided windows: Python's multiprocessing.Value and Array.
//
//     mproc::Value<std::int64_t> counter(0);
//     pool.map(add_twenty, std::vector{counter, counter, ...});   // handles are plain bytes
//     // in a task, on any rank:
//     { std::lock_guard hold(counter.get_lock()); counter.store(counter.load() + 1); }
//     counter.fetch_add(1);                                       // atomic without a lock
//
// Every operation is one MPI atomic on rank 0's arena (see detail/rma.hpp), not a message
// to the master. Creating one costs an atomic add, not a collective call; the arena is
// never freed during a run (MPROC_SHARED_BYTES sets its size).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "mproc/detail/rma.hpp"
#include "mproc/sync.hpp"

namespace mproc {

// A shared scalar without a lock of its own (multiprocessing.RawValue).
template <detail::SharedScalar T>
class RawValue {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)

    explicit RawValue(T initial = T{}) : offset_(detail::shared_new<T>(1, initial)) {}

    T load() const { return detail::shared_load<T>(offset_); }
    void store(T x) { detail::shared_store<T>(offset_, &x); }
    // Adds `d` and returns the value before.
    T fetch_add(T d) requires(!std::is_same_v<T, bool>) {
        return detail::shared_fetch<T>(detail::RmaOp::sum, offset_, d);
    }
    T exchange(T x) { return detail::shared_fetch<T>(detail::RmaOp::replace, offset_, x); }
    // Stores `desired` if the value is `expected` (bitwise) and returns true; otherwise loads
    // the value into `expected` and returns false, as std::atomic does.
    bool compare_exchange(T& expected, T desired) {
        T old;
        detail::rma_compare_swap(detail::rma_type_of<T>(), &desired, &expected, &old, offset_);
        if (std::memcmp(&old, &expected, sizeof(T)) == 0) return true;
        expected = old;
        return false;
    }
    // Python's `.value`, as a getter.
    T value() const { return load(); }

  private:
    std::uint64_t offset_;
};

// A shared scalar with its own RLock (multiprocessing.Value): its operations are atomic
// one by one; hold get_lock() to make several of them one step.
template <detail::SharedScalar T>
class Value : public RawValue<T> {
  public:
    explicit Value(T initial = T{}) : RawValue<T>(initial) {}
    RLock& get_lock() const { return lock_; }

  private:
    mutable RLock lock_;
};

// A fixed-size shared array without a lock (multiprocessing.RawArray).
template <detail::SharedScalar T>
class RawArray {
  public:
    using mproc_handle = void;  // travels as its bytes (detail::Handle)
    // An empty array of size 0, to assign a real one to (in a container, say).
    RawArray() = default;
    RawArray(std::size_t n, T initial = T{}) : offset_(detail::shared_new<T>(n, initial)), size_(n) {}
    explicit RawArray(const std::vector<T>& values) : RawArray(values.size()) { assign(values); }

    std::size_t size() const { return size_; }
    T load(std::size_t i) const { return detail::shared_load<T>(at(i)); }
    void store(std::size_t i, T x) { detail::shared_store<T>(at(i), &x); }
    T fetch_add(std::size_t i, T d) requires(!std::is_same_v<T, bool>) {
        return detail::shared_fetch<T>(detail::RmaOp::sum, at(i), d);
    }
    // Every element in one operation (each element read atomically, not the whole array).
    std::vector<T> to_vector() const {
        std::vector<T> out(size_);
        if (size_ > 0) detail::rma_load(detail::rma_type_of<T>(), out.data(), size_, offset_);
        return out;
    }
    void assign(const std::vector<T>& values) {
        if (values.size() != size_)
            throw std::invalid_argument("Array::assign: " + std::to_string(values.size()) +
                                        " values for an array of " + std::to_string(size_));
        if (size_ > 0) detail::shared_store<T>(offset_, values.data(), size_);
    }

    // A char array as a string, as Python's Array('c', ...): value() is the text up to the
    // first NUL, raw() every byte; set_value writes the text and NUL-fills the rest.
    std::string value() const requires std::is_same_v<T, char> {
        const std::string all = raw();
        return all.substr(0, all.find('\0'));
    }
    std::string raw() const requires std::is_same_v<T, char> {
        const std::vector<char> bytes = to_vector();
        return std::string(bytes.begin(), bytes.end());
    }
    void set_value(const std::string& text) requires std::is_same_v<T, char> {
        if (text.size() > size_)
            throw std::invalid_argument("Array<char>::set_value: " + std::to_string(text.size()) +
                                        " bytes for an array of " + std::to_string(size_));
        std::vector<char> bytes(size_, '\0');
        std::copy(text.begin(), text.end(), bytes.begin());
        assign(bytes);
    }

  private:
    std::uint64_t at(std::size_t i) const {
        if (i >= size_)
            throw std::out_of_range("Array index " + std::to_string(i) + " out of range (size " +
                                    std::to_string(size_) + ")");
        return offset_ + i * sizeof(T);
    }

    std::uint64_t offset_ = 0;
    std::size_t size_ = 0;
};

// A shared array with its own RLock (multiprocessing.Array).
template <detail::SharedScalar T>
class Array : public RawArray<T> {
  public:
    using RawArray<T>::RawArray;
    RLock& get_lock() const { return lock_; }

  private:
    mutable RLock lock_;
};

}  // namespace mproc
