// Report assembly from a real catalog: lib/env's environment, lib/dbt's recorded build, tables in PostgreSQL.
#include "catalog_fixture.hpp"

#include "comment/catalog_report.hpp"
#include "comment/render.hpp"
#include "core/secrets.hpp"

#include <gmock/gmock.h>

namespace ece::comment {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;
using testing_support::CatalogTest;

const cost::PriceCatalogue& prices() {
    static auto catalogue = cost::load_catalogue(std::string(ECE_SOURCE_DIR) + "/data/prices.json");
    return catalogue;
}

const DataChange* change_of(const Report& report, const std::string& model) {
    for (const auto& d : report.data_changes) {
        if (d.model == model) return &d;
    }
    return nullptr;
}

TEST_F(CatalogTest, FillsHeaderDbtAndDataChanges) {
    auto up = make_environment_with_build();
    auto conn = pg::connect(url, "test comment");
    Report report;
    FillOptions options;
    options.counting.exact_count_below = 350;  // stg_patients: 400 rows in the env, 300 in production, estimated
    auto fill = fill_from_catalog(report, conn, env::identify(config.environments.prefix, "feature/data", 12), config,
                                  prices(), options);
    ASSERT_TRUE(fill.environment_found);
    EXPECT_EQ(fill.build_id, build_id);

    EXPECT_EQ(report.header.environment, "pr-12");
    EXPECT_EQ(report.header.branch, "feature/data");
    EXPECT_EQ(report.header.status, Status::failed);
    EXPECT_EQ(report.header.head_sha, "2222222222222222222222222222222222222222");
    EXPECT_EQ(report.header.pr_number, 12);
    EXPECT_THAT(report.header.schemas, testing::Contains(base));
    EXPECT_FALSE(report.header.expires_at.empty());

    ASSERT_TRUE(report.cost && report.cost->environment);
    EXPECT_THAT(report.cost->environment->basis, HasSubstr("0.25"));
    ASSERT_TRUE(report.cost->environment->at_expiry);

    ASSERT_TRUE(report.dbt_plan);
    EXPECT_EQ(report.dbt_plan->deferred, 12);
    ASSERT_TRUE(report.dbt_results);
    ASSERT_EQ(report.dbt_results->size(), 19u);
    EXPECT_EQ(report.dbt_results->front().unique_id, "model.ece_demo.distinct_patients");
    EXPECT_EQ(report.dbt_results->front().status, "error");
    EXPECT_THAT(report.dbt_results->front().message, HasSubstr("division by zero"));
    EXPECT_EQ(report.dbt_results->at(1).unique_id, "model.ece_demo.stg_diagnoses");  // then dbt's order
    EXPECT_EQ(report.dbt_results->at(3).resource_type, "seed");
    EXPECT_EQ(report.dbt_results->at(3).rows, 3);
    EXPECT_THAT(report.warnings, testing::Contains(HasSubstr("1 of 20 nodes failed")));

    ASSERT_EQ(report.data_changes.size(), 4u);  // the ephemeral helper has no relation
    auto* patients = change_of(report, "model.ece_demo.distinct_patients");
    ASSERT_TRUE(patients);
    EXPECT_EQ(patients->rows_environment, 7);
    EXPECT_EQ(patients->rows_production, 5);
    EXPECT_FALSE(patients->rows_environment_estimated);
    ASSERT_EQ(patients->columns.size(), 3u);
    EXPECT_EQ(patients->columns[0].kind, ColumnChange::Kind::retyped);
    EXPECT_EQ(patients->columns[0].column, "name");
    EXPECT_EQ(patients->columns[0].before_type, "text");
    EXPECT_EQ(patients->columns[0].after_type, "character varying(40)");
    EXPECT_EQ(patients->columns[1].kind, ColumnChange::Kind::added);
    EXPECT_EQ(patients->columns[1].column, "email");
    EXPECT_EQ(patients->columns[2].kind, ColumnChange::Kind::removed);
    EXPECT_EQ(patients->columns[2].column, "city");

    // The data diff, as the environment's role, which this fixture lets read production: no key, so rows compared
    // whole on the common columns (patid, and name by its text: retyped).
    ASSERT_TRUE(report.data_diff) << testing::PrintToString(report.warnings);
    const diff::ModelDiff* patients_diff = nullptr;
    for (const auto& m : report.data_diff->models)
        if (m.model == "model.ece_demo.distinct_patients") patients_diff = &m;
    ASSERT_TRUE(patients_diff);
    EXPECT_EQ(patients_diff->method, diff::Method::full_row) << patients_diff->note;
    EXPECT_EQ(patients_diff->unchanged, 5);
    EXPECT_EQ(patients_diff->only_environment, 2);
    EXPECT_EQ(patients_diff->only_production, 0);

    auto* by_sex = change_of(report, "model.ece_demo.patients_by_sex");
    ASSERT_TRUE(by_sex);
    EXPECT_EQ(by_sex->rows_environment, 2);
    EXPECT_EQ(by_sex->rows_production, 2);
    EXPECT_THAT(by_sex->columns, IsEmpty());

    auto* female = change_of(report, "model.ece_demo.female_patients");
    ASSERT_TRUE(female);
    EXPECT_EQ(female->rows_environment, 2);
    EXPECT_FALSE(female->rows_production) << "new in this pull request";

    auto* staging = change_of(report, "model.ece_demo.stg_patients");
    ASSERT_TRUE(staging);
    EXPECT_EQ(staging->rows_environment, 400);
    EXPECT_TRUE(staging->rows_environment_estimated);
    EXPECT_EQ(staging->rows_production, 300);
    EXPECT_FALSE(staging->rows_production_estimated);

    EXPECT_THAT(render_comment(report).markdown, HasSubstr("Data diff: 4 models compared with production"));
    report.data_diff.reset();  // the row-count table, shown when the diff is off (diff.enabled: false)
    auto markdown = render_comment(report).markdown;
    EXPECT_THAT(markdown, HasSubstr("~400"));
    EXPECT_THAT(markdown, HasSubstr("ece-env hints --branch feature/data"));
    EXPECT_THAT(test::find_secrets(markdown, {up.credentials.password, url}), IsEmpty());
}

TEST_F(CatalogTest, PartsGivenByTheCallerAreKept) {
    make_environment_with_build();
    auto conn = pg::connect(url, "test comment");
    Report report;
    report.dbt_results = std::vector<DbtResult>{{"model.x.from_file", "model", "success", 1, 1, ""}};
    FillOptions options;
    options.dbt_plan = false;
    fill_from_catalog(report, conn, env::identify(config.environments.prefix, "feature/data", 12), config, prices(),
                      options);
    EXPECT_FALSE(report.dbt_plan);
    ASSERT_EQ(report.dbt_results->size(), 1u);
    EXPECT_EQ(report.dbt_results->front().unique_id, "model.x.from_file");
}

TEST_F(CatalogTest, NoEnvironmentOrNoCatalogFindsNothing) {
    auto conn = pg::connect(url, "test comment");
    Report report;
    auto id = env::identify(config.environments.prefix, "feature/none", 99);
    EXPECT_FALSE(fill_from_catalog(report, conn, id, config, prices()).environment_found);  // no ece schema at all
    env::Environments(settings()).up({"feature/other", 3, "", std::nullopt});
    EXPECT_FALSE(fill_from_catalog(report, conn, id, config, prices()).environment_found);
    EXPECT_TRUE(report.header.environment.empty());
}

TEST_F(CatalogTest, ADestroyedEnvironmentShowsNoSchemasOrDataChanges) {
    make_environment_with_build();
    env::Environments envs(settings());
    auto id = envs.identify("feature/data", 12);
    envs.down(id);
    auto conn = pg::connect(url, "test comment");
    Report report;
    fill_from_catalog(report, conn, id, config, prices());
    EXPECT_EQ(report.header.status, Status::destroyed);
    EXPECT_THAT(report.header.schemas, IsEmpty());
    EXPECT_THAT(report.data_changes, IsEmpty());
}

TEST_F(CatalogTest, CountingIsBoundedByTheStatementTimeout) {
    auto up = env::Environments(settings()).up({"feature/slow", 5, "", std::nullopt});
    {
        auto as_env = pg::connect(up.credentials.url(), "test as environment");
        pqxx::nontransaction tx(as_env);
        tx.exec("CREATE VIEW " + pg::quote_ident(up.record.base_schema) + ".slow AS SELECT pg_sleep(5)::text AS s");
    }
    auto conn = pg::connect(url, "test comment");
    DataChangeOptions options;
    options.count_timeout = std::chrono::milliseconds(200);
    auto started = std::chrono::steady_clock::now();
    auto changes = data_changes(conn, up.record.role_name, {{"pr-5", "model.x.slow", "model", "c", up.record.base_schema, "slow", "view", 0, ""}},
                                up.record.base_schema, "analytics", options);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(4));  // the view sleeps 5 s
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_FALSE(changes[0].rows_environment) << "a view has no estimate: shown as unknown";
}

TEST(CatalogReport, ProductionSchemaMapping) {
    EXPECT_EQ(production_schema_for("ece_pr_1", "ece_pr_1", "analytics"), "analytics");
    EXPECT_EQ(production_schema_for("ece_pr_1_staging", "ece_pr_1", "analytics"), "analytics_staging");
    EXPECT_FALSE(production_schema_for("ece_pr_12", "ece_pr_1", "analytics"));
    EXPECT_FALSE(production_schema_for("ece_pr_1_", "ece_pr_1", "analytics"));
}

TEST(CatalogReport, EnvironmentCostByProvider) {
    env::Record record;
    record.provider = "postgres";
    record.created_at = env::Clock::now() - std::chrono::hours(10);
    record.expires_at = record.created_at + std::chrono::hours(72);
    config::Config config;
    auto shared = environment_cost(record, config, prices(), std::int64_t{1} << 30, env::Clock::now());
    ASSERT_TRUE(shared);
    EXPECT_THAT(shared->basis, HasSubstr("GB-month"));
    record.provider = "digitalocean";
    record.details = R"({"size": "db-s-1vcpu-1gb", "num_nodes": 1})";
    auto cluster = environment_cost(record, config, prices(), std::nullopt, env::Clock::now());
    ASSERT_TRUE(cluster);
    EXPECT_THAT(cluster->basis, HasSubstr("db-s-1vcpu-1gb"));
    EXPECT_GT(cluster->so_far, cost::Money{});
    record.details = R"({"size": "db-no-such-size", "num_nodes": 1})";
    EXPECT_FALSE(environment_cost(record, config, prices(), std::nullopt, env::Clock::now()));
}

}  // namespace
}  // namespace ece::comment
