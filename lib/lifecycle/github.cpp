#include "lifecycle/github.hpp"

#include "comment/sticky.hpp"
#include "core/error.hpp"

namespace ece::lifecycle {

namespace {

PullRequests::Pull pull_of(const github::PullRequest& p) {
    return {p.number, p.state == "open", p.merged, p.head_ref, p.head_sha, p.merge_commit_sha, p.merged_at};
}

}  // namespace

GitHubCommentSink::GitHubCommentSink(std::shared_ptr<github::Client> client, std::string behavior)
    : client_(std::move(client)), behavior_(std::move(behavior)) {
    comment::parse_behavior(behavior_);  // refuses an unknown behavior before anything runs
}

std::string GitHubCommentSink::post(const Target& target, const std::string& environment,
                                    const comment::Rendered& rendered) {
    if (!target.pr) throw Error(ErrorKind::usage, "no pull request to comment on for " + environment);
    comment::StickyOptions options;
    options.behavior = comment::parse_behavior(behavior_);
    return comment::post_sticky(*client_, *target.pr, environment, rendered, options).url;
}

GitHubDeployments::GitHubDeployments(std::shared_ptr<github::Client> client, std::string log_url)
    : client_(std::move(client)), log_url_(std::move(log_url)) {}

std::int64_t GitHubDeployments::create(const std::string& ref, const std::string& environment,
                                       const std::string& description) {
    github::DeploymentRequest request;
    request.ref = ref;
    request.environment = environment;
    request.description = description;
    request.transient_environment = true;
    request.production_environment = false;
    const auto id = client_->create_deployment(request).id;
    environments_[id] = environment;
    return id;
}

void GitHubDeployments::status(std::int64_t deployment, const std::string& state, const std::string& description) {
    github::DeploymentStatusRequest request;
    request.state = state;
    request.description = description;
    request.log_url = log_url_;
    client_->create_deployment_status(deployment, request);
}

void GitHubDeployments::retire_earlier(std::int64_t deployment) {
    const auto environment = environments_.find(deployment);
    if (environment == environments_.end()) return;
    // The newest page is enough: every run retires what came before it, so older ones are inactive already.
    for (const auto& earlier : client_->list_deployments(environment->second)) {
        if (earlier.id >= deployment) continue;  // this one, or a later run's
        const auto statuses = client_->list_deployment_statuses(earlier.id);  // newest first
        if (statuses.empty() || statuses.front().state == "inactive" || statuses.front().state == "failure" ||
            statuses.front().state == "error") {
            continue;
        }
        github::DeploymentStatusRequest request;
        request.state = "inactive";
        request.description = "superseded by deployment " + std::to_string(deployment);
        request.log_url = log_url_;
        client_->create_deployment_status(earlier.id, request);
    }
}

GitHubPullRequests::GitHubPullRequests(std::shared_ptr<github::Client> client) : client_(std::move(client)) {}

std::vector<PullRequests::Pull> GitHubPullRequests::for_commit(const std::string& sha) {
    std::vector<Pull> out;
    for (const auto& p : client_->pulls_for_commit(sha)) out.push_back(pull_of(p));
    return out;
}

PullRequests::Pull GitHubPullRequests::get(int number) { return pull_of(client_->get_pull_request(number)); }

std::set<int> GitHubPullRequests::open_numbers() {
    std::set<int> out;
    for (const auto& p : client_->list_open_pull_requests()) out.insert(p.number);
    return out;
}

}  // namespace ece::lifecycle
