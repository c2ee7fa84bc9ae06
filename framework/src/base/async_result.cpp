#include "mproc/async_result.hpp"

#include <iostream>

namespace mproc::detail {

void print_callback_exception(std::exception_ptr e) noexcept {
    std::cerr << "mproc: a Pool callback threw " << describe_exception(e) << "\n";
}

}  // namespace mproc::detail
