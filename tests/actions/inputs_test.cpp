#include "actions/commands.hpp"
#include "actions/context.hpp"
#include "actions/inputs.hpp"
#include "actions/workspace.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <sstream>

#include "core/error.hpp"
#include "core/secrets.hpp"

namespace ece::actions {
namespace {

namespace fs = std::filesystem;

EnvLookup fake_env(std::map<std::string, std::string> variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
        auto found = variables.find(std::string(name));
        if (found == variables.end()) return std::nullopt;
        return found->second;
    };
}

TEST(Inputs, VariableNameFollowsGitHubsRule) {
    EXPECT_EQ(input_variable("github-token"), "INPUT_GITHUB-TOKEN");
    EXPECT_EQ(input_variable("dbt version"), "INPUT_DBT_VERSION");
    EXPECT_EQ(input_variable("Comment-Behavior"), "INPUT_COMMENT-BEHAVIOR");
}

TEST(Inputs, ValuesAreTrimmedAndEmptyMeansUnset) {
    Inputs inputs(fake_env({{"INPUT_PROJECT-DIR", "  dbt/project \n"}, {"INPUT_CONFIG", "   "}}));
    EXPECT_EQ(inputs.get("project-dir"), "dbt/project");
    EXPECT_EQ(inputs.get("config"), std::nullopt);
    EXPECT_EQ(inputs.get("missing"), std::nullopt);
    EXPECT_EQ(inputs.get_or("config", "ece.yml"), "ece.yml");
}

TEST(Inputs, ReadsTheRealProcessEnvironment) {
    ::setenv("INPUT_ECE-TEST-VALUE", "from the process", 1);
    EXPECT_EQ(Inputs().get("ece-test-value"), "from the process");
    ::unsetenv("INPUT_ECE-TEST-VALUE");
    EXPECT_EQ(Inputs().get("ece-test-value"), std::nullopt);
}

TEST(Inputs, RequiredNamesTheInput) {
    Inputs inputs(fake_env({}));
    try {
        inputs.required("github-token");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_EQ(e.where().field, "INPUT_GITHUB-TOKEN");
        EXPECT_THAT(e.what(), testing::HasSubstr("input 'github-token' is required"));
    }
}

TEST(Inputs, BooleansFollowYamlCoreSchema) {
    Inputs inputs(fake_env({{"INPUT_A", "true"}, {"INPUT_B", "True"}, {"INPUT_C", "TRUE"}, {"INPUT_D", "false"},
                            {"INPUT_E", "False"}, {"INPUT_F", "FALSE"}, {"INPUT_YES", "yes"}, {"INPUT_ONE", "1"},
                            {"INPUT_MIXED", "tRUE"}}));
    for (const char* name : {"a", "b", "c"}) EXPECT_EQ(inputs.get_bool(name), true) << name;
    for (const char* name : {"d", "e", "f"}) EXPECT_EQ(inputs.get_bool(name), false) << name;
    EXPECT_EQ(inputs.get_bool("unset"), std::nullopt);
    EXPECT_TRUE(inputs.get_bool_or("unset", true));
    for (const char* name : {"yes", "one", "mixed"}) {
        try {
            inputs.get_bool(name);
            ADD_FAILURE() << name << " accepted as a boolean";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            EXPECT_THAT(e.what(), testing::HasSubstr("YAML 1.2 core schema boolean"));
            EXPECT_THAT(e.what(), testing::HasSubstr(std::string("input '") + name + "'"));
        }
    }
}

TEST(Inputs, IntegersAndLines) {
    Inputs inputs(fake_env({{"INPUT_TTL", "72"}, {"INPUT_BAD", "72h"}, {"INPUT_SELECT", "  model_a\n\n state:modified+ \r\n"}}));
    EXPECT_EQ(inputs.get_int("ttl"), 72);
    EXPECT_THROW(inputs.get_int("bad"), Error);
    EXPECT_THAT(inputs.get_lines("select"), testing::ElementsAre("model_a", "state:modified+"));
    EXPECT_THAT(inputs.get_lines("unset"), testing::IsEmpty());
}

TEST(Inputs, SecretInputsAreRegistered) {
    clear_secrets_for_test();
    Inputs inputs(fake_env({{"INPUT_DATABASE-URL", "postgresql://admin:hunter2-long@db.example:5432/prod"}}));
    auto url = inputs.get_secret("database-url");
    ASSERT_TRUE(url);
    EXPECT_EQ(mask_secrets("connecting with hunter2-long"), "connecting with ***");
    clear_secrets_for_test();
}

TEST(Inputs, SecretInputsCanBeMaskedForTheRunner) {
    clear_secrets_for_test();
    Inputs inputs(fake_env({{"INPUT_GITHUB-TOKEN", "ghs_16C7e42F292c6912E7710c838347Ae178B4a"}}));
    std::ostringstream log;
    Commands commands(log);
    auto token = inputs.get_secret("github-token", commands);
    ASSERT_TRUE(token);
    EXPECT_EQ(log.str(), "::add-mask::ghs_16C7e42F292c6912E7710c838347Ae178B4a\n");
    EXPECT_EQ(mask_secrets("Bearer " + *token), "Bearer ***");
    EXPECT_EQ(inputs.get_secret("unset", commands), std::nullopt);
    clear_secrets_for_test();
}

TEST(Inputs, DatabaseUrlIsRequiredWhereProductionIsTouched) {
    clear_secrets_for_test();
    std::ostringstream log;
    Commands commands(log);
    const Inputs empty(fake_env({{"INPUT_DATABASE-URL", "  "}}));
    for (const char* chain : {"publish", "gc", "destroy"}) {
        SCOPED_TRACE(chain);
        try {
            empty.database_url_for(chain, false, commands);
            ADD_FAILURE() << "an empty database-url was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::usage);
            EXPECT_THAT(e.what(), testing::HasSubstr("ECE_DATABASE_URL"));
            EXPECT_THAT(e.what(), testing::HasSubstr(chain));
        }
        // The digitalocean provider keeps its state in tags: no catalog needed.
        EXPECT_EQ(empty.database_url_for(chain, true, commands), std::nullopt);
    }
    for (const char* chain : {"preview", "hints", "demo"}) EXPECT_EQ(empty.database_url_for(chain, false, commands), std::nullopt);
    const Inputs given(fake_env({{"INPUT_DATABASE-URL", "postgresql://admin:s3cret-value@db:5432/prod"}}));
    EXPECT_EQ(given.database_url_for("publish", false, commands), "postgresql://admin:s3cret-value@db:5432/prod");
    EXPECT_THAT(log.str(), testing::HasSubstr("::add-mask::postgresql://admin:s3cret-value@db:5432/prod"));
    clear_secrets_for_test();
}

// Files root left in a workspace someone else owns go back to that owner (and group); nothing else changes.
TEST(Workspace, WhatRootLeftGoesBackToTheWorkspacesOwner) {
    const fs::path workspace = fs::temp_directory_path() / ("ece-ws-test-" + std::to_string(::getpid()));
    fs::remove_all(workspace);
    fs::create_directories(workspace / "logs");
    std::ofstream(workspace / "logs" / "dbt.log") << "x";
    fs::create_symlink("/etc/hostname", workspace / "link");
    if (::geteuid() != 0) {
        EXPECT_EQ(hand_back_to_workspace_owner(workspace), 0u) << "only root hands anything back";
        fs::remove_all(workspace);
        return;
    }
    ASSERT_EQ(::chown(workspace.c_str(), 4242, 4343), 0);
    EXPECT_EQ(hand_back_to_workspace_owner(workspace), 3u);  // logs/, logs/dbt.log, the link itself
    struct stat st {};
    ASSERT_EQ(::stat((workspace / "logs" / "dbt.log").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 4242u);
    EXPECT_EQ(st.st_gid, 4343u);
    ASSERT_EQ(::lstat((workspace / "link").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 4242u);
    ASSERT_EQ(::stat("/etc/hostname", &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "the link's target is not followed";
    EXPECT_EQ(hand_back_to_workspace_owner(workspace), 0u) << "nothing left to hand back";
    fs::remove_all(workspace);
}

TEST(Context, ReadsTheRunAndBuildsItsUrl) {
    auto context = read_context(fake_env({{"GITHUB_ACTIONS", "true"},
                                          {"GITHUB_REPOSITORY", "octo/shop"},
                                          {"GITHUB_SHA", "ffac537e6cbbf934b08745a378932722df287a53"},
                                          {"GITHUB_REF", "refs/pull/7/merge"},
                                          {"GITHUB_HEAD_REF", "feature/x"},
                                          {"GITHUB_RUN_ID", "1658821493"},
                                          {"GITHUB_SERVER_URL", "https://ghes.example/"},
                                          {"GITHUB_API_URL", "https://ghes.example/api/v3"},
                                          {"GITHUB_EVENT_NAME", "pull_request"},
                                          {"GITHUB_EVENT_PATH", "/github/workflow/event.json"},
                                          {"GITHUB_WORKSPACE", "/github/workspace"}}));
    EXPECT_TRUE(context.in_actions);
    EXPECT_EQ(context.head_ref, "feature/x");
    EXPECT_EQ(context.api_url, "https://ghes.example/api/v3");
    EXPECT_EQ(context.event_path, "/github/workflow/event.json");
    EXPECT_EQ(context.run_url(), "https://ghes.example/octo/shop/actions/runs/1658821493");
}

TEST(Context, DefaultsOutsideActions) {
    auto context = read_context(fake_env({{"GITHUB_ACTIONS", "false"}}));
    EXPECT_FALSE(context.in_actions);
    EXPECT_EQ(context.server_url, "https://github.com");
    EXPECT_EQ(context.api_url, "https://api.github.com");
    try {
        (void)context.run_url();
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), testing::HasSubstr("GITHUB_REPOSITORY"));
    }
}

}  // namespace
}  // namespace ece::actions
