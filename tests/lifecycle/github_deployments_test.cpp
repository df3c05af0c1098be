// lib/lifecycle's GitHub deployments against the fake GitHub: ece's environments are transient, which GitHub's own
// auto_inactive leaves alone, so ece retires an environment's earlier deployments itself.
#include "fake_github.hpp"
#include "lifecycle/github.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ece {
namespace {

using test::FakeGitHub;

std::vector<std::string> states_of(const FakeGitHub& fake, std::int64_t id) {
    for (const auto& d : fake.deployments()) {
        if (d.id != id) continue;
        std::vector<std::string> states;
        for (const auto& s : d.statuses) states.push_back(s.state);
        return states;
    }
    return {"(no deployment " + std::to_string(id) + ")"};
}

TEST(GitHubDeployments, EarlierLiveDeploymentsOfTheEnvironmentAreRetiredOthersAreLeftAlone) {
    FakeGitHub fake;
    lifecycle::GitHubDeployments deployments(std::make_shared<github::Client>(fake.client_config()), "https://x/run/1");
    const auto failed = deployments.create("a", "ece/pr-1", "first");
    deployments.status(failed, "failure", "the build failed");
    const auto succeeded = deployments.create("b", "ece/pr-1", "second");
    deployments.status(succeeded, "in_progress", "");
    deployments.status(succeeded, "success", "");
    const auto killed = deployments.create("c", "ece/pr-1", "third, killed while running");
    deployments.status(killed, "in_progress", "");
    const auto other_environment = deployments.create("d", "ece/pr-2", "another pull request");
    deployments.status(other_environment, "success", "");

    const auto current = deployments.create("e", "ece/pr-1", "fourth");
    deployments.status(current, "in_progress", "");
    deployments.status(current, "success", "");
    // GitHub's auto_inactive does nothing for transient environments: all of them still look live.
    EXPECT_THAT(states_of(fake, succeeded), testing::ElementsAre("in_progress", "success"));
    EXPECT_THAT(states_of(fake, killed), testing::ElementsAre("in_progress"));

    deployments.retire_earlier(current);
    EXPECT_THAT(states_of(fake, failed), testing::ElementsAre("failure"));
    EXPECT_THAT(states_of(fake, succeeded), testing::ElementsAre("in_progress", "success", "inactive"));
    EXPECT_THAT(states_of(fake, killed), testing::ElementsAre("in_progress", "inactive"));
    EXPECT_THAT(states_of(fake, other_environment), testing::ElementsAre("success"));
    EXPECT_THAT(states_of(fake, current), testing::ElementsAre("in_progress", "success"));

    // A later run's deployment is never retired by an earlier one's.
    const auto later = deployments.create("f", "ece/pr-1", "fifth");
    deployments.status(later, "in_progress", "");
    deployments.retire_earlier(current);
    EXPECT_THAT(states_of(fake, later), testing::ElementsAre("in_progress"));
}

}  // namespace
}  // namespace ece
