#pragma once
// `mproc report CONFIG|TRACE [-o FILE] [--chrome-trace FILE]`: a run as one HTML file.

#include "cli.hpp"

namespace mproc::runner {

// Writes the report (and the Chrome trace, if asked); returns the exit code. Throws
// std::invalid_argument when there is nothing to report, naming why.
int report(const Args& args);

}  // namespace mproc::runner
