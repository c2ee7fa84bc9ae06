#pragma once
// Facts about this process that every part of the runtime needs.

#include <string>
#include <vector>

namespace mproc::detail {

struct RuntimeInfo {
    int rank = 0;
    int size = 1;
    std::string host;
    std::vector<std::string> hosts;  // on rank 0: every rank's host, by rank
};

// Valid inside mproc::run; rank 0 of size 1 outside it.
const RuntimeInfo& runtime_info() noexcept;

}  // namespace mproc::detail
