#pragma once
// The few types every part that moves tasks' bytes needs, without the serialization machinery
// (serialize.hpp, which brings Boost's archives): the buffer a message is packed into, a
// task's id, what a void task returns, and which types travel as raw bytes.

#include <cstdint>
#include <type_traits>
#include <vector>

namespace mproc::detail {

using Buffer = std::vector<char>;

// A task travels as a 64-bit id: a hash of its name and signature (registry.hpp).
using TaskId = std::uint64_t;

// The value a void task "returns", so every task has a result type.
struct Unit {
    template <class Archive>
    void serialize(Archive&, const unsigned int) {}
};

// What a result of type R is kept as: Unit for void.
template <class R>
using Stored = std::conditional_t<std::is_void_v<R>, Unit, R>;

template <class T>
concept Bitwise =
    std::is_trivially_copyable_v<T> && !std::is_pointer_v<T> && !std::is_member_pointer_v<T>;

}  // namespace mproc::detail
