#include "exit_code.hpp"

#include <exception>
#include <iostream>

#include "files.hpp"
#include "mproc/error.hpp"

namespace mproc::runner {

int exit_code_of_current(int other) {
    try {
        throw;
    } catch (const mproc::ConfigError& e) {
        std::cerr << e.what() << "\n";  // CONFIG:LINE:COLUMN: what is wrong
        return 2;
    } catch (const RunRefused& e) {
        std::cerr << "mproc: " << e.what() << "\n";
        return 2;
    } catch (const IoError& e) {
        std::cerr << "mproc: " << e.what() << "\n";
        return 3;
    } catch (const std::exception& e) {
        if (other == 0) throw;
        std::cerr << "mproc: " << e.what() << "\n";
        return other;
    }
}

}  // namespace mproc::runner
