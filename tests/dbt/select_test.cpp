// dbt's node selection resolved natively (lib/dbt/select.hpp) on the fixture manifests. The expected sets are
// derived from each manifest's nodes, fqn, paths, config and depends_on by hand, with dbt's rules: a bare word is
// the fqn method (the node's name, or a prefix of its fqn), graph operators walk depends_on.nodes, and a test comes
// along when any of its parents is selected (eager indirect selection).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"
#include "dbt/manifest.hpp"
#include "dbt/select.hpp"
#include "dbt/state.hpp"
#include "fixture_manifest.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

using ece::test::fixture;
using testing::ElementsAreArray;
using testing::HasSubstr;
using Ids = std::vector<std::string>;

Ids sorted(Ids ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
}

// A real manifest of the fixtures (xz-compressed there).
Manifest real_manifest(const std::string& name) {
    const ece::test::TempDir dir;
    return load_manifest(ece::test::plain(fixture("real/dbt/manifests/" + name), dir));
}

// How many of ids are of the resource type (their unique id's first part).
long count_of(const Ids& ids, std::string_view type) {
    return std::count_if(ids.begin(), ids.end(),
                         [&](const std::string& id) { return id.rfind(std::string(type) + ".", 0) == 0; });
}

// The example project of the scenarios (examples/ece_demo).
class SelectDemo : public testing::Test {
protected:
    static void SetUpTestSuite() { demo = new Manifest(load_manifest(fixture("dbt/scenarios/base/manifest.json"))); }
    static void TearDownTestSuite() { delete demo; }
    static Ids select(const std::string& selector) { return select_nodes(*demo, selector); }

    static Manifest* demo;
    static constexpr const char* prefix = "model.ece_demo.";

    static Ids models(std::initializer_list<const char*> names) {
        Ids ids;
        for (const char* name : names) ids.push_back(std::string(prefix) + name);
        return ids;
    }
    // The generic tests of the marts models (each has not_null and unique on its key).
    static Ids tests_of(std::initializer_list<const char*> models) {
        static const std::map<std::string, Ids> tests = {
            {"distinct_patients",
             {"test.ece_demo.not_null_distinct_patients_patid.50c8a41750",
              "test.ece_demo.unique_distinct_patients_patid.c39071927c"}},
            {"distinct_providers",
             {"test.ece_demo.not_null_distinct_providers_npi.0abdfed22f",
              "test.ece_demo.unique_distinct_providers_npi.1f3accb16a"}},
            {"female_patients",
             {"test.ece_demo.not_null_female_patients_patid.fcdbf6795e",
              "test.ece_demo.unique_female_patients_patid.a6807b0e62"}},
            {"male_patients",
             {"test.ece_demo.not_null_male_patients_patid.d0bdda0cb5",
              "test.ece_demo.unique_male_patients_patid.0ef031b49a"}},
            {"observed_diagnoses",
             {"test.ece_demo.not_null_observed_diagnoses_dx_code.43366ce26b",
              "test.ece_demo.unique_observed_diagnoses_dx_code.2873fef8b7"}},
        };
        Ids ids;
        for (const char* model : models) {
            const auto& more = tests.at(model);
            ids.insert(ids.end(), more.begin(), more.end());
        }
        return ids;
    }
    static Ids join(std::initializer_list<Ids> parts) {
        Ids all;
        for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
        return sorted(all);
    }
};
Manifest* SelectDemo::demo = nullptr;

TEST_F(SelectDemo, ABareNameIsTheNodeWithItsTests) {
    EXPECT_THAT(select("stg_patients"), ElementsAreArray(models({"stg_patients"})));
    EXPECT_THAT(select("distinct_patients"),
                ElementsAreArray(join({models({"distinct_patients"}), tests_of({"distinct_patients"})})));
    EXPECT_THAT(select("sex_codes"), ElementsAreArray(Ids{"seed.ece_demo.sex_codes"}));
    // A bare unique id selects that node (ece's addition) and, as ever, its tests.
    EXPECT_EQ(select("model.ece_demo.distinct_patients"), select("distinct_patients"));
}

TEST_F(SelectDemo, FqnPrefixesAndGlobs) {
    const Ids marts = models({"distinct_patients", "distinct_providers", "female_patients", "male_patients",
                              "observed_diagnoses", "patients_by_sex"});
    const Ids marts_tests =
        tests_of({"distinct_patients", "distinct_providers", "female_patients", "male_patients", "observed_diagnoses"});
    EXPECT_THAT(select("ece_demo.marts"), ElementsAreArray(join({marts, marts_tests})));
    EXPECT_THAT(select("fqn:ece_demo.marts"), ElementsAreArray(join({marts, marts_tests})));
    // The fqn starts with the package: a directory alone is no prefix (dbt selects nothing for it).
    EXPECT_THAT(select("marts"), testing::IsEmpty());
    EXPECT_THAT(select("ece_demo.marts.*_patients"),
                ElementsAreArray(join({models({"distinct_patients", "female_patients", "male_patients"}),
                                       tests_of({"distinct_patients", "female_patients", "male_patients"})})));
    // Sources are not selected by fqn (dbt's non_source_nodes), even by their full name.
    EXPECT_THAT(select("ece_demo.raw.patients"), testing::IsEmpty());
}

TEST_F(SelectDemo, GraphOperators) {
    EXPECT_THAT(select("stg_patients+"),
                ElementsAreArray(join({models({"stg_patients", "distinct_patients", "female_patients", "male_patients",
                                               "patients_by_sex"}),
                                       tests_of({"distinct_patients", "female_patients", "male_patients"})})));
    EXPECT_THAT(select("+patients_by_sex"),
                ElementsAreArray(join({models({"patients_by_sex", "stg_patients"}),
                                       {"seed.ece_demo.sex_codes", "source.ece_demo.raw.patients"}})));
    EXPECT_THAT(select("1+distinct_providers"),
                ElementsAreArray(join({models({"distinct_providers", "stg_diagnoses"}),
                                       {"source.ece_demo.raw.providers"}, tests_of({"distinct_providers"})})));
}

TEST_F(SelectDemo, GraphOperatorsWithDepthAndAt) {
    EXPECT_THAT(select("stg_diagnoses+1"),
                ElementsAreArray(join({models({"stg_diagnoses", "distinct_providers", "observed_diagnoses"}),
                                       tests_of({"distinct_providers", "observed_diagnoses"})})));
    EXPECT_THAT(select("stg_diagnoses+2"), select("stg_diagnoses+"));
    // @: the node, its descendants (tests too) and every ancestor of those.
    EXPECT_THAT(select("@stg_diagnoses"),
                ElementsAreArray(join({models({"stg_diagnoses", "distinct_providers", "observed_diagnoses"}),
                                       tests_of({"distinct_providers", "observed_diagnoses"}),
                                       {"source.ece_demo.raw.diagnoses", "source.ece_demo.raw.icd10",
                                        "source.ece_demo.raw.providers"}})));
}

TEST_F(SelectDemo, PathFileResourceTypeConfigAndPackage) {
    EXPECT_THAT(select("path:models/staging"), ElementsAreArray(models({"stg_diagnoses", "stg_patients"})));
    EXPECT_THAT(select("models/staging/"), ElementsAreArray(models({"stg_diagnoses", "stg_patients"})));
    EXPECT_THAT(select("path:models/staging/*"), ElementsAreArray(models({"stg_diagnoses", "stg_patients"})));
    // The sources' YAML file selects the sources; the marts' YAML its tests and the models it describes.
    EXPECT_THAT(select("path:models/sources.yml"),
                ElementsAreArray(Ids{"source.ece_demo.raw.diagnoses", "source.ece_demo.raw.icd10",
                                     "source.ece_demo.raw.patients", "source.ece_demo.raw.providers"}));
    EXPECT_EQ(select("path:models/marts/schema.yml"), select("ece_demo.marts"));
    EXPECT_THAT(select("sex_codes.csv"), ElementsAreArray(Ids{"seed.ece_demo.sex_codes"}));
    EXPECT_THAT(select("file:stg_patients"), ElementsAreArray(models({"stg_patients"})));
    EXPECT_THAT(select("resource_type:seed"), ElementsAreArray(Ids{"seed.ece_demo.sex_codes"}));
    EXPECT_THAT(select("config.materialized:view"), ElementsAreArray(models({"stg_diagnoses", "stg_patients"})));
    EXPECT_EQ(select("package:ece_demo").size(), demo->nodes.size());
    EXPECT_EQ(select("package:this"), select("package:ece_demo"));
}

TEST_F(SelectDemo, SpacesUniteCommasIntersect) {
    EXPECT_THAT(select("stg_diagnoses sex_codes"),
                ElementsAreArray(join({models({"stg_diagnoses"}), {"seed.ece_demo.sex_codes"}})));
    EXPECT_THAT(select("stg_patients+,config.materialized:table"),
                ElementsAreArray(join({models({"distinct_patients", "female_patients", "male_patients", "patients_by_sex"}),
                                       tests_of({"distinct_patients", "female_patients", "male_patients"})})));
    EXPECT_THAT(select("path:models/staging,config.materialized:table"), testing::IsEmpty());
}

TEST_F(SelectDemo, UnknownOrUnsupportedMethodsAndMalformedSpecsAreUsageErrorsNamingTheSelector) {
    for (const std::string bad : {"colour:red", "source:raw", "state:modified", "@stg_patients+",
                                  "resource_type:table", "config.schema:x", "tag:a,", ""}) {
        try {
            select(bad);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const ece::Error& e) {
            EXPECT_EQ(e.kind(), ece::ErrorKind::usage) << bad;
            EXPECT_THAT(e.what(), HasSubstr("selector '" + bad + "'"));
        }
    }
    try {
        select("colour:red");
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("'colour' is not a valid method name"));
    }
}

TEST(SelectReal, DbtCoreStateProjectTagsExposuresSnapshotsAndAnalyses) {
    const Manifest m = load_manifest(fixture("real/dbt/manifests/dbt-core-state-v12.manifest.json"));
    EXPECT_THAT(select_nodes(m, "tag:data_test_tag"), ElementsAreArray(Ids{"test.test.just_my"}));
    EXPECT_THAT(select_nodes(m, "tag:data_*"), ElementsAreArray(Ids{"test.test.just_my"}));
    const Ids my_model_tests = {"test.test.check_nothing_my_model_.d5a5e66110", "test.test.just_my",
                                "test.test.not_null_my_model_id.43e0e9183a"};
    Ids expected = my_model_tests;
    expected.push_back("model.test.my_model");
    EXPECT_THAT(select_nodes(m, "my_model"), ElementsAreArray(sorted(expected)));
    // dbt's graph holds the semantic layer too: my_model's semantic model and the metrics built on it are its
    // descendants, as dbt ls my_model+ lists them.
    for (const char* id : {"exposure.test.simple_exposure", "semantic_model.test.semantic_people", "metric.test.customers",
                           "metric.test.blue_customers_post_2010", "metric.test.doubled_blue_customers",
                           "metric.test.ratio_of_blue_customers_to_red_customers"})
        expected.push_back(id);
    EXPECT_THAT(select_nodes(m, "my_model+"), ElementsAreArray(sorted(expected)));
    EXPECT_THAT(select_nodes(m, "+snapshot_seed"),
                ElementsAreArray(Ids{"seed.test.my_seed", "snapshot.test.snapshot_seed"}));
    EXPECT_THAT(select_nodes(m, "resource_type:analysis"), ElementsAreArray(Ids{"analysis.test.a"}));
    EXPECT_THAT(select_nodes(m, "resource_type:exposure"), ElementsAreArray(Ids{"exposure.test.simple_exposure"}));
}

TEST(SelectReal, JaffleShopAncestorsBringEveryTestOfTheirParents) {
    const Manifest m = real_manifest("jaffle_shop-dbt1.12-v12.manifest.json.xz");
    const auto ids = select_nodes(m, "+customers");
    // 8 models (customers, orders, order_items and the 5 staging models they read), 5 sources, the 25 data tests
    // and 2 unit tests attached to any of those models (the relationships tests of orders and order_items among
    // them), and the semantic model and metric also named customers (dbt's fqn method searches them too).
    ASSERT_EQ(ids.size(), 42u);
    EXPECT_EQ(count_of(ids, "model"), 8);
    EXPECT_EQ(count_of(ids, "source"), 5);
    EXPECT_EQ(count_of(ids, "test"), 25);
    EXPECT_EQ(count_of(ids, "unit_test"), 2);
    EXPECT_THAT(ids, testing::Contains("metric.jaffle_shop.customers"));
    EXPECT_THAT(ids, testing::Contains(
                         "test.jaffle_shop.relationships_orders_customer_id__customer_id__ref_stg_customers_.918495ce16"));
    EXPECT_THAT(ids, testing::Not(testing::Contains("model.jaffle_shop.stg_locations")));
    EXPECT_THAT(select_nodes(m, "jaffle_shop.jaffle-data"), ElementsAreArray(select_nodes(m, "resource_type:seed")));
}

TEST(SelectReal, TuvaTagsSelectTheTaggedModelsAndSeedsAndTheirTests) {
    const Manifest m = real_manifest("tuva-2024-02-20-v11.manifest.json.xz");
    const auto ids = select_nodes(m, "tag:cms_hcc");
    // 26 nodes tagged cms_hcc (16 models, 10 seeds) and the 5 tests on them.
    ASSERT_EQ(ids.size(), 31u);
    EXPECT_EQ(count_of(ids, "test"), 5);
    EXPECT_EQ(count_of(ids, "seed"), 10);
    // Intersection with a config: the tagged ephemeral models and their tests.
    EXPECT_EQ(select_nodes(m, "tag:cms_hcc,config.materialized:ephemeral").size(), 4u);
}

TEST(AlsoSelect, AddsTheSelectedNodesToAStatePlanWithTheReason) {
    const Manifest base = load_manifest(fixture("dbt/scenarios/base/manifest.json"));
    const Manifest changed = load_manifest(fixture("dbt/scenarios/body_change/manifest.json"));
    Plan plan = plan_changes(changed, base, parse_selector("state:modified+"), "test");
    const auto before = plan.selected_ids();
    ASSERT_THAT(before, testing::Not(testing::Contains("seed.ece_demo.sex_codes")));
    const auto deferred = plan.deferred;

    add_also_selected(plan, changed, {"sex_codes"});
    ASSERT_THAT(plan.selected_ids(), testing::Contains("seed.ece_demo.sex_codes"));
    EXPECT_EQ(plan.selected_ids().size(), before.size() + 1);
    EXPECT_EQ(plan.deferred, deferred - 1);
    EXPECT_EQ(plan.counts.at("seed"), 1u);
    for (const auto& node : plan.selected) {
        if (node.unique_id == "seed.ece_demo.sex_codes") {
            EXPECT_THAT(node.reasons, ElementsAreArray(Ids{"also selected by --select sex_codes"}));
        }
    }
    EXPECT_TRUE(std::is_sorted(plan.selected.begin(), plan.selected.end(),
                               [](const auto& a, const auto& b) { return a.unique_id < b.unique_id; }));
    EXPECT_THROW(add_also_selected(plan, changed, {"nope:x"}), ece::Error);
}

TEST(Exclude, RemovesWhatTheSelectorsSelectFromStateAndFullPlans) {
    const Manifest base = load_manifest(fixture("dbt/scenarios/base/manifest.json"));
    const Manifest changed = load_manifest(fixture("dbt/scenarios/body_change/manifest.json"));
    Plan plan = plan_changes(changed, base, parse_selector("state:modified+"), "test");
    const auto before = plan.selected_ids();
    const auto excluded = select_nodes(changed, "stg_patients+");
    ASSERT_THAT(before, testing::Contains("model.ece_demo.stg_patients"));

    remove_excluded(plan, changed, {"stg_patients+"});
    Ids expected;
    std::set_difference(before.begin(), before.end(), excluded.begin(), excluded.end(), std::back_inserter(expected));
    EXPECT_EQ(plan.selected_ids(), expected);
    EXPECT_LT(expected.size(), before.size());
    std::size_t counted = 0;
    for (const auto& [type, count] : plan.counts) counted += count;
    EXPECT_EQ(counted, expected.size());

    Plan full = plan_full_build(changed, "state:modified+", "no production");
    remove_excluded(full, changed, {"stg_patients+", "sex_codes"});
    EXPECT_THAT(full.selected_ids(), testing::Not(testing::Contains("seed.ece_demo.sex_codes")));
    EXPECT_THAT(full.selected_ids(), testing::Not(testing::Contains("model.ece_demo.stg_patients")));
    EXPECT_THAT(full.selected_ids(), testing::Contains("model.ece_demo.stg_diagnoses"));
    EXPECT_THROW(remove_excluded(full, changed, {"nope:x"}), ece::Error);
}

}  // namespace
}  // namespace ece::dbt
