// Stateful nodes and every node kind, with real dbt (../shared/tools/dbt) and real PostgreSQL: ece's own project
// tests/publish/kinds_project (incremental model, snapshot, seed in a custom schema through the project's own
// generate_schema_name, ephemeral model, view, materialized view, a table with alias, contract, grants, persist_docs
// and pre/post hooks, on-run-start/end hooks, data and unit tests). Production is built once, as the production
// role; its source then loses a row the incremental model keeps (a source's retention).
//
// What is proven (docs/stateful-nodes.md): a preview starts the snapshot and the incremental model from copies of
// production's tables and runs them incrementally; publish runs them once more on production's current tables
// (history production added after the preview included) and swaps them in: the snapshot's history and the
// incremental rows the source no longer has survive a change to the snapshot's query, to the model it reads and
// to the incremental model; every other kind moves too; a rollback restores production; destroying the
// environment leaves nothing. A full refresh asked for in the model's config replaces the history.
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/build.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "env/environments.hpp"
#include "env/naming.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "publish/merge.hpp"
#include "publish/publish.hpp"
#include "support.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

namespace {

namespace fs = std::filesystem;
namespace publish = ece::publish;
using ece::test::TempDir;

const fs::path kinds_project = fs::path(ECE_SOURCE_DIR) / "tests/publish/kinds_project";

// Real dbt (the lead may swap this for the shared test-support function).
fs::path real_dbt() { return fs::path(ECE_SOURCE_DIR) / "../shared/tools/dbt/bin/dbt"; }

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

void replace_in(const fs::path& file, const std::string& from, const std::string& to) {
    auto text = ece::test::read_file(file);
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << file;
    write_file(file, text.replace(at, from.size(), to));
}

fs::path copy_project(const fs::path& where) {
    fs::copy(kinds_project, where, fs::copy_options::recursive);
    fs::remove_all(where / "target");
    return where;
}

// The pull request's change, one for every kind: the incremental model gets a column (on_schema_change
// append_new_columns), the snapshot's query a column, the view the snapshot reads a column, the seed a row (so the
// ephemeral model and the table that reads it are rebuilt), the materialized view a column.
void change_every_kind(const fs::path& project) {
    replace_in(project / "models/events_inc.sql", "select id, kind from", "select id, kind, upper(kind) as kind_upper from");
    replace_in(project / "snapshots/customers_snapshot.sql", "select id, name, country from",
               "select id, name, country, length(name) as name_length from");
    replace_in(project / "models/stg_customers.sql", "select id, name, country from",
               "select id, name, country, 'v2' as version from");
    replace_in(project / "seeds/countries.csv", "fr,France\n", "fr,France\nit,Italy\n");
    replace_in(project / "models/event_counts_mv.sql", "count(*) as events", "count(*) as events, max(id) as last_id");
}

std::string unique_prefix() {
    std::string prefix = ece::test::unique_name("k");
    prefix.resize(std::min(prefix.size(), ece::env::max_prefix_bytes - 1));
    return prefix + "_";
}

// Production: built by real dbt as the production role, its manifest production's state.
struct Production {
    std::string url = ece::test::fresh_database("stateful");
    ece::config::Config config;
    std::string password = "prod-" + ece::test::unique_name("pw");
    TempDir dir;
    bool built = false;

    Production() {
        config.environments.prefix = unique_prefix();
        config.production.role = ece::test::unique_name("prod");
        config.production.schemas = {"analytics", "analytics__marts", "analytics__ref"};
        config.production.raw_schema = "kinds_raw";
        ece::register_secret(password);
    }

    void build() {
        auto conn = ece::pg::connect(url, "stateful test production");
        const auto role = ece::pg::quote_ident(config.production.role);
        ece::test::execute(conn, "CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "';"
                                 "GRANT CREATE ON DATABASE " + ece::pg::quote_ident(conn.dbname()) + " TO " + role + ";"
                                 "CREATE SCHEMA analytics AUTHORIZATION " + role + ";"
                                 "DO $$ BEGIN CREATE ROLE ece_kinds_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
                                 "CREATE SCHEMA kinds_raw;"
                                 "CREATE TABLE kinds_raw.events (id int, kind text);"
                                 "INSERT INTO kinds_raw.events VALUES (1, 'a'), (2, 'b'), (3, 'a');"
                                 "CREATE TABLE kinds_raw.customers (id int, name text, country text);"
                                 "INSERT INTO kinds_raw.customers VALUES (1, 'ada', 'ch'), (2, 'bob', 'fr');"
                                 "GRANT USAGE ON SCHEMA kinds_raw TO PUBLIC;"
                                 "GRANT SELECT ON ALL TABLES IN SCHEMA kinds_raw TO PUBLIC;");
        const fs::path project = copy_project(dir / "production");
        const auto admin = ece::pg::parse_url(url);
        const ece::dbt::BuildTarget target{admin.host, admin.port, admin.dbname, config.production.role, password,
                                           "analytics", "analytics", "production", "prodsha", ""};
        fs::create_directories(dir / "home");
        write_file(dir / "home/profiles.yml", ece::dbt::profiles_yml(target, 4));
        ece::process::Command build;
        build.argv = {real_dbt().string(), "build", "--project-dir", project.string(), "--profiles-dir",
                      (dir / "home").string(), "--profile", "ece", "--target", "ece"};
        build.cwd = project;
        build.env = ece::dbt::dbt_environment(target, dir / "home", "kinds_raw");
        build.inherit_env = false;
        build.timeout = std::chrono::minutes(5);
        const auto result = ece::process::run(build);
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
        ece::dbt::store_production_manifest(conn, project / "target/manifest.json", "prodsha", "test production");
        // The source's retention drops event 1 (the incremental model keeps it); event 4 and a renamed customer
        // arrive.
        ece::test::execute(conn, "DELETE FROM kinds_raw.events WHERE id = 1; INSERT INTO kinds_raw.events VALUES (4, 'b');"
                                 "UPDATE kinds_raw.customers SET name = 'ada lovelace' WHERE id = 1;");
        built = true;
    }
};

class StatefulPublish : public testing::Test {
protected:
    void SetUp() override {
        production->build();
        ASSERT_TRUE(production->built) << "production was not built";
        conn = ece::pg::connect_owned(production->url, "stateful test");
        environments = std::make_unique<ece::env::Environments>(
            ece::env::Settings{production->url, production->config, /*embedded=*/true, std::chrono::seconds(60)});
    }

    static std::string branch_of(int pr) { return "feature/" + std::to_string(pr); }

    ece::env::Identity up_environment(int pr) {
        environments->up({branch_of(pr), pr, "prhead", std::nullopt});
        return environments->identify(branch_of(pr), pr);
    }

    ece::dbt::BuildReport build_into(const ece::env::Identity& id, const fs::path& project) {
        const auto target = ece::dbt::build_target_for(*environments, id, "prhead");
        ece::dbt::BuildOptions options;
        options.project_dir = project;
        options.dbt = real_dbt();
        options.target_path = project / "target";
        options.on_log_line = [&](std::string_view line) { log += std::string(line) + "\n"; };
        return ece::dbt::run_build(*conn, target, options);
    }

    publish::MergeResult publish_merged(int pr, const fs::path& main_project, const std::string& sha) {
        publish::MergeOptions options;
        options.project_dir = main_project;
        options.dbt = real_dbt();
        options.remove_environment = false;  // the test destroys it itself, to prove destroy leaves nothing
        options.on_log_line = [&](std::string_view line) { log += std::string(line) + "\n"; };
        return publish::publish_merged(production->url, *environments, {branch_of(pr), pr, sha}, options);
    }

    std::string scalar(const std::string& sql) { return ece::test::scalar(*conn, sql); }
    int number(const std::string& sql) { return std::stoi(scalar(sql)); }
    // Of tables, views and materialized views alike (information_schema leaves materialized views out).
    bool has_column(const std::string& schema, const std::string& relation, const std::string& column) {
        pqxx::nontransaction tx(*conn);
        return tx.exec_params1("SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
                               "AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped",
                               schema, relation, column)[0]
                   .as<int>() == 1;
    }

    std::unique_ptr<Production> production = std::make_unique<Production>();
    std::unique_ptr<pqxx::connection> conn;
    std::unique_ptr<ece::env::Environments> environments;
    TempDir dir;
    std::string log;
};

// One life, to build production once: a pull request changing every kind (published, rolled back, destroyed), then
// one asking for a full refresh (published, rolled back, destroyed).
TEST_F(StatefulPublish, HistorySurvivesPublishEveryKindMovesRollbackRestoresDestroyLeavesNothingFullRefreshReplaces) {
    const auto id = up_environment(1);
    const auto record = *environments->find(id);
    const auto& base = record.base_schema;
    const fs::path project = copy_project(dir / "pr");
    change_every_kind(project);

    // Preview: every changed kind built into the environment; the stateful nodes start from production's tables.
    const auto report = build_into(id, project);
    ASSERT_TRUE(report.ok()) << report.message << log;
    ASSERT_EQ(report.stateful.size(), 2u) << log;
    for (const auto& s : report.stateful) {
        EXPECT_EQ(s.how, ece::dbt::StatefulStart::How::from_production) << ece::dbt::describe(s);
    }
    EXPECT_EQ(number("SELECT count(*) FROM " + base + ".events_inc WHERE id = 1"), 1)
        << "the event the source dropped comes from production's history";
    EXPECT_EQ(number("SELECT count(*) FROM " + base + ".events_inc"), 4);
    EXPECT_EQ(scalar("SELECT kind_upper FROM " + base + ".events_inc WHERE id = 4"), "B") << "an incremental run";
    EXPECT_EQ(number("SELECT count(*) FROM " + base + ".customers_snapshot WHERE dbt_valid_to IS NOT NULL"), 2)
        << "production's versions, closed by the changed query";
    EXPECT_EQ(number("SELECT count(*) FROM " + base + ".customers_snapshot"), 4);
    EXPECT_EQ(number("SELECT count(*) FROM " + base + "__ref.countries"), 3);  // seed, the project's schema naming
    EXPECT_EQ(scalar("SELECT relkind FROM pg_class WHERE oid = '" + base + "__marts.event_counts_mv'::regclass"), "m");
    EXPECT_EQ(scalar("SELECT obj_description('" + base + "__marts.customers_dim'::regclass)"),
              "customers with their country's name")
        << "persist_docs";
    EXPECT_EQ(scalar("SELECT country FROM " + base + "__marts.customers_dim WHERE id = 2"), "FRANCE")  // ephemeral
        << "alias customers_dim, ephemeral countries_eph";
    EXPECT_EQ(scalar("SELECT string_agg(phase, ',' ORDER BY phase) FROM " + base + ".run_log"), "end,post,pre")
        << "on-run-start made the table, the model's pre and post hooks and on-run-end wrote to it";

    // Production moves on after the preview: its own scheduled run adds a row (event 0, from a late source).
    ece::test::execute(*conn, "INSERT INTO analytics.events_inc VALUES (0, 'late')");
    const auto before_oid = scalar("SELECT 'analytics.events_inc'::regclass::oid");

    const auto merged = publish_merged(1, project, "mergesha1");
    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published) << log;
    ASSERT_TRUE(merged.stateful_build_id) << log;
    EXPECT_EQ(merged.stateful.size(), 2u);

    // The incremental model: production's rows (1, which the source dropped; 0, added after the preview), the
    // merged code's increment (4) and its new column.
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.events_inc"), "0,1,2,3,4");
    EXPECT_TRUE(has_column("analytics", "events_inc", "kind_upper"));
    EXPECT_EQ(scalar("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'analytics.events_inc'::regclass"),
              production->config.production.role);
    // The snapshot: both of production's versions kept (closed), the changed query's versions open.
    EXPECT_EQ(number("SELECT count(*) FROM analytics.customers_snapshot WHERE dbt_valid_to IS NOT NULL"), 2);
    EXPECT_EQ(scalar("SELECT name FROM analytics.customers_snapshot WHERE id = 1 AND dbt_valid_to IS NOT NULL"), "ada");
    EXPECT_EQ(scalar("SELECT name_length FROM analytics.customers_snapshot WHERE id = 1 AND dbt_valid_to IS NULL"), "12");
    // Every other kind moved.
    EXPECT_TRUE(has_column("analytics", "stg_customers", "version"));
    EXPECT_EQ(number("SELECT count(*) FROM analytics__ref.countries"), 3);
    EXPECT_TRUE(has_column("analytics__marts", "event_counts_mv", "last_id"));
    EXPECT_EQ(scalar("SELECT max(last_id) FROM analytics__marts.event_counts_mv"), "4");
    EXPECT_EQ(scalar("SELECT obj_description('analytics__marts.customers_dim'::regclass)"),
              "customers with their country's name");
    EXPECT_EQ(scalar("SELECT has_table_privilege('ece_kinds_reader', 'analytics__marts.customers_dim', 'SELECT')"), "t")
        << "grants config";
    EXPECT_EQ(scalar("SELECT count(*) FROM analytics__marts.customers_dim"), "2");

    // Rollback: production's tables as they were before the publish, event 0 included.
    const auto rolled = publish::rollback(*conn, merged.publish.id, publish::Options{});
    EXPECT_EQ(rolled.outcome, publish::Outcome::rolled_back);
    EXPECT_EQ(scalar("SELECT 'analytics.events_inc'::regclass::oid"), before_oid);
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.events_inc"), "0,1,2,3");
    EXPECT_FALSE(has_column("analytics", "events_inc", "kind_upper"));
    EXPECT_EQ(number("SELECT count(*) FROM analytics.customers_snapshot"), 2);
    EXPECT_FALSE(has_column("analytics", "stg_customers", "version"));
    EXPECT_EQ(number("SELECT count(*) FROM analytics__ref.countries"), 2);
    EXPECT_FALSE(has_column("analytics__marts", "event_counts_mv", "last_id"));

    // Destroy: nothing of the environment is left.
    environments->down(id);
    EXPECT_EQ(number("SELECT count(*) FROM pg_namespace WHERE nspname LIKE '" + base + "%'"), 0);
    EXPECT_EQ(number("SELECT count(*) FROM pg_roles WHERE rolname = '" + record.role_name + "'"), 0);

    // A second pull request asks for a full refresh of the incremental model in its config.
    const auto second = up_environment(2);
    const auto second_record = *environments->find(second);
    const auto& second_base = second_record.base_schema;
    const fs::path refresh = copy_project(dir / "pr2");
    replace_in(refresh / "models/events_inc.sql", "on_schema_change='append_new_columns'",
               "on_schema_change='append_new_columns', meta={'ece': {'full_refresh': true}}");

    const auto refresh_report = build_into(second, refresh);
    ASSERT_TRUE(refresh_report.ok()) << refresh_report.message << log;
    ASSERT_EQ(refresh_report.stateful.size(), 1u) << log;
    EXPECT_EQ(refresh_report.stateful[0].how, ece::dbt::StatefulStart::How::full_refresh);
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM " + second_base + ".events_inc"), "2,3,4");

    const auto refreshed = publish_merged(2, refresh, "mergesha2");
    ASSERT_EQ(refreshed.publish.outcome, publish::Outcome::published) << log;
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.events_inc"), "2,3,4")
        << "a full refresh replaces production's history with the source's rows";

    publish::rollback(*conn, refreshed.publish.id, publish::Options{});
    EXPECT_EQ(scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.events_inc"), "0,1,2,3")
        << "rollback restores the history";
    environments->down(second);
    EXPECT_EQ(number("SELECT count(*) FROM pg_roles WHERE rolname = '" + second_record.role_name + "'"), 0);
}

}  // namespace
