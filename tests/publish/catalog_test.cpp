// Publishing from the catalog, end to end on real PostgreSQL with real dbt (ece::test::real_dbt()):
// production built from small raw tables with its manifest stored, an environment made by lib/env, a changed model
// built into it by lib/dbt's run_build, then publish_merged (and the ece-publish binary) from the catalog.
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/build.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "publish_fixture.hpp"
#include "process/process.hpp"
#include "publish/catalog_source.hpp"
#include "publish/merge.hpp"
#include "publish/publish.hpp"
#include "stage/stage.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>

namespace {

namespace fs = std::filesystem;
namespace publish = ece::publish;
using ece::test::TempDir;
using testing::HasSubstr;

const fs::path source_dir = ECE_SOURCE_DIR;
const fs::path demo_project = source_dir / "examples/ece_demo";

const char* const raw_data = ece::test::demo_raw_data_sql;

fs::path copy_project(const fs::path& where) {
    fs::copy(demo_project, where, fs::copy_options::recursive);
    fs::remove_all(where / "target");
    return where;
}

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

// The pull request's change: a column on a table model.
void change_distinct_patients(const fs::path& project) {
    write_file(project / "models/marts/distinct_patients.sql",
               "select distinct patid, 'pr' as version\nfrom {{ ref('stg_patients') }}\n");
}

// Another change that reached main meanwhile.
void change_observed_diagnoses(const fs::path& project) {
    write_file(project / "models/marts/observed_diagnoses.sql",
               "select distinct i.code as dx_code, 'main' as version\nfrom {{ source('raw', 'icd10') }} as i\n"
               "join {{ ref('stg_diagnoses') }} as d on d.dx_code = i.code\n");
}

std::string unique_prefix() {
    std::string prefix = ece::test::unique_name("p");
    prefix.resize(std::min(prefix.size(), ece::env::max_prefix_bytes - 1));
    return prefix + "_";
}

ece::process::Result ece_publish(const std::vector<std::string>& args) {
    ece::process::Command command;
    command.argv = {ECE_PUBLISH_BIN};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.timeout = std::chrono::minutes(10);
    return ece::process::run(command);
}

class CatalogPublish : public testing::Test {
protected:
    CatalogPublish() : url(ece::test::fresh_database("pubcat")), conn(ece::pg::connect(url, "test")) {
        config.environments.prefix = unique_prefix();
        config.production.role = ece::test::unique_name("prod");
        config.production.schemas = {"analytics"};
        config.production.raw_schema = "raw";
    }

    void SetUp() override {
        ASSERT_NO_FATAL_FAILURE(build_production());
        environments = std::make_unique<ece::env::Environments>(
            ece::env::Settings{url, config, /*embedded=*/true, std::chrono::seconds(60)});
    }

    // Production as dbt builds it from the raw tables, its manifest the stored production state.
    // Production's raw tables: plain tables here, staged by lib/stage in StagedCatalogPublish.
    virtual void load_raw_data() { sql(raw_data); }

    void build_production() {
        load_raw_data();
        const fs::path project = copy_project(dir / "production");
        const auto admin = ece::pg::parse_url(url);
        const ece::dbt::BuildTarget target{admin.host, admin.port, admin.dbname, admin.user, admin.password,
                                           "analytics", "analytics", "production", "prodsha", ""};
        fs::create_directories(dir / "prodhome");
        write_file(dir / "prodhome/profiles.yml", ece::dbt::profiles_yml(target, 1));
        ece::process::Command build;
        build.argv = {ece::test::real_dbt().string(), "build", "--project-dir", project.string(), "--profiles-dir",
                      (dir / "prodhome").string(), "--profile", "ece", "--target", "ece"};
        build.env = ece::dbt::dbt_environment(target, dir / "prodhome", "raw");
        build.timeout = std::chrono::minutes(10);  // real dbt: seconds when idle, minutes on a loaded machine
        const auto result = ece::process::run(build);
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
        ece::dbt::store_production_manifest(conn, project / "target/manifest.json", "prodsha", "test production");
    }

    // ece-env up for pull request 1, and its raw schema: views on production's raw tables, owned by its role.
    ece::env::Identity up_environment(const std::string& branch = "feature/x", std::int64_t pr = 1) {
        auto up = environments->up({branch, pr, "prhead", std::nullopt});
        const auto& id_base = up.record.base_schema;
        const auto role = q(up.record.role_name);
        const auto raw = q(id_base + "_raw");
        sql("CREATE SCHEMA " + raw + " AUTHORIZATION " + role + "; GRANT USAGE ON SCHEMA raw TO " + role +
            "; GRANT SELECT ON ALL TABLES IN SCHEMA raw TO " + role);
        for (const char* table : {"patients", "diagnoses", "providers", "icd10"}) {
            sql("CREATE VIEW " + raw + "." + table + " AS SELECT * FROM raw." + table + "; ALTER VIEW " + raw + "." +
                table + " OWNER TO " + role);
        }
        return environments->identify(branch, pr);
    }

    // What ece-dbt build does in the pull request: the changed model into the environment.
    void build_into_environment(const ece::env::Identity& id, const fs::path& project) {
        const auto target = ece::dbt::build_target_for(*environments, id, "prhead");
        ece::dbt::BuildOptions options;
        options.project_dir = project;
        options.dbt = ece::test::real_dbt();
        std::string log;
        options.on_log_line = [&](std::string_view line) { log += std::string(line) + "\n"; };
        const auto report = ece::dbt::run_build(conn, target, options);
        ASSERT_TRUE(report.ok()) << report.message << log;
        ASSERT_GT(report.built_count, 0u);
    }

    publish::MergeOptions merge_options(const fs::path& main_project, publish::OnStale on_stale) {
        publish::MergeOptions options;
        options.publish.on_stale = on_stale;
        options.project_dir = main_project;
        options.dbt = ece::test::real_dbt();
        return options;
    }

    static std::string q(const std::string& name) { return ece::pg::quote_ident(name); }
    void sql(const std::string& text) { ece::test::execute(conn, text); }
    std::string scalar(const std::string& text) { return ece::test::scalar(conn, text); }
    bool has_column(const std::string& schema, const std::string& table, const std::string& column) {
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 "
                               "AND table_name = $2 AND column_name = $3",
                               schema, table, column)[0]
                   .as<int>() == 1;
    }
    int count_of(const std::string& sql_text) { return std::stoi(scalar(sql_text)); }

    TempDir dir;
    std::string url;
    pqxx::connection conn;
    ece::config::Config config;
    std::unique_ptr<ece::env::Environments> environments;
};

TEST_F(CatalogPublish, PublishesTheBuiltModelStoresTheManifestRemovesTheEnvironmentOnceAndRollsBack) {
    const auto id = up_environment();
    const fs::path pr_project = copy_project(dir / "pr");
    change_distinct_patients(pr_project);
    build_into_environment(id, pr_project);
    ASSERT_TRUE(has_column(id.base_schema, "distinct_patients", "version"));
    const auto old_oid = scalar("SELECT 'analytics.distinct_patients'::regclass::oid::int8");

    // main after the merge is the pull request's code.
    const auto merged = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                                merge_options(pr_project, publish::OnStale::strict));

    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published);
    EXPECT_FALSE(merged.already_published);
    EXPECT_FALSE(merged.rebuild_id);
    EXPECT_THAT(merged.warnings, testing::IsEmpty());
    EXPECT_EQ(merged.rollback_command(), "ece-publish --rollback " + std::to_string(merged.publish.id));
    std::set<std::string> moved;
    for (const auto& m : merged.publish.relations) moved.insert(ece::publish::display(m.production));
    EXPECT_THAT(moved, testing::Contains("analytics.distinct_patients"));
    // Production serves the new relation; the archive holds the old one.
    EXPECT_TRUE(has_column("analytics", "distinct_patients", "version"));
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.distinct_patients WHERE version = 'pr'"), 5);
    ASSERT_EQ(merged.publish.archive_schemas.size(), 1u);
    const auto archive = merged.publish.archive_schemas.front();
    EXPECT_FALSE(has_column(archive, "distinct_patients", "version"));
    EXPECT_EQ(scalar("SELECT to_regclass('" + archive + ".distinct_patients')::oid::int8"), old_oid);

    // The merged manifest is production's state now.
    const auto state = ece::dbt::load_production_manifest_json(conn);
    ASSERT_TRUE(state);
    EXPECT_EQ(state->id, merged.manifest_id.value_or(-1));
    EXPECT_EQ(state->sha, "mergesha");
    EXPECT_EQ(state->source, "publish #" + std::to_string(merged.publish.id));
    EXPECT_THAT(state->json, HasSubstr("'pr' as version"));

    // The environment is gone: no schema, no role, nothing built on record.
    EXPECT_TRUE(merged.environment_removed);
    EXPECT_EQ(count_of("SELECT count(*) FROM pg_namespace WHERE nspname IN ('" + id.base_schema + "', '" +
                       id.base_schema + "_raw')"),
              0);
    EXPECT_EQ(count_of("SELECT count(*) FROM pg_roles WHERE rolname = '" + id.role + "'"), 0);
    EXPECT_EQ(environments->find(id)->status, ece::env::Status::destroyed);
    EXPECT_THAT(ece::dbt::built_nodes(conn, id.name), testing::IsEmpty());

    // The second trigger of the same merge (push to main after the merged pull_request) does nothing.
    const auto again = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                               merge_options(pr_project, publish::OnStale::strict));
    EXPECT_TRUE(again.already_published);
    EXPECT_EQ(again.publish.outcome, publish::Outcome::already_published);
    EXPECT_EQ(again.publish.id, merged.publish.id);
    EXPECT_EQ(publish::list_publishes(conn).size(), 1u);

    // Rollback restores the old relation.
    const auto rolled = publish::rollback(conn, std::nullopt, publish::Options{});
    EXPECT_EQ(rolled.outcome, publish::Outcome::rolled_back);
    EXPECT_EQ(rolled.rolled_back_id, merged.publish.id);
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));
    EXPECT_EQ(scalar("SELECT 'analytics.distinct_patients'::regclass::oid::int8"), old_oid);
}

// Publish A, then B; roll B back: production serves A, and so does its stored state (B's manifest is retired in
// the rollback's transaction), so the next plan compares with A. Rolling the rollback back restores B's.
TEST_F(CatalogPublish, RollbackRetiresTheRolledBackPublishsManifestAndRollingTheRollbackBackRestoresIt) {
    const auto first = up_environment("feature/a", 1);
    const fs::path a_project = copy_project(dir / "a");
    change_distinct_patients(a_project);
    build_into_environment(first, a_project);
    const auto a = publish::publish_merged(url, *environments, {std::nullopt, 1, "shaA"},
                                           merge_options(a_project, publish::OnStale::strict));
    ASSERT_EQ(a.publish.outcome, publish::Outcome::published);

    const auto second = up_environment("feature/b", 2);
    const fs::path b_project = copy_project(dir / "b");
    change_distinct_patients(b_project);
    change_observed_diagnoses(b_project);
    build_into_environment(second, b_project);
    const auto b = publish::publish_merged(url, *environments, {std::nullopt, 2, "shaB"},
                                           merge_options(b_project, publish::OnStale::strict));
    ASSERT_EQ(b.publish.outcome, publish::Outcome::published);
    ASSERT_EQ(ece::dbt::load_production_manifest_json(conn)->id, b.manifest_id.value_or(-1));

    publish::Options keep_all;
    keep_all.keep_archives = 10;  // every archive stays, so that each rollback below can be rolled back
    const auto rolled = publish::rollback(conn, std::nullopt, keep_all);
    ASSERT_EQ(rolled.rolled_back_id, b.publish.id);
    EXPECT_EQ(rolled.production_state, "retired the manifest publish #" + std::to_string(b.publish.id) +
                                           " stored: production's state is the one before it again");
    EXPECT_FALSE(has_column("analytics", "observed_diagnoses", "version"));
    auto state = ece::dbt::load_production_manifest_json(conn);
    ASSERT_TRUE(state);
    EXPECT_EQ(state->id, a.manifest_id.value_or(-1));
    EXPECT_EQ(state->sha, "shaA");
    EXPECT_EQ(state->source, "publish #" + std::to_string(a.publish.id));
    EXPECT_EQ(scalar("SELECT retired_by FROM ece.state_manifests WHERE id = " + std::to_string(*b.manifest_id)),
              "rollback #" + std::to_string(rolled.id));

    // The next plan of main (B's code) compares with A: B's change is to build again, A's is not.
    const auto production = ece::dbt::find_production_state({std::nullopt, &conn, {}, "", dir.path() / "state"});
    ASSERT_TRUE(production.dir) << production.missing_reason;
    EXPECT_THAT(production.source, HasSubstr("publish #" + std::to_string(a.publish.id)));
    const auto main_manifest = ece::dbt::load_manifest(
        publish::parse_main(*environments, b_project, ece::test::real_dbt(), dir.path() / "b_target", std::chrono::minutes(10)));
    const auto plan = ece::dbt::plan_changes(main_manifest, ece::dbt::load_manifest(*production.dir / "manifest.json"),
                                             ece::dbt::parse_selector("state:modified+"), production.source);
    EXPECT_THAT(plan.selected_ids(), testing::Contains("model.ece_demo.observed_diagnoses"));
    EXPECT_THAT(plan.selected_ids(), testing::Not(testing::Contains("model.ece_demo.distinct_patients")));

    // Rolling the rollback back serves B again, and B's manifest is production's state again; once more: A's.
    const auto reapplied = publish::rollback(conn, rolled.id, keep_all);
    EXPECT_THAT(reapplied.production_state, HasSubstr("restored the manifest publish #" + std::to_string(b.publish.id)));
    EXPECT_GT(count_of("SELECT count(*) FROM analytics.observed_diagnoses WHERE version = 'main'"), 0);
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->id, b.manifest_id.value_or(-1));
    EXPECT_EQ(scalar("SELECT retired_by FROM ece.state_manifests WHERE id = " + std::to_string(*b.manifest_id)), "");
    publish::rollback(conn, reapplied.id, keep_all);
    EXPECT_FALSE(has_column("analytics", "observed_diagnoses", "version"));
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->id, a.manifest_id.value_or(-1));

    // Rolling A back too leaves the state production was built with.
    publish::rollback(conn, a.publish.id, keep_all);
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));
    EXPECT_EQ(ece::dbt::load_production_manifest_json(conn)->source, "test production");
}

TEST_F(CatalogPublish, StaleEnvironmentIsRefusedWithTheListInStrictModeAndRebuiltInRebuildMode) {
    const auto id = up_environment();
    const fs::path pr_project = copy_project(dir / "pr");
    change_distinct_patients(pr_project);
    build_into_environment(id, pr_project);
    // main: the pull request plus another change that merged meanwhile.
    const fs::path main_project = copy_project(dir / "main");
    change_distinct_patients(main_project);
    change_observed_diagnoses(main_project);

    try {
        publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                merge_options(main_project, publish::OnStale::strict));
        ADD_FAILURE() << "a stale environment was published in --strict mode";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("stale"));
        EXPECT_THAT(e.what(), HasSubstr("model.ece_demo.observed_diagnoses"));
        EXPECT_THAT(e.what(), testing::Not(HasSubstr("model.ece_demo.distinct_patients")));
    }
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));
    EXPECT_EQ(environments->find(id)->status, ece::env::Status::ready);

    const auto merged = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                                merge_options(main_project, publish::OnStale::rebuild));
    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published);
    ASSERT_TRUE(merged.rebuild_id);
    EXPECT_EQ(merged.rebuild_status, "success");
    std::vector<std::string> stale;
    for (const auto& node : merged.publish.stale.nodes) stale.push_back(node.unique_id);
    EXPECT_THAT(stale, testing::Contains("model.ece_demo.observed_diagnoses"));
    // Production serves both changes.
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.distinct_patients WHERE version = 'pr'"), 5);
    EXPECT_GT(count_of("SELECT count(*) FROM analytics.observed_diagnoses WHERE version = 'main'"), 0);
    EXPECT_TRUE(merged.environment_removed);
}

TEST_F(CatalogPublish, NodeBuiltAtAChecksumMainDropsWhileMainKeepsProductionsIsRebuiltNotAConflict) {
    const auto id = up_environment();
    const fs::path pr_project = copy_project(dir / "pr");
    change_distinct_patients(pr_project);
    build_into_environment(id, pr_project);
    // main has distinct_patients as production has it (the pull request's change to it did not survive), and
    // another change: state:modified does not select distinct_patients, yet the environment holds the pull
    // request's version of it.
    const fs::path main_project = copy_project(dir / "main");
    change_observed_diagnoses(main_project);

    const auto merged = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                                merge_options(main_project, publish::OnStale::rebuild));

    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published);
    EXPECT_EQ(merged.rebuild_status, "success");
    std::map<std::string, publish::StaleNode::Reason> stale;
    for (const auto& node : merged.publish.stale.nodes) stale[node.unique_id] = node.reason;
    EXPECT_EQ(stale.at("model.ece_demo.distinct_patients"), publish::StaleNode::Reason::changed);
    EXPECT_EQ(stale.at("model.ece_demo.observed_diagnoses"), publish::StaleNode::Reason::not_built);
    // The rebuild selected distinct_patients explicitly (BuildOptions::also_select), next to what state:modified+
    // selects; production's manifest stayed as it was stored.
    ASSERT_TRUE(merged.rebuild_id);
    EXPECT_THAT(scalar("SELECT plan::text FROM ece.builds WHERE id = " + std::to_string(*merged.rebuild_id)),
                HasSubstr("also selected by --select model.ece_demo.distinct_patients+"));
    // Production serves main: distinct_patients as main has it, observed_diagnoses changed.
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.distinct_patients"), 5);
    EXPECT_GT(count_of("SELECT count(*) FROM analytics.observed_diagnoses WHERE version = 'main'"), 0);
}

TEST_F(CatalogPublish, CommandLinePublishesFromTheCatalogOnceWithoutPrintingSecrets) {
    const auto id = up_environment();
    const fs::path pr_project = copy_project(dir / "pr");
    change_distinct_patients(pr_project);
    build_into_environment(id, pr_project);
    write_file(dir / "ece.yml", "production:\n  schemas: [analytics]\n  role: " + config.production.role +
                                    "\n  raw_schema: raw\nenvironments:\n  prefix: " + config.environments.prefix +
                                    "\n");
    const std::vector<std::string> common = {"--pr", "1", "--sha", "clisha", "--project-dir", pr_project.string(),
                                             "--dbt", ece::test::real_dbt().string(), "--config", (dir / "ece.yml").string(),
                                             "--database-url", url};
    auto with = [&](std::vector<std::string> extra) {
        auto args = common;
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    };
    std::vector<std::string> secrets = {url};
    if (const auto password = ece::pg::parse_url(url).password; !password.empty()) secrets.push_back(password);

    const auto dry = ece_publish(with({"--dry-run"}));
    EXPECT_EQ(dry.exit_code, 0) << dry.out << dry.err;
    EXPECT_THAT(dry.out, HasSubstr("dry run: would publish"));
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));

    const auto published = ece_publish(with({}));
    ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
    EXPECT_THAT(published.out, HasSubstr("published "));
    EXPECT_THAT(published.out, HasSubstr("relations of environment pr-1 in "));
    EXPECT_THAT(published.out, testing::ContainsRegex("undo with: ece-publish --rollback [0-9]+"));
    EXPECT_THAT(published.out, HasSubstr("removed environment pr-1"));
    EXPECT_TRUE(has_column("analytics", "distinct_patients", "version"));

    const auto again = ece_publish(with({"--format", "json"}));
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    const auto json = boost::json::parse(again.out).as_object();
    EXPECT_EQ(json.at("outcome").as_string(), "already_published");
    EXPECT_TRUE(json.at("already_published").as_bool());

    const auto rolled = ece_publish({"--rollback", "--database-url", url, "--config", (dir / "ece.yml").string()});
    EXPECT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err;
    EXPECT_THAT(rolled.out, HasSubstr("rolled back publish #"));
    EXPECT_THAT(rolled.out, HasSubstr("retired the manifest publish #"));
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));

    for (const auto* result : {&dry, &published, &again, &rolled}) {
        EXPECT_THAT(ece::test::find_secrets(result->out + result->err, secrets), testing::IsEmpty());
    }
}

}  // namespace

namespace {

const char* const patients_csv = "patid,sex,birth_year\n1,f,1950\n2,m,1960\n3,F,1970\n4,u,1980\n5,m,1890\n6,m,1999\n";

// The same raw data as ece-stage loads it: content tables in ece_content, views in production's raw schema and in
// the environment's <base>_raw.
class StagedCatalogPublish : public CatalogPublish {
protected:
    void load_raw_data() override {
        stage({.name = "production", .raw_schema = "raw", .owner_role = {}, .production = true}, patients_csv);
    }

    std::vector<ece::stage::StagedTable> stage(const ece::stage::Environment& where, const std::string& patients) {
        const auto data = dir / where.name;
        fs::create_directories(data);
        const std::map<std::string, std::string> files = {
            {"patients", patients},
            {"diagnoses", "patid,npi,dx_code\n1,10,a01\n2,10,b02\n3,11,a01\n9,99,Z99\n"},
            {"providers", "npi\n10\n11\n12\n"},
            {"icd10", "code\nA01\nB02\nC03\n"},
        };
        std::vector<ece::stage::TableDecl> tables;
        for (const auto& [name, text] : files) {
            write_file(data / (name + ".csv"), text);
            tables.push_back(ece::stage::parse_table_flag(name + "=" + (data / (name + ".csv")).string()));
        }
        return ece::stage::stage_tables(url, where, tables);
    }

    // ece-env up for pull request 1, then ece-stage into its raw schema (patients from the given file).
    ece::env::Identity up_staged_environment(const std::string& patients) {
        auto up = environments->up({"feature/x", 1, "prhead", std::nullopt});
        stage({.name = up.record.name, .raw_schema = up.record.base_schema + "_raw", .owner_role = up.record.role_name,
               .production = false},
              patients);
        return environments->identify("feature/x", 1);
    }

    // The body_change scenario (../shared/fixtures/dbt/scenarios/body_change): a column on the stg_patients view.
    fs::path body_change_project() {
        const fs::path project = copy_project(dir / "pr");
        write_file(project / "models/staging/stg_patients.sql",
                   "select\n    patid,\n    upper(sex) as sex,\n    birth_year,\n"
                   "    (birth_year / 10) * 10 as birth_decade\nfrom {{ source('raw', 'patients') }}\n"
                   "where birth_year >= {{ var('min_birth_year') }}\n");
        return project;
    }

    // The relations a view reads (pg_depend), "schema.name, ..." sorted.
    std::string reads_of(const std::string& view) { return scalar(ece::test::view_reads_query(view)); }
    // The content table a raw view reads.
    std::string content_of(const std::string& view) {
        return scalar("SELECT string_agg(DISTINCT c.relname, ', ') FROM pg_rewrite r JOIN pg_depend d ON d.objid = r.oid "
                      "AND d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass "
                      "JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "AND n.nspname = 'ece_content' WHERE r.ev_class = '" + view + "'::regclass");
    }
    std::string production_usage(const std::string& table) {
        return scalar("SELECT content_table FROM ece.staged_usage WHERE environment = 'production' "
                      "AND table_name = '" + table + "'");
    }
    void expect_environment_gone(const ece::env::Identity& id) {
        EXPECT_EQ(count_of("SELECT count(*) FROM pg_namespace WHERE nspname IN ('" + id.base_schema + "', '" +
                           id.base_schema + "_raw')"),
                  0);
        EXPECT_EQ(count_of("SELECT count(*) FROM pg_roles WHERE rolname = '" + id.role + "'"), 0);
    }
};

TEST_F(StagedCatalogPublish, ChangedViewModelOnUnchangedStagedDataReadsProductionsRawViewsAndTheEnvironmentGoes) {
    const auto id = up_staged_environment(patients_csv);
    build_into_environment(id, body_change_project());
    ASSERT_EQ(reads_of(q(id.base_schema) + ".stg_patients"), id.base_schema + "_raw.patients");

    const auto merged = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                                merge_options(dir / "pr", publish::OnStale::strict));

    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published);
    // ece-env down succeeded: no production view depends on the environment's raw views any more.
    EXPECT_THAT(merged.warnings, testing::IsEmpty());
    EXPECT_TRUE(merged.environment_removed);
    expect_environment_gone(id);
    // The same staged data: no staged view moved, the published view was recreated on production's raw schema.
    for (const auto& m : merged.publish.relations) EXPECT_NE(m.production.schema, "raw") << display(m.production);
    EXPECT_THAT(merged.publish.rebound_views, testing::Contains(publish::QualifiedName{"analytics", "stg_patients"}));
    EXPECT_EQ(reads_of("analytics.stg_patients"), "raw.patients");
    EXPECT_THAT(scalar("SELECT pg_get_viewdef('analytics.stg_patients'::regclass)"), HasSubstr("raw.patients"));
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients WHERE birth_decade = 1950"), 1);
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients"), 5);

    // gc after the environment is gone drops nothing production reads.
    const auto dropped = ece::stage::gc(conn);
    EXPECT_THAT(dropped, testing::IsEmpty());
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients"), 5);
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.distinct_patients"), 5);
}

TEST_F(StagedCatalogPublish, ChangedStagedDataIsPublishedWithTheViewThatReadsItAndGcKeepsWhatProductionReads) {
    const auto production_patients = content_of("raw.patients");
    const auto id = up_staged_environment(std::string(patients_csv) + "7,f,1955\n");
    build_into_environment(id, body_change_project());
    const auto environment_patients = content_of(q(id.base_schema + "_raw") + ".patients");
    ASSERT_NE(environment_patients, production_patients);

    const auto merged = publish::publish_merged(url, *environments, {std::nullopt, 1, "mergesha"},
                                                merge_options(dir / "pr", publish::OnStale::strict));

    ASSERT_EQ(merged.publish.outcome, publish::Outcome::published);
    EXPECT_THAT(merged.warnings, testing::IsEmpty());
    EXPECT_TRUE(merged.environment_removed);
    expect_environment_gone(id);
    ASSERT_EQ(merged.publish.archive_schemas.size(), 2u);  // analytics' and raw's
    // The staged view moved into production's raw schema in the same transaction; the old one is archived.
    EXPECT_EQ(content_of("raw.patients"), environment_patients);
    EXPECT_EQ(reads_of("analytics.stg_patients"), "raw.patients");
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients WHERE birth_decade = 1950"), 2);
    std::string raw_archive;
    for (const auto& m : merged.publish.relations) {
        if (m.production == publish::QualifiedName{"raw", "patients"}) raw_archive = m.archive_schema.value_or("");
    }
    ASSERT_FALSE(raw_archive.empty());
    EXPECT_EQ(content_of(raw_archive + ".patients"), production_patients);
    // The usage catalog says what production reads now.
    EXPECT_EQ(production_usage("patients"), environment_patients);

    EXPECT_THAT(ece::stage::gc(conn), testing::IsEmpty());
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients"), 6);
    EXPECT_EQ(count_of("SELECT count(*) FROM raw.patients"), 7);
    EXPECT_EQ(count_of("SELECT count(*) FROM " + raw_archive + ".patients"), 6);

    // A rollback brings production's data back, and the usage with it; gc still keeps both.
    publish::rollback(conn, std::nullopt, publish::Options{});
    EXPECT_EQ(content_of("raw.patients"), production_patients);
    EXPECT_EQ(production_usage("patients"), production_patients);
    EXPECT_THAT(ece::stage::gc(conn), testing::IsEmpty());
    EXPECT_EQ(count_of("SELECT count(*) FROM analytics.stg_patients"), 5);
    EXPECT_FALSE(has_column("analytics", "stg_patients", "birth_decade"));
}

}  // namespace
