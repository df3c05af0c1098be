#include "lifecycle/github.hpp"

#include "comment/marker.hpp"
#include "core/error.hpp"

namespace ece::lifecycle {

namespace {

PullRequests::Pull pull_of(const github::PullRequest& p) {
    return {p.number, p.state == "open", p.merged, p.head_ref, p.head_sha};
}

}  // namespace

GitHubCommentSink::GitHubCommentSink(std::shared_ptr<github::Client> client, std::string behavior)
    : client_(std::move(client)), behavior_(std::move(behavior)) {
    if (behavior_ != "update" && behavior_ != "new" && behavior_ != "delete-and-new")
        throw Error(ErrorKind::usage, "comment behavior '" + behavior_ + "': use update, new or delete-and-new",
                    ErrorLocation{.field = "comment-behavior"});
}

std::string GitHubCommentSink::post(const Target& target, const std::string& environment,
                                    const comment::Rendered& rendered) {
    if (!target.pr) throw Error(ErrorKind::usage, "no pull request to comment on for " + environment);
    std::optional<github::Comment> previous;
    if (behavior_ != "new") {
        for (const auto& c : client_->list_issue_comments(*target.pr))
            if (comment::marker_matches(c.body, environment)) previous = c;  // the newest one wins
    }
    if (previous && behavior_ == "update") {
        if (previous->body == rendered.markdown) return previous->html_url;
        return client_->update_issue_comment(previous->id, rendered.markdown).html_url;
    }
    if (previous) client_->delete_issue_comment(previous->id);
    return client_->create_issue_comment(*target.pr, rendered.markdown).html_url;
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
    return client_->create_deployment(request).id;
}

void GitHubDeployments::status(std::int64_t deployment, const std::string& state, const std::string& description) {
    github::DeploymentStatusRequest request;
    request.state = state;
    request.description = description;
    request.log_url = log_url_;
    client_->create_deployment_status(deployment, request);
}

GitHubPullRequests::GitHubPullRequests(std::shared_ptr<github::Client> client) : client_(std::move(client)) {}

std::vector<PullRequests::Pull> GitHubPullRequests::for_commit(const std::string& sha) {
    std::vector<Pull> out;
    for (const auto& p : client_->pulls_for_commit(sha)) out.push_back(pull_of(p));
    return out;
}

PullRequests::Pull GitHubPullRequests::get(int number) { return pull_of(client_->get_pull_request(number)); }

}  // namespace ece::lifecycle
