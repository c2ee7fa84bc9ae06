// The entry points of mproc/detail/rma.hpp: offsets into rank 0's arena, on the runtime's
// shared window.

#include "mproc/detail/rma.hpp"

#include <algorithm>
#include <string>

#include "mproc/detail/serialize.hpp"
#include "runtime/runtime_state.hpp"

namespace mproc::detail {
namespace {

SharedWindow& window() {
    return runtime("mproc shared objects (Value, Array, Lock, ...)").window();
}

}  // namespace

void rma_fetch_op(RmaType type, RmaOp op, const void* operand, void* result, std::uint64_t offset) {
    window().fetch_op(type, op, operand, result, 0, SharedWindow::arena_disp(offset));
}

void rma_accumulate(RmaType type, RmaOp op, const void* operand, std::size_t count,
                    std::uint64_t offset) {
    window().accumulate(type, op, operand, count, 0, SharedWindow::arena_disp(offset));
}

void rma_load(RmaType type, void* result, std::size_t count, std::uint64_t offset) {
    window().load(type, result, count, 0, SharedWindow::arena_disp(offset));
}

void rma_compare_swap(RmaType type, const void* desired, const void* expected, void* result,
                      std::uint64_t offset) {
    window().compare_swap(type, desired, expected, result, 0, SharedWindow::arena_disp(offset));
}

std::uint64_t shared_alloc(std::size_t bytes) {
    if (loading_handles()) return 0;  // a handle about to be overwritten by what is loaded
    SharedWindow& w = window();
    const std::uint64_t size = (std::max<std::uint64_t>(bytes, 1) + 7) & ~std::uint64_t{7};
    std::uint64_t offset = 0;
    w.fetch_op(RmaType::u64, RmaOp::sum, &size, &offset, 0, SharedWindow::header_disp(0));
    const std::uint64_t capacity = w.arena_capacity();
    if (offset + size > capacity) {
        // Give the bytes back, so that a smaller object still fits afterwards (adds are
        // atomic, so concurrent failures each undo only their own).
        const std::uint64_t undo = ~size + 1;
        std::uint64_t ignored = 0;
        w.fetch_op(RmaType::u64, RmaOp::sum, &undo, &ignored, 0, SharedWindow::header_disp(0));
        throw ResourceError("the shared-object arena is full (" + std::to_string(capacity) +
                            " bytes; objects are not freed during a run): set MPROC_SHARED_BYTES "
                            "larger (in bytes) before mpirun");
    }
    return offset;
}

}  // namespace mproc::detail
