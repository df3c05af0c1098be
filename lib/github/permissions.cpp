#include "github/permissions.hpp"

#include "core/error.hpp"

namespace ece::github {

void grant(Permissions& permissions, const std::string& scope, const std::string& access) {
    auto& held = permissions[scope];
    if (held != "write") held = access;
}

void grant(Permissions& permissions, const Permissions& more) {
    for (const auto& [scope, access] : more) grant(permissions, scope, access);
}

bool covers(const Permissions& granted, const Permissions& needed) {
    for (const auto& [scope, access] : needed) {
        auto held = granted.find(scope);
        if (held == granted.end() || (access == "write" && held->second != "write")) return false;
    }
    return true;
}

std::string describe(const Permissions& permissions) {
    std::string text;
    for (const auto& [scope, access] : permissions) text += (text.empty() ? "" : ", ") + scope + ": " + access;
    return text.empty() ? "none" : text;
}

Permissions permission_for(std::string_view method, std::string_view path) {
    const auto query = path.find('?');
    if (query != std::string_view::npos) path = path.substr(0, query);
    // /repos/{owner}/{repo}/<rest>
    std::string_view rest = path;
    for (int slashes = 0; slashes < 3 && !rest.empty(); ++slashes) {
        auto next = rest.find('/', 1);
        rest = next == std::string_view::npos ? std::string_view() : rest.substr(next);
    }
    if (!path.starts_with("/repos/") || rest.empty())
        throw Error(ErrorKind::internal, "no GitHub permission is known for " + std::string(method) + " " + std::string(path));
    const bool reads = method == "GET";
    // Comments of pull requests go through the issues API; on a pull request the pull-requests permission suffices.
    if (rest.starts_with("/issues/")) return {{"pull-requests", reads ? "read" : "write"}};
    if (rest.starts_with("/pulls")) return {{"pull-requests", "read"}};
    // "List pull requests associated with a commit": contents and pull requests, both read.
    if (rest.starts_with("/commits/") && rest.ends_with("/pulls")) return {{"contents", "read"}, {"pull-requests", "read"}};
    if (rest.starts_with("/deployments")) return {{"deployments", reads ? "read" : "write"}};
    // Workflow runs, their artifacts and the artifact download.
    if (rest.starts_with("/actions/") && reads) return {{"actions", "read"}};
    throw Error(ErrorKind::internal, "no GitHub permission is known for " + std::string(method) + " " + std::string(path));
}

}  // namespace ece::github
