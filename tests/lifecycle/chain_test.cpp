// The chains' promises, in process against a real PostgreSQL: a failing sub-step lands in the comment with the
// steps before it, stops only what depends on it, fails the run with its own exit code and an ::error:: line, and
// every sub-step logs in its own ::group::.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "env/environments.hpp"
#include "lifecycle/lifecycle.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "publish/merge.hpp"
#include "support.hpp"

#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace ece;

namespace {

std::string random_prefix() {
    std::random_device rd;
    std::string out = "lc";
    for (int i = 0; i < 8; ++i) out += "0123456789abcdef"[rd() % 16];
    return out + "_";
}

class FailingSink : public lifecycle::CommentSink {
public:
    std::string post(const lifecycle::Target&, const std::string&, const comment::Rendered&) override {
        throw Error(ErrorKind::network, "GitHub answered 502");
    }
};

class RecordingDeployments : public lifecycle::Deployments {
public:
    std::int64_t create(const std::string&, const std::string& environment, const std::string&) override {
        environments.push_back(environment);
        return static_cast<std::int64_t>(environments.size());
    }
    void status(std::int64_t, const std::string& state, const std::string&) override { states.push_back(state); }
    std::vector<std::string> environments, states;
};

class Chains : public ::testing::Test {
protected:
    void SetUp() override {
        admin_url_ = test::fresh_database("lifecycle");
        register_secret(admin_url_);
        const auto prefix = random_prefix();
        config_ = config::parse("project: t\nproduction: {role: " + prefix + "prod}\nenvironments: {prefix: " + prefix +
                                    "}\n",
                                dir_ / "ece.yml");
        config_.root = dir_.path();
        options_.admin_url = admin_url_;
        options_.project_dir = dir_.path();
        options_.work_dir = dir_ / "work";
    }

    env::Environments environments() {
        env::Settings settings;
        settings.admin_url = admin_url_;
        settings.config = config_;
        settings.embedded = true;  // creates the production role the configuration names
        return env::Environments(std::move(settings));
    }

    test::TempDir dir_;
    std::string admin_url_;
    config::Config config_;
    lifecycle::Options options_;
};

TEST_F(Chains, AFailingBuildStillCommentsFailsWithItsExitCodeAndKeepsTheEnvironment) {
    auto envs = environments();
    options_.dbt = "/bin/false";  // dbt parse fails
    lifecycle::FileCommentSink file(dir_ / "comment.md");
    RecordingDeployments deployments;
    lifecycle::Services services;
    services.comments = &file;
    services.deployments = &deployments;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, true);

    const auto outcome = lifecycle::preview(envs, {"feature/x", 7, std::string(40, 'c')}, options_, services, log);

    EXPECT_EQ(outcome.exit_code, exit_code::external);
    ASSERT_NE(outcome.find("env up"), nullptr);
    EXPECT_TRUE(outcome.find("env up")->ok);
    EXPECT_TRUE(outcome.find("stage")->skipped);  // ece.yml declares no tables
    EXPECT_FALSE(outcome.find("dbt build")->ok);
    EXPECT_THAT(outcome.find("dbt build")->detail, testing::HasSubstr("dbt parse failed"));
    ASSERT_NE(outcome.find("comment"), nullptr);
    EXPECT_TRUE(outcome.find("comment")->ok);

    const auto comment = test::read_file(dir_ / "comment.md");
    EXPECT_THAT(comment, testing::HasSubstr("❌ ece: `pr-7` failed"));
    EXPECT_THAT(comment, testing::HasSubstr("dbt build failed"));
    EXPECT_THAT(comment, testing::HasSubstr("| **env up** | done |"));

    const auto log_lines = log_text.str();
    EXPECT_THAT(log_lines, testing::HasSubstr("::group::env up"));
    EXPECT_THAT(log_lines, testing::HasSubstr("::group::dbt build"));
    EXPECT_THAT(log_lines, testing::HasSubstr("::error::dbt build failed"));
    EXPECT_THAT(test::find_secrets(log_lines + comment, {admin_url_}), testing::IsEmpty());

    EXPECT_EQ(envs.find(envs.identify("feature/x", 7))->status, env::Status::ready);
    EXPECT_THAT(deployments.environments, testing::ElementsAre("ece/pr-7"));
    EXPECT_THAT(deployments.states, testing::ElementsAre("in_progress", "failure"));
}

TEST_F(Chains, ACommentThatCannotBePostedFailsTheRunAfterTheStepsBeforeIt) {
    auto envs = environments();
    envs.up({"feature/y", 8, "", std::nullopt});
    FailingSink failing;
    lifecycle::FileCommentSink file(dir_ / "destroyed.md");
    lifecycle::Services services;
    services.comments = &failing;
    services.extra_comment_sinks = {&file};
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);

    const auto outcome = lifecycle::destroy(envs, {"feature/y", 8, ""}, options_, services, log);

    EXPECT_TRUE(outcome.find("env down")->ok);
    EXPECT_FALSE(outcome.find("comment")->ok);
    EXPECT_EQ(outcome.exit_code, exit_code::network);
    EXPECT_EQ(envs.find(envs.identify("feature/y", 8))->status, env::Status::destroyed);
    EXPECT_THAT(log_text.str(), testing::HasSubstr("error: comment failed"));
}

TEST_F(Chains, PublishWithoutAPullRequestOrGitHubSaysHowToNameIt) {
    auto envs = environments();
    lifecycle::Services services;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    const auto outcome = lifecycle::publish(envs, {"", std::nullopt, std::string(40, 'd')}, options_, services, log);
    EXPECT_EQ(outcome.exit_code, exit_code::usage);
    ASSERT_EQ(outcome.steps.size(), 1u);
    EXPECT_THAT(outcome.steps[0].detail, testing::HasSubstr("pull-request input"));
    EXPECT_TRUE(outcome.comment_markdown.empty());
}

// The action's select input (Options::also_select): a pull request that changes nothing still builds the nodes
// it names into its environment, next to what ece selects from the changes.
TEST_F(Chains, ThePreviewBuildsTheNodesTheSelectInputNames) {
    const fs::path project = dir_ / "project";
    fs::copy(fs::path(ECE_SOURCE_DIR) / "examples/ece_demo", project, fs::copy_options::recursive);
    fs::remove_all(project / "target");
    const fs::path standin = fs::path(ECE_SOURCE_DIR) / "tests/dbt_standin/dbt";
    auto envs = environments();
    {
        // Production's state is the same project: nothing differs.
        auto conn = pg::connect(admin_url_, "test");
        const auto manifest =
            publish::parse_main(envs, project, standin, dir_ / "production_target", std::chrono::minutes(2));
        dbt::store_production_manifest(conn, manifest, "prodsha", "test production");
    }
    options_.project_dir = project;
    options_.dbt = standin.string();
    options_.also_select = {"sex_codes"};
    lifecycle::FileCommentSink file(dir_ / "comment.md");
    lifecycle::Services services;
    services.comments = &file;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);

    const auto outcome = lifecycle::preview(envs, {"feature/s", 9, std::string(40, 'e')}, options_, services, log);

    ASSERT_NE(outcome.find("dbt build"), nullptr);
    EXPECT_TRUE(outcome.find("dbt build")->ok) << outcome.find("dbt build")->detail << log_text.str();
    EXPECT_EQ(outcome.selected_count, std::optional<std::size_t>(1));
    EXPECT_THAT(log_text.str(), testing::HasSubstr("also selected by --select sex_codes"));
    const auto schema = envs.find(envs.identify("feature/s", 9))->base_schema;
    auto conn = pg::connect(admin_url_, "test");
    {
        pqxx::nontransaction tx(conn);
        EXPECT_GT(tx.exec1("SELECT count(*) FROM " + pg::quote_ident(schema) + ".sex_codes")[0].as<int>(), 0);
    }
    const auto built = dbt::built_nodes(conn, envs.identify("feature/s", 9).name);
    ASSERT_EQ(built.size(), 1u);
    EXPECT_EQ(built[0].unique_id, "seed.ece_demo.sex_codes");
}

TEST_F(Chains, DispatchRefusesAnUnknownCommand) {
    auto envs = environments();
    lifecycle::Services services;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    EXPECT_THROW(lifecycle::dispatch("deploy", envs, {}, options_, services, log), Error);
}

}  // namespace
