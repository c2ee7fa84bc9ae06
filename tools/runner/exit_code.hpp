#pragma once
// The one mapping from what stopped a verb to its exit code, with the message printed on
// stderr: a bad config (its CONFIG:LINE:COLUMN line) or a refused run, 2; a read or write
// that failed (a full disk), 3.

namespace mproc::runner {

// For the exception being handled (call it in a catch block). A ConfigError, RunRefused or
// IoError gives its code; anything else gives `other` when that is not 0, and is rethrown
// when it is.
int exit_code_of_current(int other);

}  // namespace mproc::runner
