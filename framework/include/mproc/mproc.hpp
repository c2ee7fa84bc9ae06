#pragma once
// Everything mproc offers, in one include. See README.md for a tour.

#include "mproc/async_result.hpp"
#include "mproc/error.hpp"
#include "mproc/pipe.hpp"
#include "mproc/pool.hpp"
#include "mproc/process.hpp"
#include "mproc/queue.hpp"
#include "mproc/range.hpp"
#include "mproc/runtime.hpp"
#include "mproc/shared.hpp"
#include "mproc/sync.hpp"
#include "mproc/task.hpp"
#include "mproc/thread_pool.hpp"
