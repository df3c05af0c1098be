#include "actions/commands.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "core/secrets.hpp"
#include "support.hpp"

namespace ece::actions {
namespace {

class CommandsTest : public testing::Test {
protected:
    void SetUp() override { clear_secrets_for_test(); }
    void TearDown() override { clear_secrets_for_test(); }
    std::ostringstream out;
    Commands commands{out};
};

TEST(Escaping, DataAndProperties) {
    EXPECT_EQ(escape_data("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext: a,b");
    EXPECT_EQ(escape_property("100% done\r\nnext: a,b"), "100%25 done%0D%0Anext%3A a%2Cb");
    EXPECT_EQ(escape_data("%0A"), "%250A");  // an already escaped-looking value stays literal
}

TEST_F(CommandsTest, AnnotationWithEveryProperty) {
    commands.error("relation \"stg_patients\" does not exist\nLINE 3",
                   {.file = "models/marts/dim, patients.sql", .line = 3, .end_line = 4, .column = 7, .end_column = 9,
                    .title = "dbt: model failed"});
    EXPECT_EQ(out.str(),
              "::error file=models/marts/dim%2C patients.sql,line=3,endLine=4,col=7,endColumn=9,title=dbt%3A model failed::"
              "relation \"stg_patients\" does not exist%0ALINE 3\n");
}

TEST_F(CommandsTest, WarningNoticeDebugAndBareAnnotations) {
    commands.warning("stale environment");
    commands.notice("published", {.title = "ece"});
    commands.debug("50% there");
    EXPECT_EQ(out.str(), "::warning::stale environment\n::notice title=ece::published\n::debug::50%25 there\n");
}

TEST_F(CommandsTest, GroupsCloseEvenOnExceptions) {
    try {
        Group group(commands, "dbt build");
        commands.info("running");
        throw std::runtime_error("failed");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(out.str(), "::group::dbt build\nrunning\n::endgroup::\n");
}

TEST_F(CommandsTest, MaskComesFirstAndEverythingAfterIsMasked) {
    const std::string password = "pw-Zq81xx%secret";
    commands.add_mask(password);
    commands.info("connect with " + password);
    commands.error("auth failed for " + password, {.file = "profiles.yml", .title = password});
    auto text = out.str();
    EXPECT_EQ(text.find("::add-mask::pw-Zq81xx%25secret\n"), 0u);
    auto after_mask = text.substr(text.find('\n') + 1);
    EXPECT_THAT(test::find_secrets(after_mask, {password}), testing::IsEmpty());
    EXPECT_THAT(after_mask, testing::HasSubstr("connect with ***"));
    EXPECT_THAT(after_mask, testing::HasSubstr("title=***::auth failed for ***"));
}

TEST_F(CommandsTest, MultiLineSecretsAreMaskedLineByLine) {
    const std::string key = "-----BEGIN PRIVATE KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n\n-----END PRIVATE KEY-----\n";
    commands.add_mask(key);
    EXPECT_EQ(out.str(),
              "::add-mask::-----BEGIN PRIVATE KEY-----\n"
              "::add-mask::MIIEvQIBADANBgkqhkiG9w0B\n"
              "::add-mask::AQEFAASCBKcwggSjAgEAAoIB\n"
              "::add-mask::-----END PRIVATE KEY-----\n");
    out.str("");
    commands.info("line two is AQEFAASCBKcwggSjAgEAAoIB");
    EXPECT_EQ(out.str(), "line two is ***\n");
}

TEST_F(CommandsTest, InfoKeepsOneNewline) {
    commands.info("a\n");
    commands.info("b");
    EXPECT_EQ(out.str(), "a\nb\n");
}

}  // namespace
}  // namespace ece::actions
