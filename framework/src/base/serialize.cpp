// The out-of-line part of mproc/detail/serialize.hpp: whether this thread is loading handles
// from an archive (a handle's constructor then allocates nothing in the shared arena).

#include "mproc/detail/serialize.hpp"

namespace mproc::detail {
namespace {
thread_local int t_loading_handles = 0;
}  // namespace

bool loading_handles() noexcept {
    return t_loading_handles > 0;
}
LoadingHandles::LoadingHandles() noexcept {
    ++t_loading_handles;
}
LoadingHandles::~LoadingHandles() {
    --t_loading_handles;
}

}  // namespace mproc::detail
