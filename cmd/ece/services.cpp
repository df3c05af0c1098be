// What this build of ece reaches beyond the database: GitHub (lib/github) and publishing (lib/publish).
#include "core/error.hpp"
#include "ece.hpp"
#include "lifecycle/github.hpp"
#include "dbt/executable.hpp"
#include "process/process.hpp"

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ece::cli {

std::optional<GitHubServices> github_services(const std::string& api_url, const std::string& token,
                                              const std::string& repository, const std::string& comment_behavior,
                                              const std::string& log_url, std::string& unavailable_reason) {
    if (token.empty()) {
        unavailable_reason = "no github-token";
        return std::nullopt;
    }
    if (repository.empty()) {
        unavailable_reason = "GITHUB_REPOSITORY is not set";
        return std::nullopt;
    }
    github::ClientConfig config;
    config.api_url = api_url;
    config.token = token;
    config.repository = github::Repository::parse(repository);
    auto client = std::make_shared<github::Client>(config);
    GitHubServices services;
    services.comments = std::make_unique<lifecycle::GitHubCommentSink>(client, comment_behavior);
    services.deployments = std::make_unique<lifecycle::GitHubDeployments>(client, log_url);
    services.pulls = std::make_unique<lifecycle::GitHubPullRequests>(client);
    return services;
}

std::unique_ptr<lifecycle::Publisher> make_publisher(const std::string& admin_url) {
    return lifecycle::make_catalog_publisher(admin_url);
}

namespace {

fs::path own_binary() {
    std::error_code ec;
    auto path = fs::read_symlink("/proc/self/exe", ec);
    return ec ? fs::path() : path;
}

}  // namespace

std::optional<fs::path> find_source_file(const fs::path& relative) {
    std::vector<fs::path> roots = {fs::current_path()};
    if (auto exe = own_binary(); !exe.empty()) {
        // build/cmd/ece/ece -> the source tree is three levels up; installed: <prefix>/bin/ece -> <prefix>/share/ece
        roots.push_back(exe.parent_path().parent_path().parent_path().parent_path());
        roots.push_back(exe.parent_path().parent_path() / "share" / "ece");
    }
#ifdef ECE_SOURCE_DIR
    roots.push_back(ECE_SOURCE_DIR);
#endif
    for (const auto& root : roots) {
        if (fs::exists(root / relative)) return fs::absolute(root / relative);
    }
    return std::nullopt;
}

ChosenDbt choose_dbt(const config::Config& config, const std::optional<std::string>& dbt_version_input) {
    std::vector<dbt::Choice> choices;
    if (dbt_version_input) choices.push_back({dbt_stack(*dbt_version_input).string(), "input dbt-version"});
    choices.push_back({config.dbt.executable, "ece.yml dbt.executable"});
    const auto found = dbt::find_executable(choices, config.root);
    const auto version = dbt::version_of(found.path);
    std::string log = "dbt: " + found.path.string() + " (chosen by " + found.chosen_by + "): " + version.summary + "\n";
    std::istringstream lines(version.text);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty()) log += "  " + line + "\n";
    return {found.path, version.summary, log};
}

fs::path dbt_stack(const std::string& version) {
    const auto first_dot = version.find('.');
    const auto second_dot = first_dot == std::string::npos ? std::string::npos : version.find('.', first_dot + 1);
    const std::string minor = version.substr(0, second_dot);
    const char* stacks = std::getenv("ECE_DBT_STACKS");
    const fs::path root = stacks && *stacks ? stacks : "/opt/dbt";
    const fs::path dbt = root / minor / "bin" / "dbt";
    if (first_dot != std::string::npos && ::access(dbt.c_str(), X_OK) == 0) return dbt;
    std::string installed;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec))
        if (fs::exists(entry.path() / "bin" / "dbt")) installed += (installed.empty() ? "" : ", ") + entry.path().filename().string();
    throw Error(ErrorKind::usage, "input 'dbt-version' is " + version + ", but no dbt " + minor + " stack is in " +
                                      root.string() + " (installed: " + (installed.empty() ? "none" : installed) +
                                      "); use one of those, or leave dbt-version empty for the image's default");
}

}  // namespace ece::cli
