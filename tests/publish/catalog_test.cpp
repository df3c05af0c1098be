// Publishing from the catalog, end to end on real PostgreSQL with ece's dbt stand-in (tests/dbt_standin, not dbt):
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
#include "process/process.hpp"
#include "publish/catalog_source.hpp"
#include "publish/merge.hpp"
#include "publish/publish.hpp"
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
const fs::path standin = source_dir / "tests/dbt_standin/dbt";
const fs::path demo_project = source_dir / "examples/ece_demo";

const char* const raw_data = R"SQL(
create schema raw;
create table raw.patients(patid bigint, sex text, birth_year int);
create table raw.diagnoses(patid bigint, npi bigint, dx_code text);
create table raw.providers(npi bigint);
create table raw.icd10(code text);
insert into raw.patients values (1,'f',1950),(2,'m',1960),(3,'F',1970),(4,'u',1980),(5,'m',1890),(6,'m',1999);
insert into raw.providers values (10),(11),(12);
insert into raw.icd10 values ('A01'),('B02'),('C03');
insert into raw.diagnoses values (1,10,'a01'),(2,10,'b02'),(3,11,'a01'),(9,99,'Z99');
)SQL";

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
    command.timeout = std::chrono::minutes(2);
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
        build_production();
        environments = std::make_unique<ece::env::Environments>(
            ece::env::Settings{url, config, /*embedded=*/true, std::chrono::seconds(60)});
    }

    // Production as dbt builds it from the raw tables, its manifest the stored production state.
    void build_production() {
        sql(raw_data);
        const fs::path project = copy_project(dir / "production");
        const auto admin = ece::pg::parse_url(url);
        const ece::dbt::BuildTarget target{admin.host, admin.port, admin.dbname, admin.user, admin.password,
                                           "analytics", "analytics", "production", "prodsha", ""};
        fs::create_directories(dir / "prodhome");
        write_file(dir / "prodhome/profiles.yml", ece::dbt::profiles_yml(target, 1));
        ece::process::Command build;
        build.argv = {standin.string(), "build", "--project-dir", project.string(), "--profiles-dir",
                      (dir / "prodhome").string(), "--profile", "ece", "--target", "ece"};
        build.env = ece::dbt::dbt_environment(target, dir / "prodhome", "raw");
        build.timeout = std::chrono::minutes(2);
        const auto result = ece::process::run(build);
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
        ece::dbt::store_production_manifest(conn, project / "target/manifest.json", "prodsha", "test production");
    }

    // ece-env up for pull request 1, and its raw schema: views on production's raw tables, owned by its role.
    ece::env::Identity up_environment() {
        auto up = environments->up({"feature/x", 1, "prhead", std::nullopt});
        const auto& id_base = up.record.base_schema;
        const auto role = q(up.record.role_name);
        const auto raw = q(id_base + "_raw");
        sql("CREATE SCHEMA " + raw + " AUTHORIZATION " + role + "; GRANT USAGE ON SCHEMA raw TO " + role +
            "; GRANT SELECT ON ALL TABLES IN SCHEMA raw TO " + role);
        for (const char* table : {"patients", "diagnoses", "providers", "icd10"}) {
            sql("CREATE VIEW " + raw + "." + table + " AS SELECT * FROM raw." + table + "; ALTER VIEW " + raw + "." +
                table + " OWNER TO " + role);
        }
        return environments->identify("feature/x", 1);
    }

    // What ece-dbt build does in the pull request: the changed model into the environment.
    void build_into_environment(const ece::env::Identity& id, const fs::path& project) {
        const auto target = ece::dbt::build_target_for(*environments, id, "prhead");
        ece::dbt::BuildOptions options;
        options.project_dir = project;
        options.dbt = standin;
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
        options.dbt = standin;
        return options;
    }

    static std::string q(const std::string& name) { return ece::pg::quote_ident(name); }
    void sql(const std::string& text) {
        pqxx::nontransaction tx(conn);
        tx.exec(text);
    }
    std::string scalar(const std::string& text) {
        pqxx::nontransaction tx(conn);
        auto v = tx.exec1(text)[0];
        return v.is_null() ? "" : v.as<std::string>();
    }
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

TEST_F(CatalogPublish, CommandLinePublishesFromTheCatalogOnceWithoutPrintingSecrets) {
    const auto id = up_environment();
    const fs::path pr_project = copy_project(dir / "pr");
    change_distinct_patients(pr_project);
    build_into_environment(id, pr_project);
    write_file(dir / "ece.yml", "production:\n  schemas: [analytics]\n  role: " + config.production.role +
                                    "\n  raw_schema: raw\nenvironments:\n  prefix: " + config.environments.prefix +
                                    "\n");
    const std::vector<std::string> common = {"--pr", "1", "--sha", "clisha", "--project-dir", pr_project.string(),
                                             "--dbt", standin.string(), "--config", (dir / "ece.yml").string(),
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
    EXPECT_FALSE(has_column("analytics", "distinct_patients", "version"));

    for (const auto* result : {&dry, &published, &again, &rolled}) {
        EXPECT_THAT(ece::test::find_secrets(result->out + result->err, secrets), testing::IsEmpty());
    }
}

}  // namespace
