#pragma once
// The GitHub REST calls ece needs, on lib/http: sticky pull-request comments, pull requests, deployments and their
// statuses, and the artifacts of workflow runs. Every request carries Authorization: Bearer, the v3 JSON media type,
// X-GitHub-Api-Version 2022-11-28 and User-Agent ece/<version>; the token is registered as a secret.
#include "http/client.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace ece::github {

inline constexpr std::string_view api_version = "2022-11-28";
inline constexpr std::string_view default_api_url = "https://api.github.com";

struct Repository {
    std::string owner{};
    std::string name{};

    // "owner/name" (GITHUB_REPOSITORY); throws ece::Error(usage) otherwise.
    static Repository parse(std::string_view full_name);
    std::string full_name() const { return owner + "/" + name; }
};

struct ClientConfig {
    std::string api_url{};  // empty: GITHUB_API_URL (GitHub Enterprise Server: https://HOST/api/v3), else api.github.com
    std::string token{};
    Repository repository{};
    http::ClientOptions http{};
};

// GITHUB_API_URL when set, else https://api.github.com; without a trailing slash.
std::string api_url_from_environment();

struct User {
    std::string login{};
    std::int64_t id = 0;
    std::string type{};  // User | Bot | Organization
};

struct Comment {
    std::int64_t id = 0;
    std::string body{};
    User user;
    std::string html_url{};
    std::string created_at{};
    std::string updated_at{};
};

struct PullRequest {
    int number = 0;
    std::string state{};  // open | closed
    bool merged = false;
    std::string title{};
    std::string html_url{};
    std::string head_ref{};
    std::string head_sha{};
    std::string base_ref{};
    std::string merge_commit_sha{};  // empty when none
    std::string merged_at{};         // ISO 8601, empty when not merged: the merge order
};

struct DeploymentRequest {
    std::string ref{};          // branch, tag or sha to deploy
    std::string environment{};  // e.g. "ece/pr-12"
    std::string description{};
    std::string task = "deploy";
    bool transient_environment = true;
    bool production_environment = false;
    std::optional<std::string> payload{};  // JSON text, stored with the deployment
};

struct Deployment {
    std::int64_t id = 0;
    std::string ref{};
    std::string sha{};
    std::string environment{};
    std::string task{};
    std::string description{};
    std::string url{};
};

struct DeploymentStatusRequest {
    std::string state{};  // error | failure | inactive | in_progress | queued | pending | success
    std::string description{};      // cut to GitHub's 140 characters
    std::string environment_url{};  // where the environment can be reached
    std::string log_url{};          // the workflow run
    std::optional<bool> auto_inactive{};
};

struct DeploymentStatus {
    std::int64_t id = 0;
    std::string state{};
    std::string description{};
    std::string environment_url{};
    std::string log_url{};
};

struct WorkflowRun {
    std::int64_t id = 0;
    std::string name{};
    std::string head_branch{};
    std::string head_sha{};
    std::string status{};      // queued | in_progress | completed
    std::string conclusion{};  // success | failure | ... (empty while running)
    std::string created_at{};
};

struct Artifact {
    std::int64_t id = 0;
    std::string name{};
    std::int64_t size_in_bytes = 0;
    bool expired = false;
    std::string archive_download_url{};
    std::string created_at{};
    std::int64_t run_id = 0;
};

class Client {
public:
    explicit Client(ClientConfig config);

    const ClientConfig& config() const { return config_; }

    // Issue (and pull-request) comments: every page, 100 a page.
    std::vector<Comment> list_issue_comments(int issue_number);
    Comment create_issue_comment(int issue_number, std::string_view body);
    Comment update_issue_comment(std::int64_t comment_id, std::string_view body);
    void delete_issue_comment(std::int64_t comment_id);

    PullRequest get_pull_request(int number);
    // Pull requests whose head (or merge) contains the commit.
    std::vector<PullRequest> pulls_for_commit(std::string_view sha);
    // Every open pull request of the repository (all pages), e.g. for gc to reap environments of closed ones.
    std::vector<PullRequest> list_open_pull_requests();

    Deployment create_deployment(const DeploymentRequest& request);
    DeploymentStatus create_deployment_status(std::int64_t deployment_id, const DeploymentStatusRequest& request);
    // An environment's deployments, newest first: one page of per_page.
    std::vector<Deployment> list_deployments(std::string_view environment, int per_page = 100);
    // A deployment's statuses, newest first (all pages).
    std::vector<DeploymentStatus> list_deployment_statuses(std::int64_t deployment_id);

    // Runs on a branch with a status or conclusion ("success", "completed"), newest first; one page of per_page.
    std::vector<WorkflowRun> list_workflow_runs(std::string_view branch, std::string_view status, int per_page = 30);
    std::vector<Artifact> list_run_artifacts(std::int64_t run_id);
    // The named artifact of the newest successful run on branch that has an unexpired one (looking at up to
    // max_runs runs), or nullopt.
    std::optional<Artifact> newest_artifact(std::string_view branch, std::string_view name, int max_runs = 20);
    // Downloads the artifact's zip (following GitHub's redirect to its blob store, without the token) to zip_file.
    void download_artifact(const Artifact& artifact, const std::filesystem::path& zip_file);

private:
    http::Request request(std::string method, const std::string& path, std::string body = {}) const;
    // Every page of a list of pull requests.
    std::vector<PullRequest> pull_list(const std::string& path_and_query);
    std::string repo_path() const;

    ClientConfig config_;
    http::Client http_;
};

// The bytes of one member of a zip archive (libarchive); throws ece::Error(input) naming the archive and member
// when it is missing or the archive is damaged.
// The numbers of the open pull requests of GITHUB_REPOSITORY, when GITHUB_TOKEN and GITHUB_REPOSITORY are set
// (GITHUB_API_URL honoured); nullopt otherwise, so callers fall back to what they know without GitHub.
std::optional<std::set<int>> open_pull_request_numbers_from_environment();

std::string extract_zip_member(const std::filesystem::path& zip_file, std::string_view member);
// Same, written to out_file (for large members).
void extract_zip_member_to(const std::filesystem::path& zip_file, std::string_view member,
                           const std::filesystem::path& out_file);

}  // namespace ece::github
