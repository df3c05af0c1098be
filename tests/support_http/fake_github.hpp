#pragma once
// A stateful fake of the GitHub REST API on TestServer, for tests of everything that talks to GitHub:
// issue comments with GitHub's real pagination (per_page default 30, max 100, Link rel=next/last), comments by
// other users, edit/delete, pull requests and the pulls of a commit, deployments and their statuses, workflow runs
// and artifacts (zip download through a redirect to another origin), rate-limit headers, token checks.
//
//   ece::test::FakeGitHub github;                       // owner "octo-org", repo "warehouse"
//   github.add_comment(7, "octocat", "LGTM");           // a comment by someone else on PR #7
//   auto config = github.client_config();              // this fake's URL, token, repository and CA
//   ...code under test...
//   EXPECT_EQ(github.comments(7).size(), 2u);
#include "github/client.hpp"
#include "test_server.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ece::test {

struct FakeGitHubOptions {
    std::string owner = "octo-org";
    std::string repo = "warehouse";
    std::string token = "ghs_FakeToken0123456789abcdefABCDEF0123";  // requests must carry it as Bearer
    std::string bot_login = "github-actions[bot]";                   // the author of comments made with the token
    // Editing or deleting another user's comment is answered 403, so a test notices code that touches them.
    bool protect_others_comments = true;
    ServerOptions server{};
};

class FakeGitHub {
public:
    struct Comment {
        std::int64_t id = 0;
        int issue = 0;
        std::string user{};
        std::string body{};
        std::string created_at{};
        std::string updated_at{};
    };
    struct Pull {
        int number = 0;
        std::string title = "A change";
        std::string state = "open";  // open | closed
        bool merged = false;
        std::string head_ref = "feature";
        std::string head_sha = "0000000000000000000000000000000000000001";
        std::string base_ref = "main";
        std::string merge_commit_sha{};
        std::string merged_at{};  // ISO 8601; empty: null
    };
    // The records lib/github reads are its own types, so the fake and the client cannot drift apart.
    using DeploymentStatus = github::DeploymentStatus;
    // A deployment as the fake keeps it: what the client gets back, and what the request asked for.
    struct Deployment : github::Deployment {
        bool transient_environment = false;
        bool production_environment = false;
        std::string body{};  // the request body as received
        std::vector<DeploymentStatus> statuses;
    };
    // add_workflow_run fills in what is left empty: name "ece", status "completed" and then conclusion "success".
    using WorkflowRun = github::WorkflowRun;
    // An artifact as the fake keeps it: what the client gets back, and the archive's bytes.
    struct Artifact : github::Artifact {
        std::string zip{};
    };

    explicit FakeGitHub(FakeGitHubOptions options = {});

    TestServer& server() { return server_; }
    std::string api_url() const { return server_.base_url(); }  // what GITHUB_API_URL would be
    const std::filesystem::path& ca_file() const { return server_.ca_file(); }
    const std::string& token() const { return options_.token; }
    const std::string& owner() const { return options_.owner; }
    const std::string& repo() const { return options_.repo; }
    const std::string& bot_login() const { return options_.bot_login; }
    // What a lib/github client needs to talk to this fake: its URL, token, repository and CA; no proxy.
    github::ClientConfig client_config() const;

    // Seeding and inspecting state (thread-safe; the server thread changes it too).
    std::int64_t add_comment(int issue, const std::string& user, const std::string& body);
    std::vector<Comment> comments(int issue) const;
    void add_pull(const Pull& pull);
    void link_commit(const std::string& sha, int pull_number);  // commits/{sha}/pulls lists it
    std::vector<Deployment> deployments() const;
    std::int64_t add_workflow_run(const WorkflowRun& run);
    // A zip holding files (name -> content), built with libarchive.
    std::int64_t add_artifact(std::int64_t run_id, const std::string& name,
                              const std::map<std::string, std::string>& files, bool expired = false);
    // Requests that reached the API (not the blob host) with a mutating method.
    std::size_t mutations() const;
    // Every request that reached the API, in order: {method, target (path and query)}.
    std::vector<std::pair<std::string, std::string>> requests() const;
    // The x-ratelimit-remaining value of the next response (it counts down from 5000 by itself). At 0, requests
    // are refused with 403 "API rate limit exceeded" and a reset an hour away, as GitHub does.
    void set_rate_limit_remaining(int remaining);

    // Makes a zip archive in memory (for tests that build their own artifacts).
    static std::string make_zip(const std::map<std::string, std::string>& files);

private:
    void install_routes();
    bool rate_limit_exhausted() const;
    ServerResponse guarded(const ServerRequest& request, const std::function<ServerResponse(const ServerRequest&)>& f);

    FakeGitHubOptions options_;
    TestServer server_;
    mutable std::mutex mutex_;
    std::int64_t next_id_ = 1000;
    std::map<int, std::vector<Comment>> comments_;
    std::map<int, Pull> pulls_;
    std::map<std::string, std::vector<int>> commit_pulls_;
    std::vector<Deployment> deployments_;
    std::vector<WorkflowRun> runs_;
    std::vector<Artifact> artifacts_;
    std::size_t mutations_ = 0;
    std::vector<std::pair<std::string, std::string>> requests_;
    int rate_limit_remaining_ = 5000;
};

}  // namespace ece::test
