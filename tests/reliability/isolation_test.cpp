// Isolation, attacked: as an environment's role over a real connection, every way to reach beyond its own schemas
// that we know of must be refused. tests/env/privileges_test.cpp proves the ordinary privileges; this suite is the
// hostile user: SECURITY DEFINER functions, search_path and pg_temp shadowing (also against ece's own admin
// commands), SET ROLE, server files and programs, event triggers, ALTER SYSTEM.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "comment/catalog_report.hpp"
#include "core/secrets.hpp"
#include "dbt/env_schemas.hpp"
#include "env/environments.hpp"
#include "env_fixture.hpp"
#include "env/naming.hpp"
#include "harness.hpp"
#include "pg/as_role.hpp"
#include "pg/connect.hpp"
#include "pg/lock.hpp"
#include "pg/watchdog.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "publish/publish.hpp"
#include "stage/stage.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;

using env::testing_support::attempt;  // nullopt when all of sql succeeds as the role, else the error

// Real dbt (dbt-core 1.9.1 + dbt-postgres 1.9.0), in one place so that the suite's shared helper can replace it.
fs::path real_dbt() { return source_dir / "../shared/tools/dbt/bin/dbt"; }
const fs::path hostile_project = source_dir / "tests/reliability/hostile_dbt";

// A file the planted code tries to create on the server with COPY ... TO PROGRAM (as the server's OS user, hence
// in the shared temporary directory).
struct Marker {
    fs::path path = fs::temp_directory_path() / test::unique_name("ece_owned");
    ~Marker() {
        std::error_code ignored;
        fs::remove(path, ignored);
    }
};

// Runs real dbt on a copy of the hostile project (tests/reliability/hostile_dbt) in work/, as the environment.
Outcome run_hostile_dbt(const env::Credentials& as, std::vector<std::string> argv, const fs::path& work,
                        const Marker& marker) {
    const fs::path project = work / "project";
    fs::copy(hostile_project, project, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    std::ofstream(work / "profiles.yml")
        << "hostile:\n  target: env\n  outputs:\n    env:\n      type: postgres\n      host: \"" << as.host
        << "\"\n      port: " << as.port << "\n      user: \"" << as.user
        << "\"\n      password: \"{{ env_var('HOSTILE_PASSWORD') }}\"\n      dbname: \"" << as.dbname
        << "\"\n      schema: \"" << as.schema << "\"\n      threads: 1\n";
    argv.insert(argv.begin(), real_dbt().string());
    argv.insert(argv.end(), {"--project-dir", project.string(), "--profiles-dir", work.string()});
    return run(argv, {{"HOSTILE_PASSWORD", as.password}, {"HOSTILE_MARKER", marker.path.string()},
                      {"DBT_SEND_ANONYMOUS_USAGE_STATS", "false"}},
               work);
}

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

// An environment role that owns a schema named like the admin role (older ece let it create schemas): with the
// default search_path "$user", public, an aggregate count(oid) there would run inside ece's own admin queries (ece-env
// list sums usage with count(c.oid)) with the admin's rights. ece's connections never search "$user".
TEST_F(Hostile, ShadowingFunctionsInASchemaNamedLikeTheAdminNeverRunInEcesCommands) {
    const std::string trap = q(admin_user);
    const fs::path marker = fs::temp_directory_path() / test::unique_name("ece_trap");
    admin("CREATE SCHEMA " + trap + " AUTHORIZATION " + q(a.user));  // as an older ece let the role do itself
    auto planted = attempt(
        a, "CREATE FUNCTION " + trap + ".step(bigint, anyelement) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN"
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

// The comment's row counts execute the environment's views. A view calling the pull request's function, counted as
// ece's admin, ran COPY ... TO PROGRAM on the server as the database superuser. Counted as the environment's role
// (pg::select_as_role) the same function gets nothing, even with RESET ROLE, which undoes a plain SET ROLE. One
// real dbt run serves the squatting checks too (EnvironmentsCreateNoSchema... has the rest).
TEST_F(Hostile, CountingTheCommentsRowsRunsThePullRequestsViewsAsTheEnvironmentOnly) {
    test::TempDir dir;
    Marker marker;
    auto built = run_hostile_dbt(a, {"run", "--select", "counted"}, dir.path(), marker);
    ASSERT_EQ(built.exit_code, 0) << built.out << built.err;

    auto conn = pg::connect(url, "comment");
    const dbt::BuiltNode counted{"pr-1", "model.hostile.counted", "model", "c", a.schema, "counted", "view", 1, ""};
    auto changes = comment::data_changes(conn, a.user, {counted}, a.schema, "analytics");
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].rows_environment, 2) << "counted, as the environment";
    EXPECT_EQ(admin_value("SELECT is_called FROM " + q(a.schema) + ".ran_as_environment"), "t");
    EXPECT_EQ(admin_value("SELECT is_called FROM " + q(a.schema) + ".ran_as_someone_else"), "f");
    EXPECT_FALSE(fs::exists(marker.path)) << "the pull request ran a shell command on the server";
    EXPECT_FALSE(a_is_privileged()) << a.user << " became privileged";

    // The same run parsed the whole project: its nodes writing outside the environment are refused before a build
    // (dbt/env_schemas.hpp), naming the node and the schema.
    const auto branch = dbt::load_manifest(dir / "project/target/manifest.json");
    for (const auto& [node, schema] : std::vector<std::pair<std::string, std::string>>{
             {"model.hostile.squatter", "analytics"}, {"snapshot.hostile.outside", "ece_squatted"}}) {
        try {
            dbt::environment_schemas(branch, {"model.hostile.counted", node}, a.schema, a.schema);
            ADD_FAILURE() << node << " may write to " << schema;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::input);
            EXPECT_THAT(e.what(), HasSubstr(node + " writes to schema " + schema + ", outside the environment"));
        }
    }
    EXPECT_EQ(dbt::environment_schemas(branch, {"model.hostile.counted"}, a.schema, a.schema), std::set<std::string>{a.schema});
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_namespace WHERE nspname = 'ece_squatted'"), "0");
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_class WHERE relname = 'squatter'"), "0");
}

// pg::select_as_role directly, against what planted code can do inside ece's own session: switch back to the
// session user, replace the function that runs it (for ece's next call), change the session's settings.
TEST_F(Hostile, SelectAsRoleKeepsPlantedCodeInsideTheRole) {
    Marker marker;
    const std::string mine = q(a.schema);
    ASSERT_FALSE(attempt(
        a, "CREATE SEQUENCE " + mine + ".ran_as_environment; CREATE SEQUENCE " + mine + ".ran_as_someone_else;"
           "GRANT USAGE ON SEQUENCE " + mine + ".ran_as_environment, " + mine + ".ran_as_someone_else TO PUBLIC;"
           "CREATE FUNCTION " + mine + ".escape(n int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN"
           "  BEGIN RESET ROLE; EXCEPTION WHEN others THEN NULL; END;"
           "  BEGIN SET ROLE " + q(admin_user) + "; EXCEPTION WHEN others THEN NULL; END;"
           "  BEGIN SET SESSION AUTHORIZATION DEFAULT; EXCEPTION WHEN others THEN NULL; END;"
           "  PERFORM nextval(CASE WHEN current_user = '" + a.user + "' THEN '" + a.schema + ".ran_as_environment'"
           "   ELSE '" + a.schema + ".ran_as_someone_else' END::regclass);"
           "  BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch " + marker.path.string() + "''';"
           "  EXCEPTION WHEN others THEN NULL; END;"
           "  PERFORM set_config('search_path', '" + a.schema + ", pg_catalog', false);"
           "  BEGIN CREATE OR REPLACE FUNCTION pg_temp.ece_select_as_role(query text) RETURNS SETOF record"
           "   LANGUAGE plpgsql AS $r$ BEGIN EXECUTE 'ALTER ROLE " + a.user + " SUPERUSER'; RETURN QUERY EXECUTE query;"
           "   END $r$; EXCEPTION WHEN others THEN NULL; END;"
           "  RETURN n; END $$;"
           "CREATE VIEW " + mine + ".trap AS SELECT id FROM generate_series(1, 3) id WHERE " + mine + ".escape(id) = id"));
    auto conn = pg::connect(url, "comment");
    pqxx::work tx(conn);
    const auto search_path = tx.exec1("SELECT pg_catalog.current_setting('search_path')")[0].as<std::string>();
    for (int call = 0; call < 2; ++call) {  // the second call must not run what the first one planted
        auto rows = pg::select_as_role(tx, a.user, "SELECT pg_catalog.count(*) FROM " + mine + ".trap", "n bigint");
        EXPECT_EQ(rows.at(0)[0].as<std::string>(), "3");
        EXPECT_EQ(tx.exec1("SELECT current_user")[0].as<std::string>(), admin_user);
        EXPECT_EQ(tx.exec1("SELECT pg_catalog.current_setting('search_path')")[0].as<std::string>(), search_path);
    }
    tx.commit();
    EXPECT_EQ(admin_value("SELECT is_called FROM " + mine + ".ran_as_environment"), "t");  // survives the rollback
    EXPECT_EQ(admin_value("SELECT is_called FROM " + mine + ".ran_as_someone_else"), "f");
    EXPECT_FALSE(fs::exists(marker.path));
    EXPECT_FALSE(a_is_privileged());
}

// Advisory locks are open to every role, and pg_locks shows their keys: an environment held ece's, and every up
// and publish waited until it let go. ece's waits end such holders (pg/lock.hpp).
TEST_F(Hostile, EnvironmentRolesHoldingEcesLocksAreEndedNotWaitedFor) {
    auto holder = pg::connect(a.url(), "attack: session locks");
    pqxx::nontransaction(holder).exec(
        "SELECT pg_advisory_lock(" + std::to_string(pg::AdvisoryLock::key_for("env:pr-1")) + "), pg_advisory_lock(" +
        std::to_string(pg::AdvisoryLock::key_for("publish")) + ")");
    auto in_transaction = pg::connect(a.url(), "attack: transaction lock");
    pqxx::work open(in_transaction);
    open.exec("SELECT pg_advisory_xact_lock(" + std::to_string(pg::AdvisoryLock::key_for(pg::shared_privileges_lock)) +
              ")");

    env::Environments envs(env::Settings{url, config, true, std::chrono::seconds(5)});
    const auto started = std::chrono::steady_clock::now();
    EXPECT_NO_THROW(envs.up({"feature/a", 1, "", std::nullopt}));  // takes env:pr-1, then the shared-setup lock
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));
    EXPECT_THROW(pqxx::nontransaction(holder).exec("SELECT 1"), pqxx::broken_connection);
    EXPECT_ANY_THROW(open.exec("SELECT 1"));
    // A lock held by ece's own role is still waited for.
    auto admin_conn = pg::connect(url, "another ece job");
    pg::AdvisoryLock held(admin_conn, "publish", std::chrono::seconds(1));
    auto waiter = pg::connect(url, "ece job");
    EXPECT_THROW(pg::AdvisoryLock(waiter, "publish", std::chrono::milliseconds(300)), Error);
}

// An environment sitting idle in a transaction that read a production relation (its statement and idle timeouts
// lifted: any role may) made the publish's swap wait for ACCESS EXCLUSIVE, and every production reader queue
// behind it, attempt after attempt. The publish ends such sessions first.
TEST_F(Hostile, PublishEndsEnvironmentSessionsHoldingLocksOnProduction) {
    ASSERT_FALSE(attempt(b, "CREATE TABLE " + q(b.schema) + ".orders AS SELECT 7 AS id, 70 AS amount"));
    auto idle = pg::connect(a.url(), "attack: idle in transaction");
    pqxx::work open(idle);
    open.exec("SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0");
    open.exec("SELECT count(*) FROM analytics.orders");

    publish::PublishInput in;
    in.environment = "pr-2";
    in.pr = 2;
    in.production_role = config.production.role;
    in.relations = {{b.schema, "orders", publish::RelationKind::table, "analytics", "model.shop.orders", "c"}};
    publish::Options options;
    options.lock_timeout = std::chrono::milliseconds(500);
    options.lock_retries = 0;  // one attempt: it must not need to wait the environment out
    auto conn = pg::connect(url, "publish");
    EXPECT_EQ(publish::publish(conn, in, options).outcome, publish::Outcome::published);
    EXPECT_EQ(admin_value("SELECT sum(amount) FROM analytics.orders"), "70");
    EXPECT_ANY_THROW(open.exec("SELECT 1")) << "the environment's session survived";
}

// temp_file_limit is the role's and only a superuser may change it. statement_timeout and the idle timeout any
// role may lift for itself, even for its next logins: every up and build resets the role's own defaults, and
// while dbt runs the watchdog ends sessions over the limits, and every session left when the build is over.
TEST_F(Hostile, SessionLimitsHoldOrAreEnforcedByTheWatchdog) {
    using env::testing_support::value_as;
    EXPECT_EQ(value_as(a, "SHOW temp_file_limit"), "10GB");
    expect_refused("SET temp_file_limit = -1");
    expect_refused("ALTER ROLE " + q(a.user) + " SET temp_file_limit = -1");
    EXPECT_FALSE(attempt(a, "ALTER ROLE " + q(a.user) + " SET statement_timeout = 0; ALTER ROLE " + q(a.user) +
                                " IN DATABASE " + q(pg::parse_url(url).dbname) +
                                " SET idle_in_transaction_session_timeout = 0"));
    env::Environments envs(env::Settings{url, config, true, std::chrono::seconds(60)});
    a = envs.issue_credentials(envs.identify("feature/a", 1));  // what a build does first
    EXPECT_EQ(value_as(a, "SHOW statement_timeout"), "15min");
    EXPECT_EQ(value_as(a, "SHOW idle_in_transaction_session_timeout"), "5min");

    auto watchdog_conn = pg::connect(url, "watchdog");
    pg::SessionWatchdog watchdog(watchdog_conn, a.user,
                                 {std::chrono::seconds(1), std::chrono::seconds(1), std::chrono::milliseconds(200)});
    auto idle = pg::connect(a.url(), "attack: idle in transaction");
    pqxx::work open(idle);
    open.exec("SET idle_in_transaction_session_timeout = 0; SELECT 1");
    auto busy = pg::connect(a.url(), "attack: endless statement");
    const auto started = std::chrono::steady_clock::now();
    EXPECT_ANY_THROW(pqxx::nontransaction(busy).exec("SET statement_timeout = 0; SELECT pg_sleep(30)"));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_ANY_THROW(open.exec("SELECT 1")) << "idle in transaction past the limit, still there";
    auto lingering = pg::connect(a.url(), "attack: outlives the build");
    watchdog.stop();
    EXPECT_ANY_THROW(pqxx::nontransaction(lingering).exec("SELECT 1"));
    EXPECT_GE(watchdog.ended(), 3);
}

// A server-wide cap on environments and on their connections (ece.yml environments.max_environments,
// max_connections): an up that would exceed either is refused; existing environments still come up.
TEST_F(Hostile, ServerWideCapsOnEnvironmentsAndConnections) {
    auto capped = config;
    capped.environments.max_environments = 2;
    env::Environments envs(env::Settings{url, capped, true, std::chrono::seconds(60)});
    EXPECT_NO_THROW(envs.up({"feature/a", 1, "", std::nullopt}));
    try {
        envs.up({"feature/c", 3, "", std::nullopt});
        ADD_FAILURE() << "a third environment came up";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("environments.max_environments"));
    }
    capped.environments.max_environments = 10;
    capped.environments.max_connections = 25;  // 3 environments x 10 connections
    try {
        env::Environments(env::Settings{url, capped, true, std::chrono::seconds(60)}).up({"feature/c", 3, "", std::nullopt});
        ADD_FAILURE() << "a third environment came up";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("environments.max_connections"));
    }
    EXPECT_EQ(admin_value("SELECT count(*) FROM pg_roles WHERE rolname LIKE '" + config.environments.prefix + "%pr_3'"), "0");
}

// No squatting. An environment's role used to have CREATE on the database: it could take another environment's
// schema, a production custom schema or an archive's name before ece did. Now it creates no schema; ece makes the
// environment's (dbt/env_schemas.hpp) and refuses one that someone else made, and a project writing outside the
// environment (a snapshot's fixed target_schema, a generate_schema_name returning a fixed schema), parsed by real
// dbt, fails naming the node and the schema before anything runs.
TEST_F(Hostile, EnvironmentsCreateNoSchemaAndBuildsWriteOnlyTheirOwn) {
    for (const std::string& schema : {std::string("ece_archive_1"), b.schema + "_marts", std::string("analytics_marts"),
                                      a.schema + "_marts", admin_user}) {
        expect_refused("CREATE SCHEMA " + q(schema));
    }
    auto conn = pg::connect(url, "build");
    dbt::ensure_environment_schemas(conn, {a.schema, a.schema + "_marts"}, a.user);
    EXPECT_EQ(admin_value("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = '" + a.schema + "_marts'"),
              a.user);
    admin("CREATE SCHEMA " + q(a.schema + "_taken") + " AUTHORIZATION " + q(b.user));  // made by someone else
    try {
        dbt::ensure_environment_schemas(conn, {a.schema + "_taken"}, a.user);
        ADD_FAILURE() << "used a schema another role made";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("schema " + a.schema + "_taken already exists and belongs to role " + b.user));
    }
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
