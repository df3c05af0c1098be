#include "action_run.hpp"

#include "process/process.hpp"
#include "support.hpp"

#include <atomic>
#include <cstdlib>
#include <sstream>

namespace ece::test {

namespace {

// $GITHUB_OUTPUT's name<<DELIMITER / value lines / DELIMITER blocks.
std::map<std::string, std::string> read_outputs(const std::filesystem::path& file) {
    std::map<std::string, std::string> outputs;
    if (!std::filesystem::exists(file)) return outputs;
    std::istringstream in(read_file(file));
    for (std::string line; std::getline(in, line);) {
        const auto at = line.find("<<");
        if (at == std::string::npos) continue;
        std::string value, delimiter = line.substr(at + 2);
        for (std::string v; std::getline(in, v) && v != delimiter;) value += (value.empty() ? "" : "\n") + v;
        outputs[line.substr(0, at)] = value;
    }
    return outputs;
}

}  // namespace

ActionResult run_action(const ActionRun& run) {
    static std::atomic<int> runs{0};
    const auto output = run.files / ("output-" + std::to_string(++runs));
    process::Command command;
    command.argv = {run.binary.string()};
    command.cwd = run.workspace;
    command.inherit_env = true;
    command.timeout = run.timeout;
    const char* path = std::getenv("PATH");
    command.env = {
        {"GITHUB_ACTIONS", "true"}, {"GITHUB_EVENT_NAME", run.event_name}, {"GITHUB_EVENT_PATH", run.event.string()},
        {"GITHUB_API_URL", run.api_url}, {"GITHUB_SERVER_URL", "https://github.com"},
        {"GITHUB_REPOSITORY", "octo-org/warehouse"}, {"GITHUB_WORKSPACE", run.workspace.string()},
        {"GITHUB_SHA", run.sha}, {"GITHUB_RUN_ID", "4242"}, {"GITHUB_OUTPUT", output.string()},
        {"GITHUB_STEP_SUMMARY", (run.files / "summary.md").string()}, {"SSL_CERT_FILE", run.ca_file.string()},
        {"PATH", ece::test::real_dbt().parent_path().string() + ":" + (path ? path : "")},
        {"INPUT_COMMAND", "auto"}, {"INPUT_GITHUB-TOKEN", run.token}, {"INPUT_DATABASE-URL", run.database_url},
        {"INPUT_PROJECT-DIR", "."}, {"INPUT_CONFIG", "ece.yml"}, {"INPUT_COMMENT-BEHAVIOR", "update"},
    };
    for (const auto& [name, value] : run.inputs) command.env["INPUT_" + name] = value;
    for (const auto& [name, value] : run.env) command.env[name] = value;
    const auto result = process::run(command);
    ActionResult out{result.exit_code, result.out + result.err, {}, read_outputs(output)};
    std::istringstream lines(out.log);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("::add-mask::", 0) != 0) out.printed += line + "\n";
    return out;
}

}  // namespace ece::test
