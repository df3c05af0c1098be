#include "lifecycle/permissions.hpp"

#include "core/error.hpp"

namespace ece::lifecycle {

namespace {

// The calls behind the interfaces of lifecycle.hpp (GitHubCommentSink, GitHubDeployments, GitHubPullRequests) and
// the production-state artifact fallback (dbt::github_artifact_fetcher).
const github::Permissions sticky_comment = {{"pull-requests", "write"}};       // list, create, edit, delete
const github::Permissions deployment = {{"deployments", "write"}};             // create, statuses, list earlier ones
const github::Permissions pull_requests = {{"pull-requests", "read"}};         // get, list open
const github::Permissions pulls_of_commit = {{"contents", "read"}, {"pull-requests", "read"}};
const github::Permissions state_artifact = {{"actions", "read"}};              // runs, artifacts, download

}  // namespace

github::Permissions github_permissions(std::string_view chain) {
    github::Permissions needed;
    if (chain == "preview") {
        // The fork artifact's pull request is checked with GitHub; production's manifest may come from the
        // artifact of the default branch's last run when the catalog has none yet (the first preview).
        for (const auto* p : {&sticky_comment, &deployment, &pull_requests, &state_artifact}) github::grant(needed, *p);
    } else if (chain == "destroy") {
        for (const auto* p : {&sticky_comment, &deployment}) github::grant(needed, *p);
    } else if (chain == "publish") {
        // The merged pull request of a commit, and every earlier merged one still waiting (their states and merge
        // commits), each with its comment and deployment.
        for (const auto* p : {&sticky_comment, &deployment, &pull_requests, &pulls_of_commit}) github::grant(needed, *p);
    } else if (chain == "gc") {
        github::grant(needed, pull_requests);
    } else if (chain != "hints") {
        throw Error(ErrorKind::usage, "unknown chain '" + std::string(chain) + "': use preview, destroy, publish, gc or hints");
    }
    return needed;
}

}  // namespace ece::lifecycle
