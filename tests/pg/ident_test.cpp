#include "pg/ident.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

using ece::pg::ident;
using ece::pg::quote_ident;
using ece::pg::slug;

namespace {

bool is_safe(const std::string& s) {
    if (s.empty() || s.size() > 63 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

const std::vector<std::string> hostile_names = {
    "main",
    "Main",
    "MAIN",
    "feature/login-page",
    "it's",
    "a\"b",
    "x;y",
    "\"; DROP SCHEMA public; --",
    "Robert'); DROP TABLE students;--",
    "ünïcødé-brånch",
    "日本語",
    "emoji-🚀",
    std::string(300, 'a'),
    std::string(300, 'a') + "b",
    "123-starts-with-digit",
    "pg_catalog",
    "with space",
    "tab\there",
    "new\nline",
    "back\\slash",
    "!!!",
    "main_0123456789",
    "trailing_",
    "_leading",
    "dots.in.name",
    "nul\0byte" /* cut at NUL by the literal */,
    std::string("nul\0inside", 10),
};

}  // namespace

TEST(Slug, CleanNamesStayAsTheyAre) {
    EXPECT_EQ(slug("main"), "main");
    EXPECT_EQ(slug("feature_x_2"), "feature_x_2");
    EXPECT_EQ(slug("a"), "a");
}

TEST(Slug, ChangedNamesGetAHashSuffix) {
    EXPECT_THAT(slug("Main"), testing::MatchesRegex("main_[0-9a-f]{10}"));
    EXPECT_THAT(slug("feature/login-page"), testing::MatchesRegex("feature_login_page_[0-9a-f]{10}"));
    EXPECT_THAT(slug("\"; DROP SCHEMA public; --"), testing::MatchesRegex("drop_schema_public_[0-9a-f]{10}"));
    EXPECT_THAT(slug("123abc"), testing::MatchesRegex("x123abc_[0-9a-f]{10}"));
    EXPECT_THAT(slug("pg_catalog"), testing::MatchesRegex("xpg_catalog_[0-9a-f]{10}"));
    EXPECT_THAT(slug("!!!"), testing::MatchesRegex("_[0-9a-f]{10}"));
}

TEST(Slug, NameThatLooksHashedIsHashedAgain) {
    auto s = slug("main_0123456789");
    EXPECT_NE(s, "main_0123456789");
    EXPECT_THAT(s, testing::MatchesRegex("main_0123456789_[0-9a-f]{10}"));
}

TEST(Slug, EveryHostileNameBecomesSafeAndDistinct) {
    std::set<std::string> seen;
    for (const auto& name : hostile_names) {
        auto s = slug(name);
        EXPECT_TRUE(is_safe(s)) << "unsafe slug '" << s << "' for '" << name << "'";
        EXPECT_TRUE(seen.insert(s).second) << "collision on '" << s << "'";
    }
}

TEST(Slug, DiffersOnlyInCaseGivesDifferentSlugs) {
    EXPECT_NE(slug("main"), slug("Main"));
    EXPECT_NE(slug("Main"), slug("MAIN"));
    EXPECT_NE(slug("mAin"), slug("maIn"));
}

TEST(Slug, LongNamesAreTruncatedWithinTheLimit) {
    auto a = slug(std::string(300, 'a'));
    auto b = slug(std::string(300, 'a') + "b");
    EXPECT_EQ(a.size(), 63u);
    EXPECT_NE(a, b);
    EXPECT_LE(slug(std::string(300, 'a'), 30).size(), 30u);
    EXPECT_EQ(slug(std::string(63, 'a')), std::string(63, 'a'));
    EXPECT_EQ(slug(std::string(64, 'a')).size(), 63u);
}

TEST(Slug, IsStable) { EXPECT_EQ(slug("Feature/X"), slug("Feature/X")); }

TEST(Slug, EmptyNameIsAUsageError) {
    try {
        slug("");
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::usage);
    }
}

TEST(QuoteIdent, DoublesQuotes) {
    EXPECT_EQ(quote_ident("abc"), "\"abc\"");
    EXPECT_EQ(quote_ident("a\"b"), "\"a\"\"b\"");
    EXPECT_EQ(ident("Main"), "\"" + slug("Main") + "\"");
    EXPECT_THROW(quote_ident(""), ece::Error);
    EXPECT_THROW(quote_ident(std::string(64, 'a')), ece::Error);
}

TEST(IdentInPostgres, EveryHostileNameCreatesItsOwnSchema) {
    auto url = ece::test::fresh_database("ident");
    auto conn = ece::pg::connect(url, "ident test");
    pqxx::work tx(conn);
    for (const auto& name : hostile_names) tx.exec("CREATE SCHEMA " + ident(name));
    for (const auto& name : hostile_names) {
        auto found = tx.exec_params("SELECT count(*) FROM pg_namespace WHERE nspname = $1", slug(name));
        EXPECT_EQ(found[0][0].as<int>(), 1) << "schema for '" << name << "'";
    }
    // public survived the name that tried to drop it.
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_namespace WHERE nspname = 'public'")[0].as<int>(), 1);
    auto count = tx.exec1("SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
                          "AND nspname NOT IN ('public', 'information_schema')")[0].as<std::size_t>();
    EXPECT_EQ(count, hostile_names.size());
}
