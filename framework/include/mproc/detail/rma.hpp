#pragma once
// The one-sided window under every shared object (shared.hpp, sync.hpp).
//
// mproc::run opens one window on every rank at start-up (the only collective call): on each
// rank a table of queue-lock nodes, and on rank 0 also the arena where shared objects live.
// An object is an offset into that arena, handed out by an atomic add on the arena's first
// word, so creating one needs no collective call and passing one copies a few bytes.
//
// Every operation is an MPI atomic on the window, followed by a flush. A thread that may
// call MPI (a worker's, or rank 0's MPI thread) makes the call itself; rank 0's other threads
// (the user's main function, callbacks) hand it to the MPI thread, the only thread of rank 0
// that calls MPI (MPI_THREAD_FUNNELED, which osc/pt2pt requires).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace mproc::detail {

// The order is that of the MPI datatype table in framework/src/shared_window.cpp.
enum class RmaType : std::uint8_t { i32, i64, u32, u64, f32, f64, i8, u8, i16, u16 };
enum class RmaOp : std::uint8_t { sum, replace, no_op };

// What a shared scalar is stored as: char as the byte type of its signedness, bool as a
// byte that is 0 or 1.
template <class T>
constexpr RmaType rma_type_of() {
    if constexpr (std::is_same_v<T, std::int32_t>)
        return RmaType::i32;
    else if constexpr (std::is_same_v<T, std::int64_t>)
        return RmaType::i64;
    else if constexpr (std::is_same_v<T, std::uint32_t>)
        return RmaType::u32;
    else if constexpr (std::is_same_v<T, std::uint64_t>)
        return RmaType::u64;
    else if constexpr (std::is_same_v<T, float>)
        return RmaType::f32;
    else if constexpr (std::is_same_v<T, double>)
        return RmaType::f64;
    else if constexpr (std::is_same_v<T, std::int8_t>)
        return RmaType::i8;
    else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, bool>)
        return RmaType::u8;
    else if constexpr (std::is_same_v<T, char>)
        return std::is_signed_v<char> ? RmaType::i8 : RmaType::u8;
    else if constexpr (std::is_same_v<T, std::int16_t>)
        return RmaType::i16;
    else if constexpr (std::is_same_v<T, std::uint16_t>)
        return RmaType::u16;
    else
        static_assert(sizeof(T) == 0,
                      "shared values hold bool, char, 8- to 64-bit integers, float or double");
}

template <class T>
concept SharedScalar = std::is_same_v<T, std::int32_t> || std::is_same_v<T, std::int64_t> ||
    std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::uint64_t> ||
    std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int8_t> ||
    std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int16_t> ||
    std::is_same_v<T, std::uint16_t> || std::is_same_v<T, char> || std::is_same_v<T, bool>;

// Offsets are into rank 0's arena unless a rank is given.
// result = old value at `offset`; the target becomes op(old, operand).
void rma_fetch_op(RmaType type, RmaOp op, const void* operand, void* result, std::uint64_t offset);
// Element-wise atomic op (sum or replace) on `count` elements from `offset`.
void rma_accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count,
                    std::uint64_t offset);
// Element-wise atomic read of `count` elements.
void rma_load(RmaType type, void* result, std::size_t count, std::uint64_t offset);
// result = old value; it becomes `desired` if it was `expected` (bitwise).
void rma_compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      std::uint64_t offset);

// `bytes` of zeroed arena, aligned to 8; throws ResourceError when the arena is full.
std::uint64_t shared_alloc(std::size_t bytes);

// The typed operations of Value and Array, on the scalar (or `count` scalars) at `offset`.
template <SharedScalar T>
T shared_load(std::uint64_t offset) {
    T v;
    rma_load(rma_type_of<T>(), &v, 1, offset);
    return v;
}
template <SharedScalar T>
void shared_store(std::uint64_t offset, const T* values, std::size_t count = 1) {
    rma_accumulate(rma_type_of<T>(), RmaOp::replace, values, count, offset);
}
// The value before; it becomes op(before, operand).
template <SharedScalar T>
T shared_fetch(RmaOp op, std::uint64_t offset, T operand) {
    T before;
    rma_fetch_op(rma_type_of<T>(), op, &operand, &before, offset);
    return before;
}
// `n` scalars in the arena, each `initial`: their offset. While a handle is being loaded from
// an archive (LoadingHandles) nothing is allocated: offset 0.
template <SharedScalar T>
std::uint64_t shared_new(std::size_t n, T initial) {
    const std::uint64_t offset = shared_alloc(n * sizeof(T));
    if (offset == 0 || n == 0) return offset;
    if (n == 1) {
        shared_store<T>(offset, &initial);
    } else {
        const auto all = std::make_unique<T[]>(n);  // (no std::vector<bool>: it has no data())
        std::fill_n(all.get(), n, initial);
        shared_store<T>(offset, all.get(), n);
    }
    return offset;
}

// The queue lock (MCS) under Lock and RLock: a 32-bit tail word in the arena at `offset`.
// A waiter spins, backing off, on a node in its own rank's part of the window.
void lock_acquire(std::uint64_t offset, bool reentrant);
bool lock_try_acquire(std::uint64_t offset, bool reentrant);
void lock_release(std::uint64_t offset, bool reentrant);
// For Condition::wait on an RLock held several times: release fully, get the depth back.
int lock_release_all(std::uint64_t offset, bool reentrant);
void lock_restore(std::uint64_t offset, bool reentrant, int depth);
// Whether the calling thread holds it (RLock), or this rank does (Lock).
bool lock_held_here(std::uint64_t offset, bool reentrant);

}  // namespace mproc::detail
