// Every REST call of lib/github maps to the GITHUB_TOKEN permission GitHub documents for it; a call the table does
// not know is an error, so a new call cannot slip past the workflows' permission check (tests/workflows).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "github/client.hpp"
#include "github/permissions.hpp"
#include "fake_github.hpp"
#include "support.hpp"

#include <filesystem>
#include <set>

namespace ece::github {
namespace {

TEST(Permissions, EachCallOfTheClientNeedsWhatGitHubDocuments) {
    const std::string repo = "/repos/octo-org/warehouse";
    EXPECT_EQ(permission_for("GET", repo + "/issues/7/comments?per_page=100"), (Permissions{{"pull-requests", "read"}}));
    EXPECT_EQ(permission_for("POST", repo + "/issues/7/comments"), (Permissions{{"pull-requests", "write"}}));
    EXPECT_EQ(permission_for("PATCH", repo + "/issues/comments/9"), (Permissions{{"pull-requests", "write"}}));
    EXPECT_EQ(permission_for("DELETE", repo + "/issues/comments/9"), (Permissions{{"pull-requests", "write"}}));
    EXPECT_EQ(permission_for("GET", repo + "/pulls/7"), (Permissions{{"pull-requests", "read"}}));
    EXPECT_EQ(permission_for("GET", repo + "/pulls?state=open&per_page=100"), (Permissions{{"pull-requests", "read"}}));
    EXPECT_EQ(permission_for("GET", repo + "/commits/abc/pulls?per_page=100"),
              (Permissions{{"contents", "read"}, {"pull-requests", "read"}}));
    EXPECT_EQ(permission_for("POST", repo + "/deployments"), (Permissions{{"deployments", "write"}}));
    EXPECT_EQ(permission_for("POST", repo + "/deployments/5/statuses"), (Permissions{{"deployments", "write"}}));
    EXPECT_EQ(permission_for("GET", repo + "/deployments?environment=ece%2Fpr-7"), (Permissions{{"deployments", "read"}}));
    EXPECT_EQ(permission_for("GET", repo + "/actions/runs?branch=main&status=success"), (Permissions{{"actions", "read"}}));
    EXPECT_EQ(permission_for("GET", repo + "/actions/runs/4/artifacts?per_page=100"), (Permissions{{"actions", "read"}}));
    EXPECT_EQ(permission_for("GET", repo + "/actions/artifacts/3/zip"), (Permissions{{"actions", "read"}}));
    EXPECT_THROW(permission_for("PUT", repo + "/contents/README.md"), Error);
    EXPECT_THROW(permission_for("GET", "/user"), Error);
}

TEST(Permissions, WriteCoversReadAndGrantsAddUp) {
    Permissions granted;
    grant(granted, "pull-requests", "read");
    grant(granted, {{"pull-requests", "write"}, {"actions", "read"}});
    grant(granted, "pull-requests", "read");  // write stays
    EXPECT_EQ(describe(granted), "actions: read, pull-requests: write");
    EXPECT_TRUE(covers(granted, {{"pull-requests", "read"}}));
    EXPECT_FALSE(covers(granted, {{"deployments", "read"}}));
    EXPECT_FALSE(covers({{"actions", "read"}}, {{"actions", "write"}}));
    EXPECT_EQ(describe({}), "none");
}

// Every request the client sends maps: one of each through the fake.
TEST(Permissions, EveryRequestTheClientSendsIsInTheTable) {
    test::FakeGitHub fake;
    fake.add_pull({.number = 7});
    fake.link_commit(std::string(40, 'a'), 7);
    const auto run = fake.add_workflow_run({.head_branch = "main"});
    const auto artifact = fake.add_artifact(run, "ece-state", {{"manifest.json", "{}"}});
    (void)artifact;
    Client client(fake.client_config());
    const auto comment = client.create_issue_comment(7, "hello");
    client.list_issue_comments(7);
    client.update_issue_comment(comment.id, "hello again");
    client.delete_issue_comment(comment.id);
    client.get_pull_request(7);
    client.pulls_for_commit(std::string(40, 'a'));
    client.list_open_pull_requests();
    const auto deployment = client.create_deployment({.ref = "main", .environment = "ece/pr-7"});
    client.create_deployment_status(deployment.id, {.state = "success"});
    client.list_deployments("ece/pr-7");
    client.list_deployment_statuses(deployment.id);
    const auto found = client.newest_artifact("main", "ece-state");
    ASSERT_TRUE(found);
    test::TempDir dir;
    client.download_artifact(*found, dir / "a.zip");
    std::set<std::string> kinds;
    for (const auto& [method, target] : fake.requests()) {
        SCOPED_TRACE(method + " " + target);
        EXPECT_NO_THROW(kinds.insert(describe(permission_for(method, target))));
    }
    EXPECT_EQ(kinds.size(), 6u);  // comments read/write, pulls, commit pulls, deployments read/write, actions
}

}  // namespace
}  // namespace ece::github
