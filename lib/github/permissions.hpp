#pragma once
// The GITHUB_TOKEN permission each REST call of lib/github needs (GitHub's "Permissions required for GitHub Apps"
// tables of the endpoints ece uses). lib/lifecycle adds up what each chain can call; tests/workflows checks that
// every workflow's jobs grant exactly that, and the end-to-end tests that every request a chain made is covered.
#include <map>
#include <string>
#include <string_view>

namespace ece::github {

// scope ("contents", "pull-requests", "deployments", "actions") -> "read" | "write" (write includes read), as a
// workflow's permissions: block spells them.
using Permissions = std::map<std::string, std::string>;

// Adds scope:access to permissions; write wins over read.
void grant(Permissions& permissions, const std::string& scope, const std::string& access);
void grant(Permissions& permissions, const Permissions& more);
// Every scope of needed is granted at that access or above.
bool covers(const Permissions& granted, const Permissions& needed);
// "actions: read, pull-requests: write"
std::string describe(const Permissions& permissions);

// What one request of the client needs: method and the path it sends (/repos/{owner}/{repo}/..., query allowed).
// Throws ece::Error(internal) for a path the table does not know: a new call must say what it needs here.
Permissions permission_for(std::string_view method, std::string_view path);

}  // namespace ece::github
