#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.hpp"
#include "dbt/run_results.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

using ece::test::fixture;
using testing::HasSubstr;

TEST(RunResults, EverySchemaVersion) {
    for (const char* name : {"dbt-core-results-v4.run_results.json", "dbt-core-results-v5.run_results.json",
                             "dbt-core-results-v6.run_results.json", "jaffle_shop-dbt1.12-v6.run_results.json",
                             "tuva-2024-02-21-v4.run_results.json"}) {
        const RunResults r = load_run_results(fixture(std::string("real/dbt/run_results/") + name));
        EXPECT_GE(r.schema_version, 4) << name;
        EXPECT_LE(r.schema_version, 6) << name;
        ASSERT_FALSE(r.results.empty()) << name;
        for (const auto& result : r.results) {
            EXPECT_FALSE(result.status.empty()) << name << " " << result.unique_id;
            EXPECT_GE(result.execution_time, 0) << name;
        }
    }
}

TEST(RunResults, ScenarioBuildFields) {
    const RunResults r = load_run_results(fixture("dbt/scenarios/base/run_results.json"));
    const RunResult* model = r.find("model.ece_demo.distinct_patients");
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(model->status, "success");
    EXPECT_GT(model->execution_time, 0);
    ASSERT_TRUE(model->rows_affected.has_value());
    const RunResult* test = r.find("test.ece_demo.unique_distinct_patients_patid.c39071927c");
    ASSERT_NE(test, nullptr);
    EXPECT_EQ(test->status, "pass");
    EXPECT_EQ(test->failures, 0);
}

TEST(RunResults, ViewsHaveNoRowCountWhereDbtSaysMinusOne) {
    // Real dbt-postgres 1.9 reports rows_affected -1 for a CREATE VIEW.
    const RunResults r = load_run_results(fixture("dbt/scenarios/base/run_results.json"));
    const RunResult* view = r.find("model.ece_demo.stg_patients");
    ASSERT_NE(view, nullptr);
    EXPECT_FALSE(view->rows_affected.has_value());
    EXPECT_EQ(r.find("model.ece_demo.distinct_patients")->rows_affected, 300);
}

TEST(RunResults, CountsOutsideInt64AreNoCount) {
    // Found by fuzz_run_results: converting 1.5e75 to an integer was undefined behaviour.
    const RunResults r = parse_run_results(
        R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"},
            "results": [{"unique_id": "model.p.a", "status": "success", "execution_time": 1.0, "failures": 1.5e75,
                         "adapter_response": {"rows_affected": 18446744073709551615}}],
            "elapsed_time": 1.0})");
    ASSERT_EQ(r.results.size(), 1u);
    EXPECT_FALSE(r.results[0].failures.has_value());
    EXPECT_FALSE(r.results[0].rows_affected.has_value());
}

TEST(RunResults, FirstDbtCoreV4Result) {
    const RunResults r = load_run_results(fixture("real/dbt/run_results/dbt-core-results-v4.run_results.json"));
    ASSERT_EQ(r.results.size(), 2u);
    EXPECT_EQ(r.results[0].unique_id, "model.test.my_model");
    EXPECT_EQ(r.results[0].message, "CREATE VIEW");
    EXPECT_FALSE(r.results[0].rows_affected.has_value());  // dbt says -1: no count applies to a CREATE VIEW
    EXPECT_FALSE(r.results[0].failures.has_value());
}

TEST(RunResults, Errors) {
    try {
        parse_run_results(R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": [)");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        EXPECT_THAT(e.what(), HasSubstr("truncated"));
    }
    try {
        parse_run_results(R"({"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json"}, "results": [{"status": "pass"}]})");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().field, "$.results[0].unique_id");
    }
}

}  // namespace
}  // namespace ece::dbt
