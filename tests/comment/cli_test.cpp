// The built ece-comment end to end: a real catalog, --dry-run --out, and posting to FakeGitHub over HTTPS. Every
// output (stdout, stderr, comment body, job summary, step outputs) is scanned for the environment's password, the
// token and the database URL.
#include "catalog_fixture.hpp"

#include "comment/marker.hpp"
#include "core/secrets.hpp"
#include "fake_github.hpp"
#include "process/process.hpp"

#include <gmock/gmock.h>

#include <fstream>

namespace ece::comment {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

class CommentCli : public testing_support::CatalogTest {
protected:
    void SetUp() override {
        up = make_environment_with_build();
        std::ofstream(dir / "ece.yml") << "project: e2e\nproduction:\n  role: " << config.production.role
                                       << "\n  schemas: [analytics]\nenvironments:\n  prefix: "
                                       << config.environments.prefix << "\ncost:\n  shared_server_usd_per_gb_month: 0.25\n";
        secrets = {up.credentials.password, up.credentials.url(), url, pg::parse_url(url).password, fake.token()};
    }

    process::Result run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
        std::vector<std::string> argv = {ECE_COMMENT_BINARY, "--database-url", url, "--config",
                                         (dir / "ece.yml").string(), "--branch", "feature/data"};
        argv.insert(argv.end(), args.begin(), args.end());
        process::Command command{argv};
        command.cwd = dir.path();
        command.env = std::move(env);
        command.env["ECE_PRICES"] = std::string(ECE_SOURCE_DIR) + "/data/prices.json";
        command.timeout = std::chrono::seconds(60);
        auto result = process::run(command);
        expect_clean(result.out + result.err, "output of ece-comment " + (args.empty() ? std::string() : args.front()));
        return result;
    }

    void expect_clean(const std::string& text, const std::string& what) {
        EXPECT_THAT(test::find_secrets(text, secrets), IsEmpty()) << what;
    }

    std::map<std::string, std::string> github_env() {
        return {{"GITHUB_API_URL", fake.api_url()},
                {"SSL_CERT_FILE", fake.ca_file().string()},
                {"GITHUB_TOKEN", fake.token()},
                {"GITHUB_REPOSITORY", "octo-org/warehouse"},
                {"GITHUB_ACTIONS", "true"},
                {"GITHUB_SERVER_URL", "https://github.com"},
                {"GITHUB_RUN_ID", "4242"},
                {"GITHUB_SHA", "3333333333333333333333333333333333333333"},
                {"GITHUB_OUTPUT", (dir / "output.txt").string()},
                {"GITHUB_STEP_SUMMARY", (dir / "summary.md").string()}};
    }

    env::UpResult up;
    test::TempDir dir;
    ece::test::FakeGitHub fake;
    std::vector<std::string> secrets;
};

TEST_F(CommentCli, DryRunWritesTheReportFromTheCatalog) {
    auto env = std::map<std::string, std::string>{{"GITHUB_STEP_SUMMARY", (dir / "summary.md").string()},
                                                  {"GITHUB_TOKEN", fake.token()}};
    auto result = run({"--pr", "12", "--dry-run", "--out", (dir / "comment.md").string()}, env);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    auto body = test::read_file(dir / "comment.md");
    auto summary = test::read_file(dir / "summary.md");
    EXPECT_THAT(body, HasSubstr("`pr-12` failed"));
    EXPECT_THAT(body, HasSubstr("division by zero"));
    EXPECT_THAT(body, HasSubstr("Data diff: 4 models compared with production"));
    EXPECT_THAT(body, HasSubstr("character varying(40)"));
    EXPECT_THAT(body, HasSubstr("ece-env hints --branch feature/data"));
    EXPECT_TRUE(marker_matches(body, "pr-12"));
    EXPECT_THAT(summary, HasSubstr("division by zero"));
    EXPECT_THAT(result.out, IsEmpty()) << "--out takes the comment";
    EXPECT_EQ(fake.server().requests().size(), 0u) << "a dry run never calls GitHub";
    expect_clean(body, "comment");
    expect_clean(summary, "summary");
}

TEST_F(CommentCli, WithoutTokenPrintsTheCommentToStdout) {
    auto result = run({"--pr", "12", "--status", "building"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("`pr-12` building"));
    EXPECT_THAT(result.err, HasSubstr("not posted"));
}

TEST_F(CommentCli, PostsToGitHubThenLeavesAnUnchangedReportAlone) {
    fake.add_comment(12, "octocat", "first!");
    auto first = run({"--pr", "12"}, github_env());
    ASSERT_EQ(first.exit_code, 0) << first.err;
    auto comments = fake.comments(12);
    ASSERT_EQ(comments.size(), 2u);
    EXPECT_EQ(comments[0].body, "first!");
    EXPECT_TRUE(marker_matches(comments[1].body, "pr-12"));
    EXPECT_THAT(comments[1].body, HasSubstr("actions/runs/4242"));
    EXPECT_THAT(first.out, HasSubstr(std::to_string(comments[1].id)));
    EXPECT_THAT(first.err, HasSubstr("created"));
    auto outputs = test::read_file(dir / "output.txt");
    EXPECT_THAT(outputs, HasSubstr("comment-url"));
    EXPECT_THAT(outputs, HasSubstr(std::to_string(comments[1].id)));
    expect_clean(comments[1].body, "comment body");
    expect_clean(outputs, "step outputs");
    expect_clean(test::read_file(dir / "summary.md"), "summary");

    fake.server().clear_requests();
    auto second = run({"--pr", "12"}, github_env());
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_THAT(second.err, HasSubstr("unchanged"));
    for (const auto& r : fake.server().requests()) EXPECT_EQ(r.method, "GET") << r.target;
    EXPECT_EQ(fake.comments(12).size(), 2u);

    // A new status is an edit in place.
    auto third = run({"--pr", "12", "--status", "ready", "--behavior", "update"}, github_env());
    ASSERT_EQ(third.exit_code, 0) << third.err;
    EXPECT_THAT(third.err, HasSubstr("updated"));
    ASSERT_EQ(fake.comments(12).size(), 2u);
    EXPECT_THAT(fake.comments(12)[1].body, HasSubstr("`pr-12` ready"));
}

TEST_F(CommentCli, AnExpiredTokenFailsClearlyWithoutShowingIt) {
    auto env = github_env();
    env["GITHUB_TOKEN"] = "ghs_Expired0000000000000000000000000000";
    secrets.push_back(env["GITHUB_TOKEN"]);
    auto result = run({"--pr", "12"}, env);
    EXPECT_EQ(result.exit_code, exit_code::auth);
    EXPECT_THAT(result.err, HasSubstr("refused the token"));
    EXPECT_THAT(fake.comments(12), IsEmpty());
}

TEST_F(CommentCli, PullRequestFromTheEvent) {
    std::ofstream(dir / "event.json") << R"({"action": "synchronize", "number": 12, "repository": {"full_name": "octo-org/warehouse", "default_branch": "main"}, "pull_request": {"number": 12, "state": "open", "draft": false, "merged": false, "head": {"ref": "feature/data", "sha": "3333333333333333333333333333333333333333", "repo": {"full_name": "octo-org/warehouse"}}, "base": {"ref": "main"}, "labels": []}})";
    auto env = github_env();
    env["GITHUB_EVENT_NAME"] = "pull_request";
    env["GITHUB_EVENT_PATH"] = (dir / "event.json").string();
    auto result = run({}, env);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    ASSERT_EQ(fake.comments(12).size(), 1u);
}

}  // namespace
}  // namespace ece::comment
