// The chains' promises, in process against a real PostgreSQL: a failing sub-step lands in the comment with the
// steps before it, stops only what depends on it, fails the run with its own exit code and an ::error:: line, and
// every sub-step logs in its own ::group::.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "env/environments.hpp"
#include "fake_github.hpp"
#include "fork_artifact_support.hpp"
#include "lifecycle/fork_artifact.hpp"
#include "lifecycle/github.hpp"
#include "lifecycle/lifecycle.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "publish/merge.hpp"
#include "support.hpp"

#include <cstdlib>
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
    void retire_earlier(std::int64_t deployment) override { retired_before.push_back(deployment); }
    std::vector<std::string> environments, states;
    std::vector<std::int64_t> retired_before;
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
        services_.comments = &comment_;
        services_.deployments = &deployments_;
    }

    env::Environments environments() {
        env::Settings settings;
        settings.admin_url = admin_url_;
        settings.config = config_;
        settings.embedded = true;  // creates the production role the configuration names
        return env::Environments(std::move(settings));
    }

    // A dbt that records what it was given (the project it works on, arguments, environment, profiles.yml) and
    // fails. Its records folder is open to every user: as root, ece runs dbt as its own user (dbt/sandbox.hpp).
    fs::path recording_dbt() {
        const auto script = dir_ / "recording-dbt";
        fs::create_directories(records());
        fs::permissions(records(), fs::perms::all);
        test::write_text(script, "#!/bin/sh\ncat dbt_project.yml > '" + (records() / "dbt-project").string() +
                                     "'\necho \"$@\" >> '" + (records() / "dbt-args").string() + "'\nenv > '" +
                                     (records() / "dbt-env").string() + "'\ncp \"$DBT_PROFILES_DIR/profiles.yml\" '" +
                                     (records() / "dbt-profiles.yml").string() + "'\nexit 1\n");
        fs::permissions(script, fs::perms(0755));
        return script;
    }
    fs::path records() const { return dir_ / "dbt-records"; }

    test::TempDir dir_;
    std::string admin_url_;
    config::Config config_;
    lifecycle::Options options_;
    // The comment into dir_/comment.md, deployments recorded: services_ holds both.
    lifecycle::FileCommentSink comment_{dir_ / "comment.md"};
    RecordingDeployments deployments_;
    lifecycle::Services services_;
};

TEST_F(Chains, AFailingBuildStillCommentsFailsWithItsExitCodeAndKeepsTheEnvironment) {
    auto envs = environments();
    options_.dbt = "/bin/false";  // dbt parse fails
    std::ostringstream log_text;
    lifecycle::Log log(log_text, true);

    const auto outcome = lifecycle::preview(envs, {"feature/x", 7, std::string(40, 'c')}, options_, services_, log);

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
    EXPECT_THAT(deployments_.environments, testing::ElementsAre("ece/pr-7"));
    EXPECT_THAT(deployments_.states, testing::ElementsAre("in_progress", "failure"));
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
    ASSERT_EQ(outcome.steps.size(), 2u);
    EXPECT_THAT(outcome.steps[0].detail, testing::HasSubstr("pull-request input"));
    // Without GitHub no earlier merge can be looked up: said, not guessed.
    EXPECT_EQ(outcome.steps[1].name, "earlier merges");
    EXPECT_TRUE(outcome.steps[1].skipped);
    EXPECT_TRUE(outcome.comment_markdown.empty());
}

// The action's select input (Options::also_select): a pull request that changes nothing still builds the nodes
// it names into its environment, next to what ece selects from the changes.
TEST_F(Chains, ThePreviewBuildsTheNodesTheSelectInputNames) {
    const fs::path project = dir_ / "project";
    fs::copy(fs::path(ECE_SOURCE_DIR) / "examples/ece_demo", project, fs::copy_options::recursive);
    fs::remove_all(project / "target");
    const fs::path dbt = ece::test::real_dbt();
    auto envs = environments();
    {
        // Production's state is the same project: nothing differs.
        auto conn = pg::connect(admin_url_, "test");
        const auto manifest =
            publish::parse_main(envs, project, dbt, dir_ / "production_target", std::chrono::minutes(10));
        dbt::store_production_manifest(conn, manifest, "prodsha", "test production");
    }
    options_.project_dir = project;
    options_.dbt = dbt.string();
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

// ---- environment-name -------------------------------------------------------------------------------------------

TEST_F(Chains, AnExplicitEnvironmentNameIsUsedByUpBuildCommentAndDestroyAndItsSchemaIsSlugged) {
    auto envs = environments();
    options_.dbt = "/bin/false";
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    const std::string hostile = "team\"; DROP ROLE postgres; --/Ünïcode";
    lifecycle::Target target{"feature/x", 9, std::string(40, 'e'), hostile};

    const auto outcome = lifecycle::preview(envs, target, options_, services_, log);

    ASSERT_TRUE(outcome.find("env up")->ok) << outcome.find("env up")->detail;
    EXPECT_EQ(outcome.environment, hostile);
    const auto id = envs.identify(hostile, std::nullopt);
    EXPECT_EQ(outcome.schema, id.base_schema);
    EXPECT_EQ(id.base_schema.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos) << id.base_schema;
    EXPECT_EQ(envs.find(id)->status, env::Status::ready);
    EXPECT_FALSE(envs.find(envs.identify("feature/x", 9)));  // no pr-9 beside it
    EXPECT_THAT(outcome.find("dbt build")->detail, testing::HasSubstr("dbt parse failed"));  // the build ran for it
    EXPECT_THAT(test::read_file(dir_ / "comment.md"), testing::HasSubstr("ece:env=" + hostile.substr(0, 4)));
    EXPECT_THAT(deployments_.environments, testing::ElementsAre("ece/" + hostile));

    const auto destroyed = lifecycle::destroy(envs, target, options_, services_, log);
    EXPECT_TRUE(destroyed.find("env down")->ok);
    EXPECT_THAT(destroyed.find("env down")->detail, testing::HasSubstr("removed " + id.base_schema));
    EXPECT_EQ(envs.find(id)->status, env::Status::destroyed);
    EXPECT_THAT(deployments_.environments, testing::ElementsAre("ece/" + hostile, "ece/" + hostile));
}

TEST_F(Chains, AnEnvironmentNameThatPosesAsAPullRequestsIsRefused) {
    auto envs = environments();
    lifecycle::Services services;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    try {
        lifecycle::preview(envs, {"b", 9, "", "pr-3"}, options_, services, log);
        ADD_FAILURE() << "environment-name pr-3 was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), testing::HasSubstr("environment-name input \"pr-3\""));
    }
    EXPECT_TRUE(envs.list().empty());
}

// ---- dbt-target ----------------------------------------------------------------------------------------------------

const char* user_profiles = R"(p:
  target: dev
  outputs:
    dev: {type: postgres, host: localhost, user: me, password: pw, dbname: d, schema: s, threads: 1}
    ci:
      type: postgres
      host: evil.example
      port: 6543
      user: admin
      password: "{{ env_var('ADMIN_PASSWORD') }}"
      dbname: prod
      schema: analytics
      threads: 3
      keepalives_idle: 7
      application_name: "ece ci"
)";

TEST_F(Chains, ADbtTargetGivesItsSettingsButNeverItsConnection) {
    test::write_text(dir_ / "dbt_project.yml", "name: t\nprofile: p\n");
    test::write_text(dir_ / "profiles.yml", user_profiles);
    const auto settings = dbt::profile_target_for(dir_.path(), "ci");
    EXPECT_EQ(settings.threads, 3);
    EXPECT_THAT(settings.ignored_keys, testing::UnorderedElementsAre("type", "host", "port", "user", "password",
                                                                     "dbname", "schema"));

    auto envs = environments();
    options_.dbt = recording_dbt();
    options_.profile_target = settings;
    lifecycle::Services services;
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    lifecycle::preview(envs, {"feature/t", 4, ""}, options_, services, log);

    const auto profiles = test::read_file(records() / "dbt-profiles.yml");
    const auto id = envs.identify("feature/t", 4);
    EXPECT_THAT(profiles, testing::HasSubstr("threads: 3"));
    EXPECT_THAT(profiles, testing::HasSubstr("keepalives_idle: 7"));
    EXPECT_THAT(profiles, testing::HasSubstr("application_name: ece ci"));
    EXPECT_THAT(profiles, testing::HasSubstr("user: \"" + id.role + "\""));
    EXPECT_THAT(profiles, testing::HasSubstr("schema: \"" + id.base_schema + "\""));
    EXPECT_THAT(profiles, testing::Not(testing::HasSubstr("evil.example")));
    EXPECT_THAT(profiles, testing::Not(testing::HasSubstr("ADMIN_PASSWORD")));
    EXPECT_THAT(profiles, testing::Not(testing::HasSubstr("6543")));
}

TEST_F(Chains, AMissingDbtTargetNamesProfilesYmlAndTheTarget) {
    test::write_text(dir_ / "dbt_project.yml", "name: t\nprofile: p\n");
    test::write_text(dir_ / "profiles.yml", user_profiles);
    try {
        dbt::profile_target_for(dir_.path(), "staging");
        ADD_FAILURE() << "a missing target was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), testing::HasSubstr((dir_ / "profiles.yml").string()));
        EXPECT_THAT(e.what(), testing::HasSubstr("no target 'staging' in profile 'p'"));
    }
    test::write_text(dir_ / "profiles.yml", "p:\n  outputs:\n    ci: {threads: many}\n");
    try {
        dbt::profile_target_for(dir_.path(), "ci");
        ADD_FAILURE() << "threads: many was accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), testing::HasSubstr("profiles.yml:3"));
        EXPECT_THAT(e.what(), testing::HasSubstr("p.outputs.ci.threads"));
    }
    test::write_text(dir_ / "profiles.yml", "other:\n  outputs: {}\n");
    EXPECT_THROW(dbt::profile_target_for(dir_.path(), "ci"), Error);
}

// ---- publishes never lost -----------------------------------------------------------------------------------------

// The publish swap itself is lib/publish's (tested there); here it records which environment it was asked to publish.
class RecordingPublisher : public lifecycle::Publisher {
public:
    lifecycle::Published publish(env::Environments&, const lifecycle::Target& target, const lifecycle::Options&,
                                 lifecycle::Log&) override {
        published.emplace_back(*target.pr, target.sha);
        lifecycle::Published p;
        p.summary = "published pull request #" + std::to_string(*target.pr);
        return p;
    }
    std::vector<std::pair<int, std::string>> published;
};

class RecordingSink : public lifecycle::CommentSink {
public:
    std::string post(const lifecycle::Target& target, const std::string& environment, const comment::Rendered&) override {
        commented.push_back(environment + "@#" + std::to_string(target.pr.value_or(0)));
        return "https://github.example/comment/" + std::to_string(commented.size());
    }
    std::vector<std::string> commented;
};

// GitHub keeps one waiting run per concurrency group: the publishes of #3 and #5 were cancelled while #7's waited.
// #7's run publishes them first, in merge order (#5 merged before #3), each with its own comment and deployment;
// the open #6 and the closed-unmerged #8 are not touched.
TEST_F(Chains, APublishFirstPublishesEveryEarlierMergeStillWaitingInMergeOrder) {
    test::FakeGitHub github;
    const auto sha = [](char c) { return std::string(40, c); };
    github.add_pull({.number = 3, .state = "closed", .merged = true, .head_ref = "b3", .merge_commit_sha = sha('3'),
                     .merged_at = "2026-12-01T10:05:00Z"});
    github.add_pull({.number = 5, .state = "closed", .merged = true, .head_ref = "b5", .merge_commit_sha = sha('5'),
                     .merged_at = "2026-12-01T10:01:00Z"});
    github.add_pull({.number = 6, .state = "open", .head_ref = "b6"});
    github.add_pull({.number = 7, .state = "closed", .merged = true, .head_ref = "b7", .merge_commit_sha = sha('7'),
                     .merged_at = "2026-12-01T10:09:00Z"});
    github.add_pull({.number = 8, .state = "closed", .head_ref = "b8"});
    auto pulls = test::pull_requests_of(github);
    RecordingPublisher publisher;
    RecordingSink comments;
    services_.pulls = pulls.get();
    services_.publisher = &publisher;
    services_.comments = &comments;

    auto envs = environments();
    for (int n : {3, 5, 6, 7, 8}) envs.up({"b" + std::to_string(n), n, "", std::nullopt});
    std::ostringstream log_text;
    lifecycle::Log log(log_text, true);
    const auto outcome = lifecycle::publish(envs, {"b7", 7, sha('7')}, options_, services_, log);

    EXPECT_TRUE(outcome.ok()) << log_text.str();
    EXPECT_EQ(publisher.published, (std::vector<std::pair<int, std::string>>{{5, sha('5')}, {3, sha('3')}, {7, sha('7')}}));
    EXPECT_EQ(comments.commented, (std::vector<std::string>{"pr-5@#5", "pr-3@#3", "pr-7@#7"}));
    EXPECT_EQ(deployments_.environments, (std::vector<std::string>{"ece/pr-5", "ece/pr-3", "ece/pr-7"}));
    ASSERT_TRUE(outcome.find("earlier merges"));
    EXPECT_THAT(outcome.find("earlier merges")->detail, testing::HasSubstr("#5, #3"));
    EXPECT_TRUE(outcome.find("publish #5") && outcome.find("publish #3"));
    for (int n : {3, 5, 7}) EXPECT_EQ(envs.find(envs.identify("b" + std::to_string(n), n))->status, env::Status::destroyed) << n;
    for (int n : {6, 8}) EXPECT_EQ(envs.find(envs.identify("b" + std::to_string(n), n))->status, env::Status::ready) << n;

    // Nothing is waiting any more: the next publish publishes only its own.
    publisher.published.clear();
    const auto again = lifecycle::publish(envs, {"b7", 7, sha('7')}, options_, services_, log);
    EXPECT_EQ(publisher.published, (std::vector<std::pair<int, std::string>>{{7, sha('7')}}));
    EXPECT_EQ(again.find("earlier merges")->detail, "none waiting");

    // gc keeps a merged pull request's environment for the next publish, and removes the closed-unmerged one's.
    envs.up({"b9", 9, "", std::nullopt});
    github.add_pull({.number = 9, .state = "closed", .merged = true, .head_ref = "b9", .merge_commit_sha = sha('9'),
                     .merged_at = "2026-12-01T11:00:00Z"});
    const auto collected = lifecycle::gc(envs, options_, services_, log);
    EXPECT_TRUE(collected.ok()) << log_text.str();
    EXPECT_THAT(collected.find("open pull requests")->detail, testing::HasSubstr("kept for the next publish (merged): #9"));
    EXPECT_EQ(envs.find(envs.identify("b9", 9))->status, env::Status::ready);
    EXPECT_EQ(envs.find(envs.identify("b8", 8))->status, env::Status::destroyed);
    EXPECT_EQ(envs.find(envs.identify("b6", 6))->status, env::Status::ready);
}

// ---- fork-artifact -------------------------------------------------------------------------------------------------

class ForkChains : public Chains {
protected:
    void SetUp() override {
        Chains::SetUp();
        github_.add_pull({.number = 21, .head_ref = "their-fork-branch", .head_sha = head_});
        pulls_ = test::pull_requests_of(github_);
        services_.pulls = pulls_.get();
        artifact_ = dir_ / "artifact";
        test::write_text(artifact_ / "pull-request.json", test::pull_request_json(21, head_));
        // A real dbt manifest, as the fork-safe job's parse makes it: every node in the dummy profile's schema
        // (lifecycle::fork_build_schema, "parse") or a custom one after it.
        auto manifest = test::read_file(test::fixture("real/dbt/manifests/dbt-core-state-v12.manifest.json"));
        const std::string fixture_schema = "test17594237163467600387_test_previous_version_state";
        for (auto at = manifest.find(fixture_schema); at != std::string::npos; at = manifest.find(fixture_schema, at)) {
            manifest.replace(at, fixture_schema.size(), lifecycle::fork_build_schema);
        }
        test::write_text(artifact_ / "manifest.json", manifest);
    }

    const std::string head_ = std::string(40, 'f');
    test::FakeGitHub github_;
    std::unique_ptr<lifecycle::GitHubPullRequests> pulls_;
    fs::path artifact_;
};

TEST_F(ForkChains, AHostileArtifactIsRefusedAndNothingIsCreated) {
    test::write_tar_gz(artifact_ / "project.tar.gz", {{test::TarMember::file, "dbt_project.yml", "name: x\n"},
                                                      {test::TarMember::symlink, "models", "/"}});
    auto envs = environments();
    std::ostringstream log_text;
    lifecycle::Log log(log_text, true);
    const auto outcome =
        lifecycle::preview_fork_artifact(artifact_, envs, {"b", std::nullopt, head_}, options_, services_, log);
    EXPECT_EQ(outcome.exit_code, exit_code::input);
    ASSERT_EQ(outcome.steps.size(), 1u);
    EXPECT_EQ(outcome.steps[0].name, "fork artifact");
    EXPECT_THAT(outcome.steps[0].detail, testing::HasSubstr("leads outside the project"));
    EXPECT_THAT(log_text.str(), testing::HasSubstr("::error::fork artifact failed"));
    EXPECT_TRUE(envs.list().empty());
    EXPECT_FALSE(fs::exists(dir_ / "comment.md"));
    EXPECT_TRUE(deployments_.environments.empty());
}

TEST_F(ForkChains, AnArtifactForAnotherCommitIsRefusedAndNothingIsCreated) {
    test::write_tar_gz(artifact_ / "project.tar.gz", {{test::TarMember::file, "dbt_project.yml", "name: x\n"}});
    auto envs = environments();
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    const auto outcome = lifecycle::preview_fork_artifact(artifact_, envs, {"b", std::nullopt, std::string(40, '0')},
                                                          options_, services_, log);
    EXPECT_EQ(outcome.exit_code, exit_code::conflict);
    EXPECT_TRUE(envs.list().empty());
    EXPECT_FALSE(fs::exists(dir_ / "comment.md"));
}

TEST_F(ForkChains, AVerifiedArtifactIsBuiltFromItsOwnProjectWithNoTokenOrAdminUrlInDbtsEnvironment) {
    test::write_tar_gz(artifact_ / "project.tar.gz", {{test::TarMember::file, "dbt_project.yml", "name: x\n"}});
    ::setenv("GITHUB_TOKEN", github_.token().c_str(), 1);
    ::setenv("DATABASE_URL", admin_url_.c_str(), 1);
    auto envs = environments();
    options_.dbt = recording_dbt();
    std::ostringstream log_text;
    lifecycle::Log log(log_text, false);
    const auto outcome =
        lifecycle::preview_fork_artifact(artifact_, envs, {"", std::nullopt, head_}, options_, services_, log);
    ::unsetenv("GITHUB_TOKEN");
    ::unsetenv("DATABASE_URL");

    ASSERT_NE(outcome.find("fork artifact"), nullptr);
    EXPECT_TRUE(outcome.find("fork artifact")->ok) << outcome.find("fork artifact")->detail;
    EXPECT_EQ(outcome.environment, "pr-21");
    EXPECT_TRUE(outcome.find("env up")->ok);
    EXPECT_EQ(envs.find(envs.identify("their-fork-branch", 21))->status, env::Status::ready);
    // The plan came from the artifact's manifest (no dbt parse): dbt was called once, to build, in (a copy of) the
    // artifact's extracted project, as the environment's own role.
    std::string steps;
    for (const auto& step : outcome.steps) steps += step.name + ": " + step.detail + "\n";
    ASSERT_TRUE(fs::exists(records() / "dbt-args")) << "dbt never ran:\n" << steps << log_text.str();
    const auto args = test::read_file(records() / "dbt-args");
    EXPECT_EQ(args.rfind("build ", 0), 0u) << args;
    EXPECT_EQ(std::count(args.begin(), args.end(), '\n'), 1);
    EXPECT_EQ(test::read_file(records() / "dbt-project"), "name: x\n");
    EXPECT_THAT(test::read_file(records() / "dbt-profiles.yml"),
                testing::HasSubstr("user: \"" + envs.identify("", 21).role + "\""));
    const auto dbt_env = test::read_file(records() / "dbt-env");
    EXPECT_THAT(test::find_secrets(dbt_env, {admin_url_, github_.token()}), testing::IsEmpty());
    EXPECT_THAT(dbt_env, testing::Not(testing::HasSubstr("GITHUB_TOKEN")));
    EXPECT_THAT(dbt_env, testing::Not(testing::HasSubstr("DATABASE_URL")));
    // The comment went to the verified pull request.
    EXPECT_THAT(test::read_file(dir_ / "comment.md"), testing::HasSubstr("pr-21"));
    EXPECT_THAT(deployments_.environments, testing::ElementsAre("ece/pr-21"));
}

}  // namespace
