// The GitHub client against FakeGitHub, a stateful fake of the REST API on a real local HTTPS server.
#include "github/client.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "fake_github.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace ece::github {
namespace {

using namespace std::chrono_literals;
using ece::test::expect_error;
using ece::test::FakeGitHub;
using testing::HasSubstr;
using testing::IsEmpty;

ClientConfig config_for(const FakeGitHub& fake) {
    ClientConfig config = fake.client_config();
    config.http.read_timeout = 2s;
    config.http.sleep = [](std::chrono::milliseconds) {};
    return config;
}

TEST(GitHubClient, SendsTheRequiredHeaders) {
    FakeGitHub fake;
    Client client(config_for(fake));
    client.list_issue_comments(1);
    auto log = fake.server().requests();
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].header("authorization"), "Bearer " + fake.token());
    EXPECT_EQ(log[0].header("accept"), "application/vnd.github+json");
    EXPECT_EQ(log[0].header("x-github-api-version"), "2022-11-28");
    EXPECT_THAT(log[0].header("user-agent").value_or(""), testing::MatchesRegex("ece/[0-9]+\\.[0-9]+\\.[0-9]+"));
}

TEST(GitHubClient, ListsCommentsAcrossPages) {
    FakeGitHub fake;
    for (int i = 0; i < 250; ++i) {
        fake.add_comment(12, i % 3 == 0 ? "octocat" : fake.bot_login(), "comment " + std::to_string(i));
    }
    fake.add_comment(1, "octocat", "another pull request");
    Client client(config_for(fake));
    auto comments = client.list_issue_comments(12);
    ASSERT_EQ(comments.size(), 250u);
    EXPECT_EQ(comments.front().body, "comment 0");
    EXPECT_EQ(comments.front().user.login, "octocat");
    EXPECT_EQ(comments.back().body, "comment 249");
    EXPECT_EQ(comments[1].user.login, "github-actions[bot]");
    EXPECT_EQ(comments[1].user.type, "Bot");
    auto log = fake.server().requests();
    ASSERT_EQ(log.size(), 3u);
    EXPECT_EQ(log[0].query_param("per_page"), "100");
    EXPECT_EQ(log[2].query_param("page"), "3");
}

TEST(GitHubClient, CommentLifecycleLeavesOthersAlone) {
    FakeGitHub fake;
    auto theirs = fake.add_comment(7, "octocat", "LGTM");
    Client client(config_for(fake));
    auto mine = client.create_issue_comment(7, "<!-- ece:pr-7 -->\nplanning");
    EXPECT_EQ(mine.user.login, fake.bot_login());
    EXPECT_THAT(mine.html_url, HasSubstr("#issuecomment-"));
    auto updated = client.update_issue_comment(mine.id, "<!-- ece:pr-7 -->\nready");
    EXPECT_EQ(updated.id, mine.id);
    EXPECT_EQ(updated.body, "<!-- ece:pr-7 -->\nready");
    ASSERT_EQ(fake.comments(7).size(), 2u);
    EXPECT_EQ(fake.comments(7)[1].body, "<!-- ece:pr-7 -->\nready");
    client.delete_issue_comment(mine.id);
    ASSERT_EQ(fake.comments(7).size(), 1u);
    EXPECT_EQ(fake.comments(7)[0].id, theirs);
    // The fake refuses to touch someone else's comment, so a test notices code that tries.
    auto e = expect_error([&] { client.update_issue_comment(theirs, "hijacked"); });
    EXPECT_EQ(e.kind(), ErrorKind::auth);
    EXPECT_EQ(fake.comments(7)[0].body, "LGTM");
}

TEST(GitHubClient, TooLongCommentIsRefusedWithGitHubsMessage) {
    FakeGitHub fake;
    Client client(config_for(fake));
    auto e = expect_error([&] { client.create_issue_comment(3, std::string(70'000, 'x')); });
    EXPECT_EQ(e.where().http_status, 422);
    EXPECT_THAT(e.what(), HasSubstr("commenting on #3: POST failed: Validation Failed "
                                    "(IssueComment.body: body is too long (maximum is 65536 characters))"));
}

TEST(GitHubClient, OpenPullRequestsAcrossPages) {
    FakeGitHub fake;
    for (int n = 1; n <= 130; ++n) {
        fake.add_pull({.number = n, .state = n % 3 == 0 ? "closed" : "open", .head_ref = "b" + std::to_string(n)});
    }
    Client client(config_for(fake));
    auto open = client.list_open_pull_requests();
    EXPECT_EQ(open.size(), 87u);  // 130 minus the 43 closed ones, over two pages of 100
    for (const auto& pull : open) EXPECT_EQ(pull.state, "open") << pull.number;
}

TEST(GitHubClient, PullRequestsAndTheirCommits) {
    FakeGitHub fake;
    fake.add_pull({.number = 12, .title = "Add marts", .head_ref = "feature/marts", .head_sha = std::string(40, 'a')});
    fake.add_pull({.number = 13, .state = "closed", .merged = true, .head_ref = "fix", .head_sha = std::string(40, 'b'),
                   .merge_commit_sha = std::string(40, 'c')});
    fake.link_commit(std::string(40, 'c'), 13);
    Client client(config_for(fake));
    auto pull = client.get_pull_request(12);
    EXPECT_EQ(pull.number, 12);
    EXPECT_EQ(pull.state, "open");
    EXPECT_FALSE(pull.merged);
    EXPECT_EQ(pull.head_ref, "feature/marts");
    EXPECT_EQ(pull.head_sha, std::string(40, 'a'));
    EXPECT_EQ(pull.base_ref, "main");
    EXPECT_EQ(pull.merge_commit_sha, "");
    auto pulls = client.pulls_for_commit(std::string(40, 'c'));
    ASSERT_EQ(pulls.size(), 1u);
    EXPECT_TRUE(pulls[0].merged);
    EXPECT_EQ(pulls[0].merge_commit_sha, std::string(40, 'c'));
    EXPECT_THAT(client.pulls_for_commit(std::string(40, 'd')), IsEmpty());
    auto e = expect_error([&] { client.get_pull_request(99); });
    EXPECT_EQ(e.kind(), ErrorKind::network);
    EXPECT_EQ(e.where().http_status, 404);
    EXPECT_THAT(e.what(), HasSubstr("reading pull request #99: GET failed: Not Found"));
}

TEST(GitHubClient, DeploymentsAndStatuses) {
    FakeGitHub fake;
    Client client(config_for(fake));
    auto deployment = client.create_deployment({.ref = "feature/marts", .environment = "ece/pr-12",
                                                .description = "ece environment for #12"});
    EXPECT_GT(deployment.id, 0);
    EXPECT_EQ(deployment.environment, "ece/pr-12");
    auto status = client.create_deployment_status(
        deployment.id, {.state = "in_progress", .description = std::string(200, 'd'), .log_url = "https://x/run/1"});
    EXPECT_EQ(status.state, "in_progress");
    EXPECT_EQ(status.description.size(), 140u);
    client.create_deployment_status(deployment.id, {.state = "success", .environment_url = "https://x/env"});
    auto recorded = fake.deployments();
    ASSERT_EQ(recorded.size(), 1u);
    EXPECT_TRUE(recorded[0].transient_environment);
    EXPECT_FALSE(recorded[0].production_environment);
    ASSERT_EQ(recorded[0].statuses.size(), 2u);
    EXPECT_EQ(recorded[0].statuses[1].environment_url, "https://x/env");
    auto other = client.create_deployment({.ref = "main", .environment = "ece/pr-13"});
    auto listed = client.list_deployments("ece/pr-12");
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].id, deployment.id);
    EXPECT_EQ(client.list_deployments("ece/pr-13").at(0).id, other.id);
    auto statuses = client.list_deployment_statuses(deployment.id);  // newest first, as GitHub lists them
    ASSERT_EQ(statuses.size(), 2u);
    EXPECT_EQ(statuses[0].state, "success");
    EXPECT_EQ(statuses[1].state, "in_progress");
    auto e = expect_error([&] { client.create_deployment_status(deployment.id, {.state = "done"}); });
    EXPECT_EQ(e.where().http_status, 422);
}

TEST(GitHubClient, NewestArtifactOfASuccessfulRunIsDownloadedAndExtracted) {
    FakeGitHub fake;
    auto old_run = fake.add_workflow_run({.head_branch = "main"});
    fake.add_artifact(old_run, "dbt-manifest", {{"manifest.json", R"({"old":true})"}});
    auto failed = fake.add_workflow_run({.head_branch = "main", .conclusion = "failure"});
    fake.add_artifact(failed, "dbt-manifest", {{"manifest.json", R"({"failed":true})"}});
    auto other = fake.add_workflow_run({.head_branch = "feature"});
    fake.add_artifact(other, "dbt-manifest", {{"manifest.json", R"({"feature":true})"}});
    auto newest = fake.add_workflow_run({.head_branch = "main"});
    fake.add_artifact(newest, "coverage", {{"x", "y"}});
    fake.add_artifact(newest, "dbt-manifest", {{"target/run_results.json", "{}"}, {"manifest.json", R"({"new":true})"}});

    Client client(config_for(fake));
    auto artifact = client.newest_artifact("main", "dbt-manifest");
    ASSERT_TRUE(artifact);
    EXPECT_EQ(artifact->run_id, newest);
    ece::test::TempDir dir;
    client.download_artifact(*artifact, dir / "a.zip");
    EXPECT_EQ(extract_zip_member(dir / "a.zip", "manifest.json"), R"({"new":true})");
    extract_zip_member_to(dir / "a.zip", "target/run_results.json", dir / "rr.json");
    EXPECT_EQ(ece::test::read_file(dir / "rr.json"), "{}");
    auto missing = expect_error([&] { extract_zip_member(dir / "a.zip", "nope.json"); });
    EXPECT_EQ(missing.kind(), ErrorKind::input);
    EXPECT_THAT(missing.what(), HasSubstr("nope.json: no such file in the zip archive"));

    // The blob store got the pre-signed URL, never the token.
    auto log = fake.server().requests();
    auto blob = std::find_if(log.begin(), log.end(), [](const auto& r) { return r.path.starts_with("/_blobs/"); });
    ASSERT_NE(blob, log.end());
    EXPECT_EQ(blob->header("authorization"), std::nullopt);

    EXPECT_EQ(client.newest_artifact("main", "no-such-artifact"), std::nullopt);
    EXPECT_EQ(client.newest_artifact("gone", "dbt-manifest"), std::nullopt);
}

TEST(GitHubClient, ExpiredArtifactsAreSkipped) {
    FakeGitHub fake;
    auto older = fake.add_workflow_run({.head_branch = "main"});
    fake.add_artifact(older, "m", {{"manifest.json", "older"}});
    auto newer = fake.add_workflow_run({.head_branch = "main"});
    fake.add_artifact(newer, "m", {{"manifest.json", "newer"}}, /*expired=*/true);
    Client client(config_for(fake));
    auto artifact = client.newest_artifact("main", "m");
    ASSERT_TRUE(artifact);
    EXPECT_EQ(artifact->run_id, older);
}

TEST(GitHubClient, SecondaryRateLimitIsWaitedOut) {
    FakeGitHub fake;
    std::vector<std::chrono::milliseconds> sleeps;
    auto config = config_for(fake);
    config.http.sleep = [&](std::chrono::milliseconds ms) { sleeps.push_back(ms); };
    ece::test::ServerResponse limited = ece::test::ServerResponse::error(
        403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.");
    limited.headers.set("retry-after", "30");
    fake.server().enqueue("POST", "/repos/{owner}/{repo}/issues/{n}/comments", {limited});
    Client client(config);
    client.create_issue_comment(5, "hello");
    EXPECT_THAT(sleeps, testing::ElementsAre(30'000ms));
    EXPECT_EQ(fake.comments(5).size(), 1u) << "created once";
}

TEST(GitHubClient, ExhaustedRateLimitFailsClearlyInsteadOfWaitingAnHour) {
    FakeGitHub fake;
    std::vector<std::chrono::milliseconds> sleeps;
    auto config = config_for(fake);
    config.http.sleep = [&](std::chrono::milliseconds ms) { sleeps.push_back(ms); };
    fake.set_rate_limit_remaining(0);
    Client client(config);
    auto e = expect_error([&] { client.get_pull_request(1); });
    EXPECT_EQ(e.kind(), ErrorKind::network);
    EXPECT_EQ(e.where().http_status, 403);
    EXPECT_THAT(e.what(), HasSubstr("API rate limit exceeded for installation ID 1000.; the server asks to wait 36"));
    EXPECT_THAT(sleeps, IsEmpty());
}

TEST(GitHubClient, TokenNeverAppearsInErrors) {
    clear_secrets_for_test();
    FakeGitHub fake;
    auto config = config_for(fake);
    const std::string wrong = "ghp_WrongToken0123456789abcdefABCDEF0123";
    config.token = wrong;
    Client client(config);
    std::vector<std::string> messages;
    auto e = expect_error([&] { client.list_issue_comments(1); });
    EXPECT_EQ(e.kind(), ErrorKind::auth);
    messages.push_back(e.what());
    fake.server().route("GET", "/repos/{owner}/{repo}/pulls/{n}", [](const ece::test::ServerRequest& r) {
        return ece::test::ServerResponse::json(500, "{\"message\":\"echo " + r.header("authorization").value_or("") + "\"}");
    });
    messages.push_back(expect_error([&] { client.get_pull_request(1); }).what());
    for (const auto& m : messages) EXPECT_THAT(ece::test::find_secrets(m, {wrong, fake.token()}), IsEmpty()) << m;
    EXPECT_THAT(messages[0], HasSubstr("HTTP 401: listing the comments of #1: GET failed: Bad credentials"));
    clear_secrets_for_test();
}

TEST(GitHubClient, EnterpriseServerApiUrlWithPathPrefix) {
    ece::test::TestServer server;
    server.route("GET", "/api/v3/repos/{owner}/{repo}/pulls/{n}", [](const ece::test::ServerRequest&) {
        return ece::test::ServerResponse::json(
            200, R"({"number":4,"state":"open","merged":false,"head":{"ref":"f","sha":"s"},"base":{"ref":"main"}})");
    });
    ::setenv("GITHUB_API_URL", (server.url("/api/v3/")).c_str(), 1);
    EXPECT_EQ(api_url_from_environment(), server.url("/api/v3"));
    ClientConfig config;
    config.token = "ghs_enterprise_token_123456";
    config.repository = Repository::parse("corp/data");
    config.http.ca_file = server.ca_file();
    config.http.proxy_from_environment = false;
    Client client(config);
    ::unsetenv("GITHUB_API_URL");
    EXPECT_EQ(client.get_pull_request(4).head_ref, "f");
    EXPECT_EQ(server.requests().at(0).path, "/api/v3/repos/corp/data/pulls/4");
    EXPECT_EQ(api_url_from_environment(), "https://api.github.com");
}

TEST(GitHubClient, ConfigurationMistakesAreUsageErrors) {
    EXPECT_THROW(Repository::parse("just-a-name"), Error);
    EXPECT_THROW(Repository::parse("a/b/c"), Error);
    EXPECT_EQ(Repository::parse("octo-org/warehouse").full_name(), "octo-org/warehouse");
    ClientConfig config;
    config.api_url = "https://api.github.com";
    config.repository = {"o", "r"};
    auto e = expect_error([&] { Client{config}; });
    EXPECT_EQ(e.kind(), ErrorKind::usage);
}

TEST(FakeGitHub, PaginatesLikeGitHub) {
    FakeGitHub fake;
    for (int i = 0; i < 65; ++i) fake.add_comment(2, "octocat", std::to_string(i));
    http::ClientOptions options;
    options.ca_file = fake.ca_file();
    options.proxy_from_environment = false;
    http::Client http(options);
    http::Request first{.url = fake.api_url() + "/repos/octo-org/warehouse/issues/2/comments",
                        .headers = {{{"Authorization", "Bearer " + fake.token()}}}};
    auto pages = http.get_all_pages(first);
    ASSERT_EQ(pages.size(), 3u) << "30 a page by default";
    auto link = pages[0].header("link").value_or("");
    EXPECT_THAT(link, HasSubstr("per_page=30&page=2>; rel=\"next\""));
    EXPECT_THAT(link, HasSubstr("per_page=30&page=3>; rel=\"last\""));
    EXPECT_EQ(pages[0].header("x-ratelimit-limit"), "5000");
    first.url += "?per_page=500";
    EXPECT_EQ(http.get_all_pages(first).size(), 1u) << "per_page is capped at 100";
}

}  // namespace
}  // namespace ece::github
