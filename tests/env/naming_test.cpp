#include "env/credentials.hpp"
#include "env/naming.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace ece::env {
namespace {

using ::testing::HasSubstr;

TEST(Naming, PullRequestEnvironmentIsPrN) {
    auto id = identify("ece_", "feature/x", 12);
    EXPECT_EQ(id.name, "pr-12");
    EXPECT_EQ(id.base_schema, "ece_pr_12");
    EXPECT_EQ(id.role, "ece_pr_12");
    EXPECT_EQ(id.branch, "feature/x");
}

TEST(Naming, CleanBranchKeepsItsName) {
    auto id = identify("ece_", "main", std::nullopt);
    EXPECT_EQ(id.name, "main");
    EXPECT_EQ(id.base_schema, "ece_main");
}

TEST(Naming, HostileBranchesAreSafeDistinctAndLeaveRoomForCustomSchemas) {
    const std::vector<std::string> branches = {
        "it's", "a;b", "a\"b", "\"; DROP SCHEMA public; --", "ünïcødé/ветка", std::string(300, 'x'),
        std::string(300, 'x') + "y", "Main", "main", "feature/MAIN", "pr_12", "x\ny"};
    std::set<std::string> bases;
    for (const auto& branch : branches) {
        auto id = identify("ece_", branch, std::nullopt);
        EXPECT_EQ(id.name, branch);
        EXPECT_LE(id.base_schema.size(), max_base_bytes) << branch;
        EXPECT_LE((id.base_schema + "_" + std::string(max_custom_schema_bytes, 'c')).size(), 63u);
        EXPECT_EQ(id.base_schema.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_"), std::string::npos)
            << id.base_schema;
        bases.insert(id.base_schema);
    }
    EXPECT_EQ(bases.size(), branches.size());
}

TEST(Naming, BranchPrUnderscoreNDoesNotTakePullRequestNsSchema) {
    EXPECT_NE(identify("ece_", "pr_12", std::nullopt).base_schema, identify("ece_", "x", 12).base_schema);
}

TEST(Naming, BranchNamedLikeAPullRequestEnvironmentIsRefused) {
    try {
        identify("ece_", "pr-12", std::nullopt);
        FAIL() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), HasSubstr("--pr"));
    }
    EXPECT_EQ(identify("ece_", "pr-12", 12).name, "pr-12");
}

TEST(Naming, LongestPrefixStillFits) {
    std::string prefix(max_prefix_bytes, 'p');
    auto id = identify(prefix, std::string(300, 'b'), std::nullopt);
    EXPECT_LE(id.base_schema.size(), max_base_bytes);
    EXPECT_EQ(id.base_schema.rfind(prefix, 0), 0u);
    EXPECT_LE(group_role(prefix).size(), 63u);
}

TEST(Naming, BadPrefixesAndInputsAreUsageErrors) {
    for (const std::string& prefix : std::vector<std::string>{"", "Ece_", "ece-", "pg_x", "1ece", std::string(max_prefix_bytes + 1, 'p')}) {
        EXPECT_THROW(identify(prefix, "main", std::nullopt), Error) << prefix;
    }
    EXPECT_THROW(identify("ece_", "", std::nullopt), Error);
    EXPECT_THROW(identify("ece_", "x", 0), Error);
    EXPECT_THROW(identify("ece_", std::string("a\0b", 3), std::nullopt), Error);
}

TEST(Naming, GroupRoleCannotBeAnEnvironment) {
    // Keys never start with "_", so "<prefix>_environments" is nobody's base.
    EXPECT_NE(identify("ece_", "_environments", std::nullopt).base_schema, group_role("ece_"));
    EXPECT_NE(identify("ece_", "environments", std::nullopt).base_schema, group_role("ece_"));
}

TEST(Credentials, PasswordsAre32RandomBytesUrlSafeAndRegistered) {
    auto a = random_password(), b = random_password();
    EXPECT_EQ(a.size(), 43u);  // 32 bytes base64url without padding
    EXPECT_NE(a, b);
    EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
    EXPECT_EQ(mask_secrets("pw=" + a), "pw=***");
}

TEST(Credentials, ScramVerifierHasPostgresFormat) {
    auto verifier = scram_sha256_verifier("secret-password");
    EXPECT_THAT(verifier, ::testing::MatchesRegex("SCRAM-SHA-256\\$4096:[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}"));
    EXPECT_NE(verifier, scram_sha256_verifier("secret-password"));  // fresh salt
}

TEST(Credentials, MaskedUrlHidesThePassword) {
    Credentials c{"127.0.0.1", "5432", "db", "ece_main", "s3cr3t-password-xyz", "ece_main", {}};
    EXPECT_THAT(c.masked_url(), ::testing::Not(HasSubstr("s3cr3t")));
    EXPECT_THAT(c.masked_url(), HasSubstr("ece_main:***@127.0.0.1:5432/db"));
    EXPECT_THAT(c.url(), HasSubstr("s3cr3t-password-xyz"));
}

}  // namespace
}  // namespace ece::env
