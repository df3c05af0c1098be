#pragma once
// What every main in cmd/ shares: the error-to-exit-code mapping and the --version text.
#include <functional>
#include <string>

namespace ece {

// Makes the process non-dumpable (docs/security.md), then runs body; an ece::Error is printed as "<program>: error: <what>" (masked) and mapped to its exit code,
// any other exception to exit_code::internal. Returns the exit code for main() to return.
int guarded_main(const std::string& program, const std::function<int()>& body);

// "ece-env 0.1.0"
std::string version_line(const std::string& program);

}  // namespace ece
