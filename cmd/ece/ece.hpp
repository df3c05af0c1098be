#pragma once
// The pieces of the `ece` entry point: GitHub Actions mode (actions_run.cpp), the local commands (main.cpp) and
// `ece demo` (demo.cpp).
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

// Where ece's own files are: the source tree this binary was built from (examples/, tests/dbt_standin/), found
// from the current directory, the binary's location, or the build's source directory.
std::optional<std::filesystem::path> find_source_file(const std::filesystem::path& relative);

// The dbt to run: config's executable when it is on PATH (or a path that exists), else ece's dbt stand-in, saying
// so through note. Empty note: real dbt.
std::string choose_dbt(const std::string& configured, std::string& note);

// The dbt-version input: the stack of that dbt minor the image carries ($ECE_DBT_STACKS/<minor>/bin/dbt, e.g.
// /opt/dbt/1.8/bin/dbt). "1.8" or a full version ("1.8.9", checked against what is installed by dbt_version_of's
// caller). Throws ece::Error(usage) naming the stacks there are when that minor is not installed.
std::filesystem::path dbt_stack(const std::string& version);

// What `dbt --version` reports, in one line: "dbt-core 1.9.1, dbt-postgres 1.9.0"; empty when it cannot be run.
std::string dbt_version_of(const std::string& dbt);

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
