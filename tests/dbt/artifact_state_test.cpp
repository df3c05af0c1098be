// Production state from a GitHub Actions artifact, over real HTTPS against the local fake GitHub.
#include "dbt/artifact_state.hpp"

#include <gtest/gtest.h>

#include "dbt/manifest.hpp"
#include "fake_github.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

github::ClientConfig config_for(test::FakeGitHub& github) {
    github::ClientConfig config = github.client_config();
    config.http.sleep = [](auto) {};
    return config;
}

TEST(ArtifactState, NewestSuccessfulArtifactOnMainBecomesProductionState) {
    test::FakeGitHub github;
    const std::string manifest = test::read_file(test::fixture("dbt/scenarios/base/manifest.json"));
    auto failed = github.add_workflow_run({.name = "prod", .head_branch = "main", .head_sha = "bad",
                                           .status = "completed", .conclusion = "failure"});
    github.add_artifact(failed, "dbt-manifest", {{"manifest.json", "{\"broken\": true}"}});
    auto good = github.add_workflow_run({.name = "prod", .head_branch = "main", .head_sha = "abc123",
                                         .status = "completed", .conclusion = "success"});
    github.add_artifact(good, "dbt-manifest", {{"manifest.json", manifest}});

    test::TempDir work;
    ProductionStateOptions options;
    options.artifact = github_artifact_fetcher(config_for(github), "main", "dbt-manifest", work.path());
    options.work_dir = work.path();
    auto state = find_production_state(options);

    ASSERT_TRUE(state.dir) << state.missing_reason;
    EXPECT_NE(state.source.find("artifact dbt-manifest"), std::string::npos) << state.source;
    EXPECT_EQ(load_manifest(*state.dir / "manifest.json").nodes.size(), parse_manifest(manifest).nodes.size());
}

TEST(ArtifactState, NoArtifactMeansAFullBuildWithTheReason) {
    test::FakeGitHub github;
    test::TempDir work;
    ProductionStateOptions options;
    options.artifact = github_artifact_fetcher(config_for(github), "main", "dbt-manifest", work.path());
    options.work_dir = work.path();
    auto state = find_production_state(options);
    EXPECT_FALSE(state.dir);
    EXPECT_FALSE(state.missing_reason.empty());
}

}  // namespace
}  // namespace ece::dbt
