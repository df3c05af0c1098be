#pragma once
// The `ece` binary run as the container action runs it: GITHUB_* variables, INPUT_* inputs, the event payload file,
// and the outputs it writes to $GITHUB_OUTPUT read back. For end-to-end tests against FakeGitHub.
#include <chrono>
#include <filesystem>
#include <map>
#include <string>

namespace ece::test {

struct ActionRun {
    std::filesystem::path binary;     // the ece binary
    std::filesystem::path workspace;  // GITHUB_WORKSPACE and the working directory
    std::filesystem::path files;      // where GITHUB_OUTPUT and GITHUB_STEP_SUMMARY go
    std::string event_name = "pull_request";
    std::filesystem::path event;      // GITHUB_EVENT_PATH
    std::string sha;                  // GITHUB_SHA
    std::string api_url;              // GITHUB_API_URL (the fake's)
    std::string token;                // the github-token input
    std::string database_url;         // the database-url input
    std::filesystem::path ca_file;    // SSL_CERT_FILE: the local servers' CA(s)
    std::map<std::string, std::string> inputs{};  // further or other inputs, by name (INPUT_ is added)
    std::map<std::string, std::string> env{};     // further or other variables
    std::chrono::seconds timeout{600};  // real dbt: seconds when idle, minutes on a loaded machine
};

struct ActionResult {
    int exit_code = 0;
    std::string log;      // stdout and stderr
    std::string printed;  // the log without ::add-mask:: lines (the runner is told a secret only to mask it)
    std::map<std::string, std::string> outputs;
};

// Runs it with real dbt (ece::test::real_dbt()) first on PATH; the default inputs are command auto, project-dir
// ".", config ece.yml and comment-behavior update.
ActionResult run_action(const ActionRun& run);

}  // namespace ece::test
