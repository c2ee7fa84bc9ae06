#pragma once
// Registering tasks. A function runs on a worker only if every rank knows it by name:
//
//     int square(int x) { return x * x; }
//     MPROC_TASK(square);                         // registered as "square"
//
//     inline auto cube = [](int x) { return x * x * x; };
//     MPROC_TASK_AS("cube", cube);                // any callable, under a chosen name
//
// Then pass the function (or the callable) itself to a Pool call: pool.map(square, xs).
// Registration happens at static initialisation, identically on every rank of the program.

#include "mproc/detail/registry.hpp"

#define MPROC_DETAIL_CONCAT2(a, b) a##b
#define MPROC_DETAIL_CONCAT(a, b) MPROC_DETAIL_CONCAT2(a, b)

#define MPROC_TASK_AS(name, callable)                                          \
    [[maybe_unused]] static const ::mproc::detail::TaskId MPROC_DETAIL_CONCAT( \
        mproc_task_registration_, __COUNTER__) = ::mproc::detail::register_task(name, callable)

#define MPROC_TASK(fn) MPROC_TASK_AS(#fn, fn)
