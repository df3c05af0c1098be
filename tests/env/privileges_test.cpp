// Every privilege claim about an environment's role, proven by trying over a real connection as that role.
#include "env_fixture.hpp"

#include <gmock/gmock.h>

#include <vector>

namespace ece::env {
namespace {

using ::testing::HasSubstr;
using testing_support::attempt;
using testing_support::value_as;

class Privileges : public testing_support::EnvTest {
protected:
    void SetUp() override {
        // Production as its dbt would leave it: a table before the environment exists.
        Environments setup(settings());
        first = setup.up({"feature/a", std::nullopt, "", std::nullopt});
        as_prod("CREATE TABLE analytics.before (id int); INSERT INTO analytics.before VALUES (1)");
        second = setup.up({"feature/b", std::nullopt, "", std::nullopt});
        // ... and after: a new table, and a new custom schema with a table.
        as_prod("CREATE TABLE analytics.later (id int); INSERT INTO analytics.later VALUES (2);"
                "CREATE SCHEMA analytics_marts; CREATE TABLE analytics_marts.m AS SELECT 3 AS id");
        a = first.credentials;
        b = second.credentials;
    }

    void as_prod(const std::string& sql) {
        admin_exec("SET ROLE " + pg::quote_ident(config.production.role) + "; " + sql);
    }

    UpResult first, second;
    Credentials a, b;
};

TEST_F(Privileges, ReadsProductionIncludingRelationsAndSchemasCreatedLater) {
    EXPECT_EQ(value_as(a, "SELECT id FROM analytics.before"), "1");
    EXPECT_EQ(value_as(a, "SELECT id FROM analytics.later"), "2");
    EXPECT_EQ(value_as(a, "SELECT id FROM analytics_marts.m"), "3");
}

TEST_F(Privileges, CannotWriteProduction) {
    for (const char* sql : {"INSERT INTO analytics.before VALUES (9)", "UPDATE analytics.later SET id = 0",
                            "DELETE FROM analytics_marts.m", "DROP TABLE analytics.before",
                            "CREATE TABLE analytics.mine (id int)", "TRUNCATE analytics.before",
                            "ALTER TABLE analytics.before ADD COLUMN x int"}) {
        auto error = attempt(a, sql);
        ASSERT_TRUE(error) << sql << " succeeded";
        EXPECT_THAT(*error, ::testing::AnyOf(HasSubstr("permission denied"), HasSubstr("must be owner"))) << sql;
    }
    EXPECT_EQ(admin_value("SELECT count(*) FROM analytics.before"), "1");
}

// ece creates the environment's schemas (its base schema at up, dbt's custom ones before a build); the role itself
// creates none (it could squat another environment's or production's), but owns them and writes in them.
TEST_F(Privileges, CreatesTablesInTheSchemasEceMakesForItButNoSchema) {
    const std::string custom = pg::quote_ident(a.schema + "_staging");
    auto refused = attempt(a, "CREATE SCHEMA " + custom);
    ASSERT_TRUE(refused);
    EXPECT_THAT(*refused, HasSubstr("permission denied"));
    admin_exec("CREATE SCHEMA " + custom + " AUTHORIZATION " + pg::quote_ident(a.user));
    EXPECT_FALSE(attempt(a, "CREATE TABLE " + custom + ".t AS SELECT 1 AS id"));
    EXPECT_FALSE(attempt(a, "CREATE TABLE " + pg::quote_ident(a.schema) + ".t (id int); INSERT INTO " +
                                pg::quote_ident(a.schema) + ".t VALUES (5)"));
    EXPECT_EQ(value_as(a, "SELECT id FROM " + pg::quote_ident(a.schema) + ".t"), "5");
    EXPECT_EQ(admin_value("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '" + a.schema + "_staging'"),
              a.user);
}

TEST_F(Privileges, CannotReadOrWriteAnotherEnvironment) {
    const std::string theirs = pg::quote_ident(b.schema);
    ASSERT_FALSE(attempt(b, "CREATE TABLE " + theirs + ".secret AS SELECT 42 AS answer"));
    admin_exec("CREATE SCHEMA " + pg::quote_ident(b.schema + "_x") + " AUTHORIZATION " + pg::quote_ident(b.user));
    ASSERT_FALSE(attempt(b, "CREATE TABLE " + pg::quote_ident(b.schema + "_x") + ".t (id int)"));
    for (const std::string& sql : {"SELECT * FROM " + theirs + ".secret", "INSERT INTO " + theirs + ".secret VALUES (1)",
                                   "CREATE TABLE " + theirs + ".intruder (id int)", "DROP TABLE " + theirs + ".secret",
                                   "SELECT * FROM " + pg::quote_ident(b.schema + "_x") + ".t",
                                   "DROP SCHEMA " + theirs + " CASCADE", "DROP OWNED BY " + pg::quote_ident(b.user)}) {
        auto error = attempt(a, sql);
        ASSERT_TRUE(error) << sql << " succeeded";
        EXPECT_THAT(*error, ::testing::AnyOf(HasSubstr("permission denied"), HasSubstr("must be owner"))) << sql;
    }
    EXPECT_EQ(value_as(b, "SELECT answer FROM " + theirs + ".secret"), "42");
}

TEST_F(Privileges, CannotReadTheCatalog) {
    ASSERT_EQ(admin_value("SELECT count(*) FROM ece.environments"), "2");
    for (const char* sql : {"SELECT * FROM ece.environments", "SELECT * FROM ece.migrations",
                            "CREATE TABLE ece.mine (id int)"}) {
        auto error = attempt(a, sql);
        ASSERT_TRUE(error) << sql << " succeeded";
        EXPECT_THAT(*error, HasSubstr("permission denied for schema ece")) << sql;
    }
}

TEST_F(Privileges, StatementTimeoutAndConnectionLimitAreInEffect) {
    EXPECT_EQ(value_as(a, "SHOW statement_timeout"), "1500ms");
    EXPECT_EQ(admin_value("SELECT rolconnlimit FROM pg_roles WHERE rolname = '" + a.user + "'"), "3");
    auto slow = attempt(a, "SELECT pg_sleep(5)");
    ASSERT_TRUE(slow);
    EXPECT_THAT(*slow, HasSubstr("statement timeout"));
    // The limit counts sessions: three are allowed, the fourth is refused.
    std::vector<std::unique_ptr<pqxx::connection>> open;
    for (int i = 0; i < 3; ++i) open.push_back(pg::connect_owned(a.url(), "test session"));
    try {
        pg::connect(a.url(), "one too many");
        FAIL() << "a fourth session was allowed";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("too many connections for role"));
    }
}

TEST_F(Privileges, IsAnOrdinaryRole) {
    EXPECT_EQ(admin_value("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls"
                          " FROM pg_roles WHERE rolname = '" + a.user + "'"),
              "f");
    EXPECT_TRUE(attempt(a, "CREATE ROLE " + pg::quote_ident(a.user + "_x")));
    EXPECT_TRUE(attempt(a, "SET ROLE " + pg::quote_ident(config.production.role)));
    // The group it reads production through can create nothing another environment would share.
    const std::string group = pg::quote_ident(group_role(config.environments.prefix));
    auto as_group = attempt(a, "SET ROLE " + group + "; CREATE SCHEMA " + pg::quote_ident(a.schema + "_shared"));
    ASSERT_TRUE(as_group);
    EXPECT_THAT(*as_group, HasSubstr("permission denied for database"));
}

}  // namespace
}  // namespace ece::env
