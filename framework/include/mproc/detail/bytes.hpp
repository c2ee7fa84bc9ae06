#pragma once
// The few types every part that moves tasks' bytes needs, without the serialization machinery
// (serialize.hpp, which brings Boost's archives): the buffer a message is packed into, a
// task's id, what a void task returns, which types travel as raw bytes, and the helpers a
// type's own byte codec is written with (mproc_pack / mproc_unpack, see serialize.hpp).

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "mproc/error.hpp"

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

// Helpers for CustomPacked codecs: raw bytes of plain values, and length-prefixed strings.
template <Bitwise U>
void pack_raw(Buffer& out, const U& v) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(U));
    std::memcpy(out.data() + at, &v, sizeof(U));
}
template <Bitwise U>
void unpack_raw(const char*& at, const char* end, U& v) {
    if (end - at < static_cast<std::ptrdiff_t>(sizeof(U)))
        throw Error("mproc: truncated message while unpacking");
    std::memcpy(&v, at, sizeof(U));
    at += sizeof(U);
}
// A bool is one byte, 0 or 1; any other byte is a corrupt message (loading it into a bool
// would be undefined behaviour).
inline void unpack_raw(const char*& at, const char* end, bool& v) {
    std::uint8_t byte = 0;
    unpack_raw(at, end, byte);
    if (byte > 1)
        throw Error("mproc: a corrupt message (a flag of value " + std::to_string(byte) + ")");
    v = byte == 1;
}
inline void pack_string(Buffer& out, const std::string& s) {
    pack_raw(out, static_cast<std::uint64_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
}
inline void unpack_string(const char*& at, const char* end, std::string& s) {
    std::uint64_t n = 0;
    unpack_raw(at, end, n);
    if (static_cast<std::uint64_t>(end - at) < n)
        throw Error("mproc: truncated message while unpacking");
    s.assign(at, static_cast<std::size_t>(n));
    at += n;
}

}  // namespace mproc::detail
