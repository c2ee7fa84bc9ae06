#pragma once
// Packing task arguments and results into byte buffers.
//
// A chunk of N items travels as one buffer. Trivially copyable items (and tuples or pairs of
// them) are copied as raw bytes; anything else goes through one Boost binary archive opened
// for the whole chunk, so the per-item cost stays small either way.

#include <algorithm>
#include <array>
#include <bit>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/binary_object.hpp>
#include <boost/serialization/level.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/tracking.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <streambuf>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "mproc/detail/bytes.hpp"
#include "mproc/error.hpp"

// Boost 1.74 has no std::tuple support; a tuple serializes as its elements in order.
namespace boost::serialization {
template <class Archive, class... Ts>
void serialize(Archive& ar, std::tuple<Ts...>& t, const unsigned int /*version*/) {
    std::apply([&ar](auto&... e) { ((ar & e), ...); }, t);
}
}  // namespace boost::serialization

namespace mproc::detail {
// A shared-object or queue handle (it declares `using mproc_handle = void;`): trivially
// copyable, a few bytes, and made only by its constructors, which allocate a new object.
template <class T>
concept Handle = std::is_trivially_copyable_v<T> && requires {
    typename T::mproc_handle;
};

// While an archive is being read on this thread, a handle's constructor allocates nothing
// (shared_alloc returns 0, which no object has): Boost default-constructs what it loads into
// (a tuple's elements, a vector's), and the handle's bytes then overwrite it.
bool loading_handles() noexcept;
class LoadingHandles {
  public:
    LoadingHandles() noexcept;
    ~LoadingHandles();
    LoadingHandles(const LoadingHandles&) = delete;
    LoadingHandles& operator=(const LoadingHandles&) = delete;
};
}  // namespace mproc::detail

// A handle inside a type Boost serializes (beside a string, in a vector) travels as its bytes.
namespace boost::serialization {
template <class Archive, class T>
requires mproc::detail::Handle<T>
void serialize(Archive& ar, T& t, const unsigned int /*version*/) {
    ar& boost::serialization::make_binary_object(static_cast<void*>(&t), sizeof t);
}
}  // namespace boost::serialization

// Types that only mproc itself sends (and every rank has the same build) need neither class
// versions nor object tracking; with both off, Boost skips most of its per-object work.
#define MPROC_PLAIN_SERIALIZABLE(T)                                          \
    BOOST_CLASS_IMPLEMENTATION(T, boost::serialization::object_serializable) \
    BOOST_CLASS_TRACKING(T, boost::serialization::track_never)

namespace mproc::detail {

// A type may bring its own byte codec, found by argument-dependent lookup, when Boost's
// per-field work is too slow for it (the batch runner's values are):
//     void mproc_pack(mproc::detail::Buffer& out, const T& v);           // appends v
//     void mproc_unpack(const char*& at, const char* end, T& v);         // reads v, advances
template <class T>
concept CustomPacked = requires(const T& v, T& w, std::vector<char>& out, const char*& at) {
    mproc_pack(out, v);
    mproc_unpack(at, at, w);
};

template <class T>
struct is_bitwise_aggregate : std::false_type {};
template <class... Ts>
struct is_bitwise_aggregate<std::tuple<Ts...>> : std::bool_constant<(Bitwise<Ts> && ...)> {};
template <class A, class B>
struct is_bitwise_aggregate<std::pair<A, B>> : std::bool_constant<Bitwise<A> && Bitwise<B>> {};

// True when T is packed as raw bytes, with no archive.
template <class T>
inline constexpr bool packs_as_bytes = Bitwise<T> || is_bitwise_aggregate<T>::value;

// The bytes every packed T takes when it packs as raw bytes, in Packer's order: a Bitwise T
// whole, a tuple or pair of them element by element (without the padding between them); 0
// for a T an archive packs.
template <class T>
struct element_bytes : std::integral_constant<std::size_t, 0> {};
template <class... Ts>
struct element_bytes<std::tuple<Ts...>>
    : std::integral_constant<std::size_t, (std::size_t{0} + ... + sizeof(Ts))> {};
template <class A, class B>
struct element_bytes<std::pair<A, B>> : std::integral_constant<std::size_t, sizeof(A) + sizeof(B)> {};
template <class T>
inline constexpr std::size_t packed_bytes =
    Bitwise<T> ? sizeof(T) : (is_bitwise_aggregate<T>::value ? element_bytes<T>::value : 0);

// A streambuf that appends to a Buffer, so an archive writes straight into the message.
class AppendStreambuf : public std::streambuf {
  public:
    explicit AppendStreambuf(Buffer& out) : out_(out) {}

  protected:
    int_type overflow(int_type c) override {
        if (c != traits_type::eof()) out_.push_back(static_cast<char>(c));
        return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        out_.insert(out_.end(), s, s + n);  // no zero-fill first, unlike resize
        return n;
    }

  private:
    Buffer& out_;
};

// A streambuf reading a byte range in place.
class ReadStreambuf : public std::streambuf {
  public:
    ReadStreambuf(const char* data, std::size_t size) {
        char* p = const_cast<char*>(data);  // get area is never written through
        setg(p, p, p + size);
    }

  protected:
    // Archives read field by field; the default goes through several virtual calls each.
    std::streamsize xsgetn(char* s, std::streamsize n) override {
        const std::streamsize k = std::min<std::streamsize>(n, egptr() - gptr());
        std::memcpy(s, gptr(), static_cast<std::size_t>(k));
        setg(eback(), gptr() + k, egptr());  // (gbump takes an int: not for 2 GiB strings)
        return k;
    }
};

inline constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;

// Appends items of type T to a buffer. Call finish() before the buffer is sent.
template <class T>
class Packer {
  public:
    explicit Packer(Buffer& out) : out_(out) {}
    Packer(const Packer&) = delete;
    Packer& operator=(const Packer&) = delete;

    void put(const T& value) {
        if constexpr (Bitwise<T>) {
            put_bytes(value);
        } else if constexpr (is_bitwise_aggregate<T>::value) {
            std::apply([this](const auto&... e) { (put_bytes(e), ...); }, value);
        } else if constexpr (CustomPacked<T>) {
            mproc_pack(out_, value);
        } else {
            if (!archive_) archive_.emplace(out_);
            archive_->archive << value;
        }
    }

    void finish() { archive_.reset(); }

  private:
    template <class U>
    void put_bytes(const U& v) {
        const std::size_t at = out_.size();
        out_.resize(at + sizeof(U));
        std::memcpy(out_.data() + at, &v, sizeof(U));
    }

    // Built only for types that need it: a streambuf and an archive cost a locale each.
    struct Archive {
        explicit Archive(Buffer& out) : streambuf(out), archive(streambuf, archive_flags) {}
        AppendStreambuf streambuf;
        boost::archive::binary_oarchive archive;
    };

    Buffer& out_;
    std::optional<Archive> archive_;
};

// Reads items of type T back from a byte range written by Packer<T>.
template <class T>
class Unpacker {
  public:
    Unpacker(const char* data, std::size_t size) : data_(data), size_(size) {}
    Unpacker(const Unpacker&) = delete;
    Unpacker& operator=(const Unpacker&) = delete;

    T get() {
        if constexpr (Bitwise<T>) {
            return get_bitwise<T>();
        } else if constexpr (is_bitwise_aggregate<T>::value) {
            // Element by element, in order (a braced list is evaluated left to right), with
            // no default construction: shared-object handles have none that is free.
            return [this]<std::size_t... I>(std::index_sequence<I...>) {
                return T{get_bitwise<std::tuple_element_t<I, T>>()...};
            }
            (std::make_index_sequence<std::tuple_size_v<T>>{});
        } else if constexpr (CustomPacked<T>) {
            T v;
            const char* at = data_ + pos_;
            mproc_unpack(at, data_ + size_, v);
            pos_ = static_cast<std::size_t>(at - data_);
            return v;
        } else {
            if (!archive_) archive_.emplace(data_, size_);
            const LoadingHandles loading;
            T v;
            archive_->archive >> v;
            return v;
        }
    }

  private:
    template <class U>
    U get_bitwise() {
        if (pos_ + sizeof(U) > size_) throw Error("mproc: truncated message while unpacking");
        std::array<char, sizeof(U)> bytes;
        std::memcpy(bytes.data(), data_ + pos_, sizeof(U));
        pos_ += sizeof(U);
        return std::bit_cast<U>(bytes);
    }

    struct Archive {
        Archive(const char* data, std::size_t size)
            : streambuf(data, size), archive(streambuf, archive_flags) {}
        ReadStreambuf streambuf;
        boost::archive::binary_iarchive archive;
    };

    const char* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
    std::optional<Archive> archive_;
};

}  // namespace mproc::detail
