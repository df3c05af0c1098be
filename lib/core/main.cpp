#include "core/main.hpp"

#include <sys/prctl.h>

#include <iostream>

#include "core/error.hpp"
#include "core/secrets.hpp"

#ifndef ECE_VERSION
#define ECE_VERSION "0.0.0"
#endif

namespace ece {

int guarded_main(const std::string& program, const std::function<int()>& body) {
    // Not dumpable: no other process of ece's user (dbt, when ece does not run as root) may read /proc/<ece>/environ
    // or its memory (tokens, the admin URL) nor ptrace it. Children are dumpable again after exec.
    ::prctl(PR_SET_DUMPABLE, 0);
    try {
        return body();
    } catch (const Error& e) {
        std::cerr << program << ": error: " << e.what() << "\n";
        return e.exit_code();
    } catch (const std::exception& e) {
        std::cerr << program << ": internal error: " << mask_secrets(e.what()) << "\n";
        return exit_code::internal;
    }
}

std::string version_line(const std::string& program) { return program + " " + ECE_VERSION; }

}  // namespace ece
