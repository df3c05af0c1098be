#pragma once
// The pieces of the `ece` entry point: GitHub Actions mode (actions_run.cpp), the local commands (main.cpp) and
// `ece demo` (demo.cpp).
#include "config/config.hpp"
#include "lifecycle/lifecycle.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ece::cli {

// In GitHub Actions: reads the event and the action's inputs, runs the chain, writes the outputs.
int run_in_github_actions();

struct DemoOptions {
    double scale = 0.002;
    std::filesystem::path dir = ".ece/demo";
    std::optional<std::string> database_url;
};
int run_demo(const DemoOptions& options);

// Where ece's own files are: the source tree this binary was built from (examples/), found
// from the current directory, the binary's location, or the build's source directory.
std::optional<std::filesystem::path> find_source_file(const std::filesystem::path& relative);

// The dbt to run (ece.yml's dbt.executable, else the virtual environment scripts/install-deps.sh made, else PATH:
// dbt/executable.hpp) and what `dbt --version` says of it. Throws ece::Error when there is none or it does not run.
struct ChosenDbt {
    std::filesystem::path path;
    std::string version;  // "dbt-core 1.9.1, postgres 1.9.0"
    std::string log;      // for the log: which dbt, chosen how, and `dbt --version`'s output
};
// dbt_version_input: the action's dbt-version input, which picks a stack of the image (dbt_stack) first.
ChosenDbt choose_dbt(const config::Config& config, const std::optional<std::string>& dbt_version_input = std::nullopt);

// The dbt-version input: the stack of that dbt minor the image carries ($ECE_DBT_STACKS/<minor>/bin/dbt, e.g.
// /opt/dbt/1.8/bin/dbt). "1.8" or a full version ("1.8.9", checked against what is installed by choose_dbt's
// caller). Throws ece::Error(usage) naming the stacks there are when that minor is not installed.
std::filesystem::path dbt_stack(const std::string& version);

// GitHub services (comments, deployments, pull requests) from a token.
struct GitHubServices {
    std::unique_ptr<lifecycle::CommentSink> comments;
    std::unique_ptr<lifecycle::Deployments> deployments;
    std::unique_ptr<lifecycle::PullRequests> pulls;
};
// nullopt when there is no token; throws ece::Error(usage) for a malformed repository name.
std::optional<GitHubServices> github_services(const std::string& api_url, const std::string& token,
                                              const std::string& repository, const std::string& comment_behavior,
                                              const std::string& log_url, std::string& unavailable_reason);

// The publisher (lib/publish fed from the catalog).
std::unique_ptr<lifecycle::Publisher> make_publisher(const std::string& admin_url);

}  // namespace ece::cli
