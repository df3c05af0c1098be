// Fidelity with real dbt: for every scenario of ../shared/fixtures/dbt/scenarios and every selector in its
// expected.json (what `dbt ls --select <selector> --state base` printed), ece selects exactly the same nodes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "dbt/manifest.hpp"
#include "dbt/state.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

using ece::test::fixture;
using ece::test::read_file;

std::vector<std::string> scenario_names() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(fixture("dbt/scenarios")))
        if (std::filesystem::exists(entry.path() / "expected.json")) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    return names;
}

class Scenario : public testing::TestWithParam<std::string> {
protected:
    static void SetUpTestSuite() { production_ = new Manifest(load_manifest(fixture("dbt/scenarios/base/manifest.json"))); }
    static void TearDownTestSuite() {
        delete production_;
        production_ = nullptr;
    }
    static Manifest* production_;
};
Manifest* Scenario::production_ = nullptr;

TEST_P(Scenario, SelectsExactlyWhatDbtSelected) {
    const auto dir = fixture("dbt/scenarios/" + GetParam());
    const Manifest branch = load_manifest(dir / "manifest.json");
    const auto expected = boost::json::parse(read_file(dir / "expected.json")).as_object();
    ASSERT_GE(expected.size(), 16u);
    for (const auto& [selector_text, ids] : expected) {
        std::vector<std::string> want;
        for (const auto& id : ids.as_array()) want.emplace_back(id.as_string().c_str());
        const Plan plan = plan_changes(branch, *production_, parse_selector(selector_text), "base");
        EXPECT_EQ(plan.selected_ids(), want) << GetParam() << " " << std::string(selector_text);
        for (const auto& node : plan.selected)
            EXPECT_FALSE(node.reasons.empty()) << node.unique_id << " selected without a reason";
    }
}

// One parse per run: a branch parsed with the environment's raw schema compares its sources as if parsed with
// production's, given the alias; without it every source and everything downstream is modified.
TEST(SourceSchemaAliases, EnvironmentRawSchemaStandsForProductions) {
    auto doc = boost::json::parse(read_file(fixture("dbt/scenarios/base/manifest.json"))).as_object();
    std::string production_schema;
    for (auto& [id, source] : doc.at("sources").as_object()) {
        production_schema = source.at("schema").as_string().c_str();
        source.as_object()["schema"] = "ece_pr_1_raw";
    }
    const Manifest production = load_manifest(fixture("dbt/scenarios/base/manifest.json"));
    const Manifest branch = parse_manifest(boost::json::serialize(doc), "branch");
    EXPECT_FALSE(plan_changes(branch, production, parse_selector("state:modified+"), "base").selected.empty());
    PlanOptions options;
    options.source_schema_aliases["ece_pr_1_raw"] = production_schema;
    EXPECT_THAT(plan_changes(branch, production, parse_selector("state:modified+"), "base", options).selected,
                testing::IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Dbt, Scenario, testing::ValuesIn(scenario_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ece::dbt
