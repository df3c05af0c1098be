#include "env/hints.hpp"

#include "env/environments.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>

namespace ece::env {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

Credentials facts(std::string password = "") {
    return Credentials{"127.0.0.1", "5433", "app", "ece_feature_x_0123456789", std::move(password),
                       "ece_feature_x_0123456789", {}};
}

TEST(Hints, NoPasswordUnlessGiven) {
    config::Config config;
    auto id = identify("ece_", "feature/x'; rm -rf ~", std::nullopt);
    const std::string password = "hint-password-0123456789abcdefghijklmnopq";
    auto text = hints(id, facts(), config);
    EXPECT_THAT(test::find_secrets(text, {password}), IsEmpty());
    EXPECT_THAT(text, HasSubstr("psql -h 127.0.0.1 -p 5433 -U ece_feature_x_0123456789 -d app"));
    EXPECT_THAT(text, HasSubstr("pg_activity -h 127.0.0.1 -p 5433"));
    EXPECT_THAT(text, HasSubstr("dbt build --profiles-dir .ece/profiles --target ece"));
    // The hostile branch is quoted for the shell.
    EXPECT_THAT(text, HasSubstr("--branch 'feature/x'\\''; rm -rf ~'"));
    EXPECT_THAT(text, HasSubstr("--show-password"));

    auto shown = hints(id, facts(password), config);
    EXPECT_THAT(shown, HasSubstr("export ECE_ENV_PASSWORD=" + password));
}

TEST(Hints, PasswordNeverShownInGitHubActions) {
    ::unsetenv("GITHUB_ACTIONS");
    EXPECT_TRUE(password_may_be_shown(true));
    EXPECT_FALSE(password_may_be_shown(false));
    ::setenv("GITHUB_ACTIONS", "true", 1);
    EXPECT_FALSE(password_may_be_shown(true));
    ::unsetenv("GITHUB_ACTIONS");
}

TEST(Hints, ShellQuote) {
    EXPECT_EQ(shell_quote("main"), "main");
    EXPECT_EQ(shell_quote("a b"), "'a b'");
    EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
    EXPECT_EQ(shell_quote("$(x)"), "'$(x)'");
    EXPECT_EQ(shell_quote(""), "''");
}

TEST(Profiles, TwoTargetsAndNoPassword) {
    test::TempDir dir;
    config::Config config;
    config.root = dir.path();
    config.production.schemas = {"analytics", "marts"};
    std::ofstream(dir / "dbt_project.yml") << "name: demo\nprofile: demo_profile\n";
    auto env = facts("profile-password-should-not-appear-0123456789");
    auto prod = facts();
    prod.user = "ece_production";
    prod.schema = "analytics";
    auto path = write_profiles(dir / "out", profiles_yaml(env, prod, config));
    auto text = test::read_file(path);
    EXPECT_THAT(test::find_secrets(text, {env.password}), IsEmpty());

    auto root = YAML::Load(text);
    auto profile = root["demo_profile"];
    ASSERT_TRUE(profile.IsMap()) << text;
    EXPECT_EQ(profile["target"].as<std::string>(), "ece");
    auto ece = profile["outputs"]["ece"];
    auto production = profile["outputs"]["prod"];
    ASSERT_TRUE(ece.IsMap());
    ASSERT_TRUE(production.IsMap());
    EXPECT_EQ(ece["type"].as<std::string>(), "postgres");
    EXPECT_EQ(ece["user"].as<std::string>(), env.user);
    EXPECT_EQ(ece["schema"].as<std::string>(), env.schema);
    EXPECT_EQ(ece["port"].as<int>(), 5433);
    EXPECT_EQ(ece["password"].as<std::string>(), "{{ env_var('ECE_ENV_PASSWORD') }}");
    EXPECT_EQ(production["user"].as<std::string>(), "ece_production");
    EXPECT_EQ(production["schema"].as<std::string>(), "analytics");
    EXPECT_EQ(production["password"].as<std::string>(), "{{ env_var('ECE_PROD_PASSWORD') }}");
}

TEST(Profiles, ProfileNameFallsBackToConfigThenProject) {
    test::TempDir dir;
    config::Config config;
    config.root = dir.path();
    config.project = "fallback";
    EXPECT_EQ(dbt_profile_name(config), "fallback");
    config.dbt.profile = "given";
    EXPECT_EQ(dbt_profile_name(config), "given");
}

}  // namespace
}  // namespace ece::env
