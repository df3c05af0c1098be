#pragma once
// Running external programs (initdb, pg_ctl, dbt) with a timeout, a controlled environment and captured output.
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::process {

struct Command {
    // argv[0] is the program: a path, or a name searched on PATH.
    std::vector<std::string> argv;
    // Working directory; empty means the current one.
    std::filesystem::path cwd{};
    // With inherit_env = false (the default) the child sees ONLY these variables, plus PATH when not given here:
    // a scrubbed environment, so tokens in ece's own environment never reach dbt. With inherit_env = true these
    // are laid over a copy of ece's environment.
    std::map<std::string, std::string> env{};
    bool inherit_env = false;
    // The child (and everything it started in its process group) is killed when this passes.
    std::chrono::milliseconds timeout{std::chrono::minutes(10)};
    // When ece runs as root: run the child as this user (setgid, initgroups, setuid before exec). Ignored otherwise.
    std::optional<std::string> run_as_user{};
    // Kill what the child left running in its process group once it exits (dbt running a hostile project's code:
    // nothing of it outlives the run). Not for programs that start a daemon in their group (pg_ctl).
    bool end_leftovers = false;
    // Written to the child's standard input, which is then closed.
    std::string stdin_data{};
    // Called with every complete line of standard output or standard error (without the newline), as it arrives.
    std::function<void(std::string_view line)> on_output_line{};
};

struct Result {
    int exit_code = 0;  // 128 + signal number when the child was killed by a signal
    std::string out;
    std::string err;
};

// Runs the command to completion. A non-zero exit is a Result, not an error. Throws ece::Error (external) naming the
// program when it cannot be started or does not finish within the timeout (it is then killed with its children).
Result run(const Command& command);

// Like run(), but a non-zero exit also throws ece::Error (external): "<doing>: <program> exited with N: <stderr tail>".
Result run_checked(const Command& command, std::string_view doing);

// True when the effective user is root.
bool running_as_root();

}  // namespace ece::process
