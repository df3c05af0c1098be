// The life of an environment: up, repair, rotate, down, gc, concurrency, hostile names and failures.
#include "env_fixture.hpp"

#include "core/secrets.hpp"

#include <gmock/gmock.h>

#include <atomic>
#include <set>
#include <thread>

namespace ece::env {
namespace {

using ::testing::HasSubstr;
using testing_support::attempt;
using testing_support::value_as;

class Lifecycle : public testing_support::EnvTest {
protected:
    UpResult up(const std::string& branch, std::optional<int> pr = std::nullopt) {
        return Environments(settings()).up({branch, pr, "", std::nullopt});
    }
    std::string count(const std::string& sql) const { return admin_value("SELECT count(*) FROM (" + sql + ") x"); }
    std::string role_count(const std::string& role) const {
        return count("SELECT 1 FROM pg_roles WHERE rolname = '" + role + "'");
    }
    std::string schemas_like(const std::string& base) const {
        return count("SELECT 1 FROM pg_namespace WHERE nspname = '" + base + "' OR nspname LIKE '" + base + "\\_%'");
    }
};

TEST_F(Lifecycle, UpCreatesRoleSchemaAndCatalogRow) {
    auto result = Environments(settings()).up({"feature/x", 7, "abc123", std::chrono::hours(2)});
    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.record.name, "pr-7");
    EXPECT_EQ(result.record.status, Status::ready);
    EXPECT_EQ(result.record.branch, "feature/x");
    EXPECT_EQ(result.record.head_sha, "abc123");
    EXPECT_EQ(result.record.provider, "postgres");
    EXPECT_EQ(result.record.schemas, std::vector<std::string>{config.environments.prefix + "pr_7"});
    ASSERT_TRUE(result.record.expires_at);
    auto ttl = *result.record.expires_at - result.record.updated_at;
    EXPECT_NEAR(std::chrono::duration<double>(ttl).count(), 7200, 5);
    EXPECT_EQ(result.credentials.user, config.environments.prefix + "pr_7");
    EXPECT_EQ(result.credentials.password.size(), 43u);
    EXPECT_EQ(value_as(result.credentials, "SELECT current_user"), result.credentials.user);
    {  // The role's default ($user = the base schema), as dbt and psql get it; ece's own sessions pin theirs (lib/pg).
        pqxx::connection as_dbt(result.credentials.url());
        pqxx::work tx(as_dbt);
        EXPECT_EQ(tx.exec1("SHOW search_path")[0].as<std::string>(), "\"$user\", public");
    }
    EXPECT_EQ(admin_value("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '" +
                          result.credentials.schema + "'"),
              result.credentials.user);
}

TEST_F(Lifecycle, EveryUpRotatesThePasswordAndRenewsExpiry) {
    auto first = up("main");
    auto second = up("main");
    EXPECT_FALSE(second.created);
    EXPECT_NE(first.credentials.password, second.credentials.password);
    auto old = attempt(first.credentials, "SELECT 1");
    ASSERT_TRUE(old) << "the old password still works";
    EXPECT_THAT(*old, HasSubstr("password authentication failed"));
    EXPECT_FALSE(attempt(second.credentials, "SELECT 1"));
    EXPECT_GE(*second.record.expires_at, *first.record.expires_at);
    EXPECT_EQ(second.record.created_at, first.record.created_at);
    // issue_credentials rotates it too, without touching the rest.
    Environments envs(settings());
    auto issued = envs.issue_credentials(envs.identify("main", std::nullopt));
    EXPECT_TRUE(attempt(second.credentials, "SELECT 1"));
    EXPECT_FALSE(attempt(issued, "SELECT 1"));
}

TEST_F(Lifecycle, DownLeavesNothingButTheCatalogRow) {
    auto result = up("feature/gone");
    const auto& c = result.credentials;
    admin_exec("CREATE SCHEMA " + pg::quote_ident(c.schema + "_marts") + " AUTHORIZATION " +
               pg::quote_ident(c.user));  // as a build makes dbt's custom schemas
    ASSERT_FALSE(attempt(c, "CREATE TABLE " + pg::quote_ident(c.schema) + ".t AS SELECT 1 AS id;"
                             "CREATE VIEW " + pg::quote_ident(c.schema) + ".v AS SELECT * FROM " +
                             pg::quote_ident(c.schema) + ".t;"
                             "CREATE TABLE " + pg::quote_ident(c.schema + "_marts") + ".m (id int)"));
    ASSERT_FALSE(attempt(c, "CREATE TABLE " + pg::quote_ident(c.schema) + ".t2 AS SELECT 1 AS id"));
    ASSERT_EQ(schemas_like(c.schema), "2");
    // A session still open when down runs is ended.
    auto session = pg::connect(c.url(), "open session");

    Environments envs(settings());
    auto down = envs.down(envs.identify("feature/gone", std::nullopt));
    EXPECT_TRUE(down.existed);
    EXPECT_EQ(schemas_like(c.schema), "0");
    EXPECT_EQ(role_count(c.user), "0");
    EXPECT_EQ(count("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE '" +
                    c.schema + "%'"),
              "0");
    auto record = envs.find(envs.identify("feature/gone", std::nullopt));
    ASSERT_TRUE(record);
    EXPECT_EQ(record->status, Status::destroyed);
    EXPECT_TRUE(record->destroyed_at);
    EXPECT_TRUE(attempt(c, "SELECT 1"));

    // Again: nothing to remove, no error; and up brings it back as new.
    EXPECT_FALSE(envs.down(envs.identify("feature/gone", std::nullopt)).existed);
    EXPECT_FALSE(envs.down(envs.identify("never-made", std::nullopt)).existed);
    auto again = up("feature/gone");
    EXPECT_TRUE(again.created);
    EXPECT_FALSE(again.record.destroyed_at);
}

TEST_F(Lifecycle, UpRepairsAHalfCreatedEnvironment) {
    auto result = up("feature/half");
    const auto role = pg::quote_ident(result.credentials.user);
    const auto schema = pg::quote_ident(result.credentials.schema);
    // As if an up had died after some steps, or someone had tampered: schema gone, limits and membership wrong.
    admin_exec("DROP SCHEMA " + schema + " CASCADE; ALTER ROLE " + role + " NOLOGIN CONNECTION LIMIT 99 CREATEDB;"
               "ALTER ROLE " + role + " RESET statement_timeout;"
               "REVOKE " + pg::quote_ident(group_role(config.environments.prefix)) + " FROM " + role +
               "; UPDATE ece.environments SET status = 'creating'");
    auto repaired = up("feature/half");
    EXPECT_TRUE(repaired.created);  // it was not ready
    EXPECT_EQ(repaired.record.status, Status::ready);
    EXPECT_EQ(value_as(repaired.credentials, "SHOW statement_timeout"), "1500ms");
    EXPECT_EQ(admin_value("SELECT rolconnlimit::text || rolcreatedb::text || rolcanlogin::text FROM pg_roles"
                          " WHERE rolname = '" + repaired.credentials.user + "'"),
              "3falsetrue");
    EXPECT_FALSE(attempt(repaired.credentials, "CREATE TABLE " + schema + ".t (id int)"));
    EXPECT_TRUE(attempt(repaired.credentials, "CREATE SCHEMA " + pg::quote_ident(repaired.credentials.schema + "_c")))
        << "an environment role may not create schemas";
}

TEST_F(Lifecycle, UpAdoptsASchemaLeftByTheAdminAndARowWithoutRole) {
    auto id = Environments(settings()).identify("feature/orphan", std::nullopt);
    // Catalog row says creating, the schema exists (owned by the admin), the role does not.
    Environments(settings()).find(id);  // migrates the catalog
    admin_exec("CREATE SCHEMA " + pg::quote_ident(id.base_schema) + "; CREATE TABLE " + pg::quote_ident(id.base_schema) +
               ".leftover (id int);"
               "INSERT INTO ece.environments (name, branch, provider, status, base_schema, role_name) VALUES ('" +
               id.name + "', '" + id.branch + "', 'postgres', 'creating', '" + id.base_schema + "', '" + id.role + "')");
    auto result = up("feature/orphan");
    EXPECT_TRUE(result.created);
    EXPECT_EQ(admin_value("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = '" + id.base_schema + "'"),
              id.role);
    EXPECT_FALSE(attempt(result.credentials, "CREATE TABLE " + pg::quote_ident(id.base_schema) + ".t (id int)"));
}

TEST_F(Lifecycle, ConcurrentUpsOfOneBranchGiveOneEnvironment) {
    constexpr int parallel = 4;
    std::vector<std::thread> threads;
    std::vector<std::optional<UpResult>> results(parallel);
    std::vector<std::string> errors(parallel);
    for (int i = 0; i < parallel; ++i) {
        threads.emplace_back([&, i] {
            try {
                results[i] = up("feature/race", 33);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    int created = 0, working = 0;
    for (int i = 0; i < parallel; ++i) {
        ASSERT_TRUE(results[i]) << errors[i];
        created += results[i]->created;
        working += !attempt(results[i]->credentials, "SELECT 1");
    }
    EXPECT_EQ(created, 1);
    EXPECT_EQ(working, 1);  // the last up's password
    EXPECT_EQ(count("SELECT 1 FROM ece.environments"), "1");
    EXPECT_EQ(role_count(config.environments.prefix + "pr_33"), "1");
    EXPECT_EQ(schemas_like(config.environments.prefix + "pr_33"), "1");
}

TEST_F(Lifecycle, ConcurrentUpsOfDifferentBranchesAllSucceed) {
    constexpr int parallel = 4;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    std::vector<std::string> errors(parallel);
    for (int i = 0; i < parallel; ++i) {
        threads.emplace_back([&, i] {
            try {
                if (!attempt(up("branch-" + std::to_string(i)).credentials, "SELECT 1")) ++ok;
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok, parallel) << errors[0] << errors[1] << errors[2] << errors[3];
}

TEST_F(Lifecycle, HostileBranchNamesWorkAndStayDistinct) {
    const std::vector<std::string> branches = {"it's", "a;b", "\"; DROP SCHEMA public; --", "ünïcødé/ветка",
                                               std::string(300, 'x'), "Main", "main", "pr_5"};
    std::set<std::string> users;
    for (const auto& branch : branches) {
        auto result = up(branch);
        EXPECT_EQ(result.record.branch, branch);
        users.insert(result.credentials.user);
        ASSERT_FALSE(attempt(result.credentials, "CREATE TABLE " + pg::quote_ident(result.credentials.schema) +
                                                     ".t AS SELECT 1 AS id"))
            << branch;
    }
    EXPECT_EQ(users.size(), branches.size());
    EXPECT_EQ(count("SELECT 1 FROM pg_namespace WHERE nspname = 'public'"), "1");
    Environments envs(settings());
    auto listed = envs.list();
    std::set<std::string> listed_branches;
    for (const auto& item : listed) listed_branches.insert(item.record.branch);
    EXPECT_EQ(listed_branches, std::set<std::string>(branches.begin(), branches.end()));
    for (const auto& branch : branches) EXPECT_TRUE(envs.down(envs.identify(branch, std::nullopt)).existed) << branch;
    EXPECT_EQ(count("SELECT 1 FROM pg_roles WHERE rolname LIKE '" + config.environments.prefix + "%' AND rolcanlogin"), "0");
}

TEST_F(Lifecycle, ListShowsSizeOnDisk) {
    auto result = up("feature/big");
    ASSERT_FALSE(attempt(result.credentials, "CREATE TABLE " + pg::quote_ident(result.credentials.schema) +
                                                 ".big AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 20000) g"));
    Environments envs(settings());
    auto listed = envs.list();
    ASSERT_EQ(listed.size(), 1u);
    ASSERT_TRUE(listed[0].usage);
    EXPECT_GT(listed[0].usage->bytes, 2'000'000);
    EXPECT_EQ(listed[0].usage->relations, 1);
}

TEST_F(Lifecycle, GcRemovesOnlyExpiredOnes) {
    up("old");
    up("fresh");
    admin_exec("UPDATE ece.environments SET expires_at = now() - interval '1 hour' WHERE name = 'old'");
    Environments envs(settings());
    auto dry = envs.gc({true, std::nullopt});
    ASSERT_EQ(dry.size(), 1u);
    EXPECT_EQ(dry[0].record.name, "old");
    EXPECT_FALSE(dry[0].removed);
    EXPECT_THAT(dry[0].reason, HasSubstr("expired"));
    EXPECT_EQ(role_count(config.environments.prefix + "old"), "1");

    auto done = envs.gc({false, std::nullopt});
    ASSERT_EQ(done.size(), 1u);
    EXPECT_TRUE(done[0].removed);
    EXPECT_EQ(role_count(config.environments.prefix + "old"), "0");
    EXPECT_EQ(role_count(config.environments.prefix + "fresh"), "1");
    EXPECT_TRUE(envs.gc({false, std::nullopt}).empty());
}

TEST_F(Lifecycle, GcRemovesEnvironmentsOfClosedPullRequests) {
    up("feature/open", 6);
    up("feature/closed", 5);
    up("main");
    Environments envs(settings());
    auto done = envs.gc({false, std::set<int>{6}});
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].record.name, "pr-5");
    EXPECT_THAT(done[0].reason, HasSubstr("pull request #5 is closed"));
    EXPECT_EQ(role_count(config.environments.prefix + "pr_5"), "0");
    EXPECT_EQ(role_count(config.environments.prefix + "pr_6"), "1");
    EXPECT_EQ(role_count(config.environments.prefix + "main"), "1");
}

TEST_F(Lifecycle, DeadServerGivesAClearError) {
    auto s = settings();
    s.admin_url = "postgresql://postgres:dead-server-password@127.0.0.1:1/postgres";
    try {
        Environments(s).up({"main", std::nullopt, "", std::nullopt});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::database);
        EXPECT_THAT(e.what(), HasSubstr("cannot connect to PostgreSQL at 127.0.0.1:1"));
        EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("dead-server-password")));
    }
}

TEST_F(Lifecycle, AdminWithoutCreateroleIsToldSo) {
    const auto admin = test::unique_name("weak");
    const std::string password = "weak-admin-password-123";
    register_secret(password);
    auto facts = pg::parse_url(url);
    admin_exec("CREATE ROLE " + admin + " LOGIN PASSWORD '" + password + "'; CREATE ROLE " +
               pg::quote_ident(config.production.role) + " NOLOGIN; ALTER DATABASE " + pg::quote_ident(facts.dbname) +
               " OWNER TO " + admin);
    facts.user = admin;
    facts.password = password;
    auto s = settings();
    s.admin_url = pg::make_url(facts);
    s.embedded = false;
    try {
        Environments(s).up({"main", std::nullopt, "", std::nullopt});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_THAT(e.what(), HasSubstr("missing privilege"));
        EXPECT_THAT(e.what(), HasSubstr("CREATEROLE"));
        EXPECT_THAT(e.what(), HasSubstr("bringing up environment main"));
    }
}

TEST_F(Lifecycle, ManagedServerAdminWithCreateroleButNoSuperuserWorks) {
    // Like a managed server's admin: CREATEROLE, owns the database, is not a superuser.
    const auto admin = test::unique_name("mgd");
    const std::string password = "managed-admin-password-123";
    register_secret(password);
    auto facts = pg::parse_url(url);
    admin_exec("CREATE ROLE " + admin + " LOGIN CREATEROLE PASSWORD '" + password + "'; ALTER DATABASE " +
               pg::quote_ident(facts.dbname) + " OWNER TO " + admin + "; CREATE ROLE " +
               pg::quote_ident(config.production.role) + " NOLOGIN; CREATE SCHEMA analytics AUTHORIZATION " +
               pg::quote_ident(config.production.role) + "; CREATE TABLE analytics.t AS SELECT 1 AS id; ALTER TABLE "
               "analytics.t OWNER TO " + pg::quote_ident(config.production.role));
    facts.user = admin;
    facts.password = password;
    auto s = settings();
    s.admin_url = pg::make_url(facts);
    s.embedded = false;
    Environments envs(s);
    auto result = envs.up({"main", std::nullopt, "", std::nullopt});
    EXPECT_EQ(value_as(result.credentials, "SELECT id FROM analytics.t"), "1");
    EXPECT_TRUE(attempt(result.credentials, "INSERT INTO analytics.t VALUES (2)"));
    EXPECT_FALSE(attempt(result.credentials, "CREATE TABLE " + pg::quote_ident(result.credentials.schema) + ".t (id int)"));
    EXPECT_TRUE(envs.down(envs.identify("main", std::nullopt)).existed);
    EXPECT_EQ(role_count(result.credentials.user), "0");
}

TEST_F(Lifecycle, MissingProductionRoleOnARealServerIsAUsageError) {
    auto s = settings();
    s.embedded = false;
    try {
        Environments(s).up({"main", std::nullopt, "", std::nullopt});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), HasSubstr("production role"));
        EXPECT_THAT(e.what(), HasSubstr(config.production.role));
    }
}

TEST_F(Lifecycle, IssueCredentialsForAnEnvironmentThatIsNotUpIsAConflict) {
    Environments envs(settings());
    try {
        envs.issue_credentials(envs.identify("nothing", std::nullopt));
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("not up"));
    }
}

}  // namespace
}  // namespace ece::env
