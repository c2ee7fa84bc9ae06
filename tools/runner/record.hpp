#pragma once
// What travels between rank 0 and workers once per input in a batch run: an Item (an input
// and its index) goes out, a Record (the result or the error, and where and how long) comes
// back, each with a byte codec of its own (Boost's per-field work dominated there).

#include <cstdint>
#include <memory>
#include <mproc/detail/bytes.hpp>
#include <string>
#include <vector>

#include "value.hpp"

namespace mproc::runner {

struct Item {
    std::uint64_t index = 0;
    Value input;
};

struct Record {
    std::uint64_t index = 0;
    std::string line;  // the formatted record, made on the worker
    std::uint64_t busy_ns = 0;
    std::int32_t rank = 0;
    std::int32_t attempts = 1;
    bool ok = true;
    // What rank 0 needs beyond the line: a failure's input and error (to name it), a reducing
    // job's result (to fold it in), the output.joblog line. Absent in the common case, so the
    // records rank 0 holds stay small (a million tiny tasks' records pass through it).
    struct Extra {
        Value input;
        Value result;
        std::string error;
        std::string joblog;
    };
    std::unique_ptr<Extra> extra;

    const std::string& error() const {
        static const std::string none;
        return extra ? extra->error : none;
    }
};

// Byte codecs for what goes out and comes back once per input (see value.hpp).
inline void mproc_pack(std::vector<char>& out, const Item& i) {
    detail::pack_raw(out, i.index);
    mproc_pack(out, i.input);
}
inline void mproc_unpack(const char*& at, const char* end, Item& i) {
    detail::unpack_raw(at, end, i.index);
    mproc_unpack(at, end, i.input);
}
inline void mproc_pack(std::vector<char>& out, const Record& r) {
    detail::pack_raw(out, r.index);
    detail::pack_string(out, r.line);
    detail::pack_raw(out, r.busy_ns);
    detail::pack_raw(out, r.rank);
    detail::pack_raw(out, r.attempts);
    detail::pack_raw(out, r.ok);
    detail::pack_raw(out, static_cast<bool>(r.extra));
    if (r.extra) {
        mproc_pack(out, r.extra->input);
        mproc_pack(out, r.extra->result);
        detail::pack_string(out, r.extra->error);
        detail::pack_string(out, r.extra->joblog);
    }
}
inline void mproc_unpack(const char*& at, const char* end, Record& r) {
    detail::unpack_raw(at, end, r.index);
    detail::unpack_string(at, end, r.line);
    detail::unpack_raw(at, end, r.busy_ns);
    detail::unpack_raw(at, end, r.rank);
    detail::unpack_raw(at, end, r.attempts);
    detail::unpack_raw(at, end, r.ok);
    bool has_extra = false;
    detail::unpack_raw(at, end, has_extra);
    if (has_extra) {
        r.extra = std::make_unique<Record::Extra>();
        mproc_unpack(at, end, r.extra->input);
        mproc_unpack(at, end, r.extra->result);
        detail::unpack_string(at, end, r.extra->error);
        detail::unpack_string(at, end, r.extra->joblog);
    }
}

}  // namespace mproc::runner
