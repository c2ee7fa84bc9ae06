#pragma once
// What travels between rank 0 and workers in a batch run: an Item (an input and its index)
// goes out, a Record (the result or the error, and where and how long) comes back.

#include <cstdint>
#include <memory>
#include <mproc/mproc.hpp>
#include <string>

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

// A suspect (crashes.hpp) about to run alone on `rank`: rank 0 writes it down before it runs.
struct SuspectStart {
    std::uint64_t index = 0;
    std::int32_t rank = 0;
};

// Sent once to every worker (the Pool initializer) so items need not carry it.
struct Setup {
    std::string job;
    Value params;
    double task_timeout = 0;
    int attempts = 1;         // 1 + retries under policy: retry
    int format = 0;           // a Format: workers format their records
    bool provenance = false;  // records say where, when and how long (output.provenance)
    bool joblog = false;      // workers make each task's output.joblog line
    std::string task_logs;    // output.task_logs
    // A suspect says where it starts on `suspect_started`, then waits for its rank's event in
    // `suspect_go` (indexed by rank), which rank 0 sets once it has written that down.
    // (One queue, made by rank 0: a Setup exists outside mproc::run too, where none can be.)
    std::vector<mproc::Queue<SuspectStart>> suspect_started;
    std::vector<mproc::Event> suspect_go;

    template <class Archive>
    void serialize(Archive& ar, const unsigned int) {
        ar& job& params& task_timeout& attempts& format& provenance& joblog& task_logs&
            suspect_started& suspect_go;
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

void setup_worker(Setup setup);
Record run_item(Item item);
// run_item for a suspect: first says where it runs and waits until rank 0 has noted it.
Record run_suspect(Item item);

}  // namespace mproc::runner

MPROC_PLAIN_SERIALIZABLE(mproc::runner::Setup)
