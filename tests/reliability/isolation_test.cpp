// Isolation, attacked: as an environment's role over a real connection, every way to reach beyond its own schemas
// that we know of must be refused. tests/env/privileges_test.cpp proves the ordinary privileges; this suite is the
// hostile user: SECURITY DEFINER functions, search_path and pg_temp shadowing (also against ece's own admin
// commands), SET ROLE, server files and programs, event triggers, ALTER SYSTEM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/secrets.hpp"
#include "env/environments.hpp"
#include "env_fixture.hpp"
#include "env/naming.hpp"
#include "harness.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "stage/stage.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;

using env::testing_support::attempt;  // nullopt when all of sql succeeds as the role, else the error

class Hostile : public testing::Test {
protected:
    void SetUp() override {
        url = test::fresh_database("isolation");
        config.environments.prefix = test::unique_name("iso").substr(0, 20) + "_";
        config.production.role = test::unique_name("isoprod");
        config.production.schemas = {"analytics"};
        admin("CREATE ROLE " + q(config.production.role) + " NOLOGIN;"
              "CREATE SCHEMA analytics AUTHORIZATION " + q(config.production.role) + ";"
              "SET ROLE " + q(config.production.role) + ";"
              "CREATE TABLE analytics.orders (id int, amount int); INSERT INTO analytics.orders VALUES (1, 10), (2, 20);"
              "RESET ROLE");
        env::Environments envs(env::Settings{url, config, true, std::chrono::seconds(60)});
        a = envs.up({"feature/a", 1, "", std::nullopt}).credentials;
        b = envs.up({"feature/b", 2, "", std::nullopt}).credentials;
        ASSERT_FALSE(attempt(b, "CREATE TABLE " + q(b.schema) + ".secret AS SELECT 42 AS answer"));
        ASSERT_FALSE(attempt(a, "CREATE TABLE " + q(a.schema) + ".calls (n int)"));  // proves a's login works
        admin_user = pg::parse_url(url).user;
    }

    static std::string q(const std::string& name) { return pg::quote_ident(name); }
    void admin(const std::string& sql) {
        auto conn = pg::connect(url, "reliability admin");
        pqxx::nontransaction tx(conn);
        tx.exec(sql);
    }
    std::string admin_value(const std::string& sql) {
        auto conn = pg::connect(url, "reliability admin");
        pqxx::nontransaction tx(conn);
        auto r = tx.exec(sql);
        return r.empty() || r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
    }
    void expect_refused(const std::string& sql) {
        auto error = attempt(a, sql);
        EXPECT_TRUE(error) << "allowed to an environment: " << sql;
    }
    bool a_is_privileged() {
        return admin_value("SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles WHERE rolname = '" +
                           a.user + "'") == "t";
    }

    std::string url, admin_user;
    config::Config config;
    env::Credentials a, b;
};

TEST_F(Hostile, OtherEnvironmentsProductionRolesAndTheCatalogAreOutOfReach) {
    for (const std::string& sql : std::vector<std::string>
         {"SELECT * FROM " + q(b.schema) + ".secret", "INSERT INTO " + q(b.schema) + ".secret VALUES (1)",
          "CREATE TABLE " + q(b.schema) + ".mine (id int)", "ALTER ROLE " + q(b.user) + " PASSWORD 'x'",
          "INSERT INTO analytics.orders VALUES (3, 30)", "UPDATE analytics.orders SET amount = 0",
          "CREATE TABLE analytics.mine (id int)",
          "CREATE ROLE " + q(a.user + "_friend"), "ALTER ROLE " + q(a.user) + " CREATEROLE",
          "SELECT * FROM ece.environments", "SELECT * FROM ece.migrations"}) {
        expect_refused(sql);
    }
    // GRANT by a non-owner is only a warning ("no privileges were granted"): check that nothing was granted.
    attempt(a, "GRANT SELECT ON analytics.orders TO PUBLIC; GRANT SELECT ON analytics.orders TO " + q(b.user));
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_class c, aclexplode(c.relacl) x WHERE c.oid = 'analytics.orders'::regclass"
                          " AND x.grantor <> c.relowner"),
              "0");
    EXPECT_EQ(admin_value("SELECT sum(amount) FROM analytics.orders"), "30");
    EXPECT_FALSE(a_is_privileged());
}

// Staged content tables are shared between environments by hash; an environment reads only those its views use.
TEST_F(Hostile, StagedContentOfAnotherEnvironmentIsNotReadable) {
    test::TempDir dir;
    write_demo_csv(dir.path(), 10, 5);
    stage::Environment for_b{.name = "pr-2", .raw_schema = b.schema + "_raw", .owner_role = b.user};
    auto staged = stage::stage_tables(url, for_b, {stage::parse_table_flag("patients=" + (dir / "patients.csv").string())});
    ASSERT_EQ(staged.size(), 1u);
    EXPECT_FALSE(attempt(b, "SELECT count(*) FROM " + q(b.schema + "_raw") + ".patients"));
    expect_refused("SELECT count(*) FROM ece_content." + q(staged[0].content_table));
    expect_refused("SELECT count(*) FROM " + q(b.schema + "_raw") + ".patients");
    expect_refused("SELECT * FROM ece.staged_files");
}

// A SECURITY DEFINER function of production's (the one way to run with its rights) that pins its search_path is
// not fooled by the environment's shadowing function, operator or pg_temp table; and ece itself installs none an
// environment could call.
TEST_F(Hostile, SecurityDefinerFunctionsGiveNothingAway) {
    admin("SET ROLE " + q(config.production.role) + ";"
          "CREATE FUNCTION analytics.order_total() RETURNS bigint LANGUAGE sql SECURITY DEFINER"
          " SET search_path = analytics, pg_catalog, pg_temp AS $$ SELECT sum(amount) FROM orders $$;"
          "RESET ROLE");
    const std::string mine = q(a.schema);
    // The tricks: a sum(int) of its own that writes production as the definer, a pg_temp.orders to read instead.
    EXPECT_FALSE(attempt(a, "CREATE FUNCTION " + mine + ".evil(bigint, int) RETURNS bigint LANGUAGE plpgsql AS $$"
                            " BEGIN INSERT INTO analytics.orders VALUES (666, 666); RETURN 0; END $$;"
                            "CREATE AGGREGATE " + mine + ".sum(int) (SFUNC = " + mine + ".evil, STYPE = bigint);"
                            "CREATE OPERATOR " + mine + ".+ (LEFTARG = int, RIGHTARG = int, FUNCTION = int4pl)"));
    std::string total;
    try {
        auto conn = pg::connect(a.url(), "attack");
        pqxx::work tx(conn);
        tx.exec("SET search_path = " + mine + ", analytics, pg_catalog");
        tx.exec("CREATE TEMP TABLE orders (id int, amount int); INSERT INTO orders VALUES (9, 1000000)");
        total = tx.exec1("SELECT analytics.order_total()")[0].as<std::string>();
        tx.commit();
    } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
    }
    EXPECT_EQ(total, "30");
    EXPECT_EQ(admin_value("SELECT count(*) FROM analytics.orders WHERE id = 666"), "0");
    // It cannot make a definer function of its own run as anyone else.
    EXPECT_FALSE(attempt(a, "CREATE FUNCTION " + mine + ".mine() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'"));
    expect_refused("ALTER FUNCTION " + mine + ".mine() OWNER TO " + q(config.production.role));
    expect_refused("CREATE FUNCTION analytics.planted() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'");
    // ece's own catalog has no SECURITY DEFINER function an environment may execute.
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                          " WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                          " AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = '" + a.user + "')"
                          " AND n.nspname <> 'analytics'"
                          " AND has_function_privilege('" + a.user + "', p.oid, 'EXECUTE')"),
              "0");
}

// The environment role may create schemas (dbt needs it), so it can create one named like the admin role: with the
// default search_path "$user", public, an aggregate count(oid) there would run inside ece's own admin queries (ece-env
// list sums usage with count(c.oid)) with the admin's rights. ece's connections never search "$user".
TEST_F(Hostile, ShadowingFunctionsInASchemaNamedLikeTheAdminNeverRunInEcesCommands) {
    const std::string trap = q(admin_user);
    const fs::path marker = fs::temp_directory_path() / test::unique_name("ece_trap");
    auto planted = attempt(
        a, "CREATE SCHEMA " + trap + ";"
           "CREATE FUNCTION " + trap + ".step(bigint, anyelement) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN"
           "  BEGIN"
           "   INSERT INTO " + q(a.schema) + ".calls VALUES (1);"
           "   EXECUTE 'ALTER ROLE " + a.user + " SUPERUSER';"
           "  EXCEPTION WHEN others THEN"  // in a read-only transaction a shell command still runs
           "   BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch " + marker.string() + "''';"
           "   EXCEPTION WHEN others THEN NULL; END;"
           "  END;"
           "  RETURN coalesce($1, 0) + 1;"
           " END $$;"
           "CREATE AGGREGATE " + trap + ".count(oid) (SFUNC = " + trap + ".step, STYPE = bigint, INITCOND = '0');"
           "CREATE AGGREGATE " + trap + ".count(name) (SFUNC = " + trap + ".step, STYPE = bigint, INITCOND = '0');"
           "CREATE AGGREGATE " + trap + ".count(text) (SFUNC = " + trap + ".step, STYPE = bigint, INITCOND = '0');"
           "GRANT USAGE ON SCHEMA " + trap + " TO PUBLIC;"
           "GRANT INSERT ON " + q(a.schema) + ".calls TO PUBLIC");
    if (planted) GTEST_SKIP() << "the environment could not even plant the trap: " << *planted;

    // ece's admin commands, run for real against this database.
    test::TempDir dir;
    write_ece_yml(dir / "ece.yml", config.production.role, config.environments.prefix);
    write_demo_csv(dir.path(), 10, 1);
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url}};
    const std::string config_file = (dir / "ece.yml").string();
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {ece_env_binary, "--config", config_file, "list"},
             {ece_env_binary, "--config", config_file, "up", "--branch", "feature/c", "--pr", "3"},
             {ece_env_binary, "--config", config_file, "gc", "--dry-run"},
             {ece_stage_binary, "load", "--branch", "feature/c", "--pr", "3", "--table", "patients=" + (dir / "patients.csv").string()},
             {ece_stage_binary, "status"},
             {ece_stage_binary, "gc"},
             {ece_env_binary, "--config", config_file, "down", "--pr", "3"}}) {
        auto r = run(argv, env, dir.path());
        EXPECT_EQ(r.exit_code, 0) << argv[1] << " " << r.err;
    }
    EXPECT_EQ(admin_value("SELECT count(*) FROM " + q(a.schema) + ".calls"), "0") << "planted code ran in ece's session";
    EXPECT_FALSE(a_is_privileged()) << a.user << " became privileged";
    EXPECT_FALSE(fs::exists(marker)) << "planted code ran a shell command on the server";
    std::error_code ignored;
    fs::remove(marker, ignored);
}

TEST_F(Hostile, SetRoleToTheGroupGainsNothingShared) {
    const std::string group = q(env::group_role(config.environments.prefix));
    for (const std::string& then : std::vector<std::string>
         {"CREATE SCHEMA shared_by_all", "CREATE TABLE public.shared (id int)", "CREATE TABLE analytics.shared (id int)",
          "SELECT * FROM " + q(b.schema) + ".secret", "INSERT INTO analytics.orders VALUES (4, 40)",
          "CREATE ROLE " + q(a.user + "_g")}) {
        expect_refused("SET ROLE " + group + "; " + then);
    }
    expect_refused("SET ROLE " + q(config.production.role));
    expect_refused("SET ROLE " + q(b.user));
    expect_refused("SET SESSION AUTHORIZATION " + q(admin_user));
}

TEST_F(Hostile, ServerFilesProgramsEventTriggersAndSystemSettingsAreRefused) {
    const std::string mine = q(a.schema) + ".calls";
    for (const std::string& sql : std::vector<std::string>
         {"COPY (SELECT 1) TO PROGRAM 'touch /tmp/ece-owned'", "COPY " + mine + " FROM PROGRAM 'echo 1'",
          "COPY " + mine + " FROM '/etc/passwd'", "COPY (SELECT 1) TO '/tmp/ece-owned'",
          "SELECT pg_read_file('/etc/passwd')", "SELECT pg_read_binary_file('postgresql.conf')", "SELECT pg_ls_dir('.')",
          "SELECT lo_import('/etc/passwd')", "SELECT lo_export(0, '/tmp/ece-owned')",
          "CREATE FUNCTION " + q(a.schema) + ".f() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;"
          " CREATE EVENT TRIGGER ece_owned ON ddl_command_start EXECUTE FUNCTION " + q(a.schema) + ".f()",
          "ALTER SYSTEM SET log_statement = 'none'", "SELECT pg_reload_conf()",
          "ALTER DATABASE " + q(pg::parse_url(url).dbname) + " SET search_path = " + q(a.schema),
          "CREATE EXTENSION IF NOT EXISTS dblink", "SET session_replication_role = replica",
          "CREATE LANGUAGE plpython3u", "LOAD 'auto_explain'"}) {
        expect_refused(sql);
    }
    EXPECT_FALSE(fs::exists("/tmp/ece-owned"));
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_event_trigger"), "0");
}

}  // namespace
}  // namespace ece::reliability
