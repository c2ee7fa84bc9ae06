#pragma once
// What travels between rank 0 and workers in a batch run: an Item (an input and its index)
// goes out, a Record (the result or the error, and where and how long) comes back.

#include <cstdint>
#include <string>

#include "value.hpp"

namespace mproc::runner {

struct Item {
    std::uint64_t index = 0;
    Value input;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& index& input;
    }
};

struct Record {
    std::uint64_t index = 0;
    Value input;  // echoed back only for a failure (rank 0 names it), else null
    bool ok = true;
    Value result;      // only for jobs that reduce (rank 0 folds it in), else null
    std::string line;  // the formatted record, made on the worker
    std::string error;
    int rank = 0;
    std::uint64_t busy_ns = 0;
    int attempts = 1;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& index& input& ok& result& error& rank& busy_ns& attempts;
    }
};

// Sent once to every worker (the Pool initializer) so items need not carry it.
struct Setup {
    std::string job;
    Value params;
    double task_timeout = 0;
    int attempts = 1;  // 1 + retries under policy: retry
    int format = 0;    // a Format: workers format their records

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& job& params& task_timeout& attempts& format;
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
    mproc_pack(out, r.input);
    detail::pack_raw(out, r.ok);
    mproc_pack(out, r.result);
    detail::pack_string(out, r.line);
    detail::pack_string(out, r.error);
    detail::pack_raw(out, r.rank);
    detail::pack_raw(out, r.busy_ns);
    detail::pack_raw(out, r.attempts);
}
inline void mproc_unpack(const char*& at, const char* end, Record& r) {
    detail::unpack_raw(at, end, r.index);
    mproc_unpack(at, end, r.input);
    detail::unpack_raw(at, end, r.ok);
    mproc_unpack(at, end, r.result);
    detail::unpack_string(at, end, r.line);
    detail::unpack_string(at, end, r.error);
    detail::unpack_raw(at, end, r.rank);
    detail::unpack_raw(at, end, r.busy_ns);
    detail::unpack_raw(at, end, r.attempts);
}

void setup_worker(Setup setup);
Record run_item(Item item);

}  // namespace mproc::runner

MPROC_PLAIN_SERIALIZABLE(mproc::runner::Item)
MPROC_PLAIN_SERIALIZABLE(mproc::runner::Record)
MPROC_PLAIN_SERIALIZABLE(mproc::runner::Setup)
