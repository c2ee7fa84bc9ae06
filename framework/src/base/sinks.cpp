#include "mproc/detail/sinks.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace mproc::detail {

void prefer_huge_pages(void* p, std::size_t bytes) noexcept {
    constexpr std::uintptr_t kHuge = 2u << 20;
    if (bytes < 2 * kHuge) return;
    // The whole huge pages inside the range; the advice is only a hint, so failure is fine.
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace mproc::detail
