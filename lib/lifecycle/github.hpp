#pragma once
// The lifecycle's GitHub side on lib/github: the sticky pull-request comment, deployments, pull requests.
#include "github/client.hpp"
#include "lifecycle/lifecycle.hpp"

#include <map>
#include <memory>
#include <string>

namespace ece::lifecycle {

// The sticky comment of one environment on its pull request (comment::post_sticky): behavior update, new or
// delete-and-new. Returns the comment's html_url.
class GitHubCommentSink : public CommentSink {
public:
    GitHubCommentSink(std::shared_ptr<github::Client> client, std::string behavior);
    std::string post(const Target& target, const std::string& environment, const comment::Rendered& rendered) override;

private:
    std::shared_ptr<github::Client> client_;
    std::string behavior_;
};

class GitHubDeployments : public Deployments {
public:
    GitHubDeployments(std::shared_ptr<github::Client> client, std::string log_url);
    std::int64_t create(const std::string& ref, const std::string& environment, const std::string& description) override;
    void status(std::int64_t deployment, const std::string& state, const std::string& description) override;
    void retire_earlier(std::int64_t deployment) override;

private:
    std::shared_ptr<github::Client> client_;
    std::string log_url_;
    std::map<std::int64_t, std::string> environments_;  // of the deployments this run created
};

class GitHubPullRequests : public PullRequests {
public:
    explicit GitHubPullRequests(std::shared_ptr<github::Client> client);
    std::vector<Pull> for_commit(const std::string& sha) override;
    Pull get(int number) override;
    std::set<int> open_numbers() override;

private:
    std::shared_ptr<github::Client> client_;
};

}  // namespace ece::lifecycle
