// What this build of ece reaches beyond the database: GitHub (lib/github) and publishing (lib/publish).
#include "core/error.hpp"
#include "dbt/sandbox.hpp"
#include "ece.hpp"
#include "lifecycle/github.hpp"
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

std::optional<fs::path> on_path(const std::string& name) {
    if (name.find('/') != std::string::npos) return fs::exists(name) ? std::optional<fs::path>(name) : std::nullopt;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        if (dir.empty()) continue;
        const fs::path candidate = fs::path(dir) / name;
        if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
    }
    return std::nullopt;
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

std::string choose_dbt(const std::string& configured, std::string& note) {
    note.clear();
    if (auto found = on_path(configured)) {
        // The stand-in put on PATH by hand is still not dbt: say so.
        // ece.yml (a pull request's) names the program: it runs as any dbt does, as dbt's user and with no secret.
        process::Command version;
        version.argv = {found->string(), "--version"};
        version.cwd = "/";
        version.run_as_user = dbt::dbt_user();
        version.end_leftovers = true;
        version.timeout = std::chrono::seconds(60);
        try {
            const auto result = process::run(version);
            if ((result.out + result.err).find("stand-in") != std::string::npos)
                note = "using ece's dbt stand-in (" + found->string() + "), which is not dbt";
        } catch (const std::exception&) {
        }
        return found->string();
    }
    if (auto standin = find_source_file("tests/dbt_standin/dbt")) {
        note = "dbt is not on PATH: using ece's dbt stand-in (" + standin->string() +
               "), which is not dbt but does to PostgreSQL what dbt does for the example project";
        return standin->string();
    }
    throw Error(ErrorKind::usage, "dbt (" + configured + ") is not on PATH; install dbt-postgres or set dbt.executable "
                                  "in ece.yml");
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

std::string dbt_version_of(const std::string& dbt) {
    process::Command version;
    version.argv = {dbt, "--version"};
    version.inherit_env = true;
    version.timeout = std::chrono::seconds(60);
    std::string out;
    try {
        out = process::run(version).out;
    } catch (const std::exception&) {
        return {};
    }
    // dbt 1.5+: "Core:\n  - installed: 1.9.1\n ...\nPlugins:\n  - postgres: 1.9.0 - Up to date!"
    std::string core, plugins;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        const auto dash = line.find("- ");
        if (dash == std::string::npos) continue;
        const auto colon = line.find(':', dash);
        if (colon == std::string::npos) continue;
        const auto name = line.substr(dash + 2, colon - dash - 2);
        std::istringstream rest(line.substr(colon + 1));
        std::string value;
        rest >> value;
        if (name == "installed") core = "dbt-core " + value;
        else if (name != "latest" && !core.empty()) plugins += ", dbt-" + name + " " + value;
    }
    return core.empty() ? std::string() : core + plugins;
}

}  // namespace ece::cli
