// Every resource type dbt ls lists, on a real dbt 1.11 manifest (jaffle_shop: unit tests, semantic models, metrics,
// saved queries), edited the way a pull request edits them. dbt's own answers for these kinds are checked live by
// tests/dbt_live; this pins the rules of dbt-core's same_contents for each kind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "dbt/manifest.hpp"
#include "dbt/plan_output.hpp"
#include "dbt/select.hpp"
#include "dbt/state.hpp"
#include "fixture_manifest.hpp"
#include "support.hpp"

namespace ece::dbt {
namespace {

using ece::test::fixture;
using ece::test::plain;
using ece::test::read_file;
using ece::test::TempDir;
using testing::Contains;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;

class ResourceKinds : public testing::Test {
protected:
    static void SetUpTestSuite() {
        TempDir dir;
        const auto file = plain(fixture("real/dbt/manifests/jaffle_shop-dbt1.11-v12.manifest.json.xz"), dir);
        original_ = new boost::json::object(boost::json::parse(read_file(file)).as_object());
        production_ = new Manifest(parse_manifest(boost::json::serialize(*original_), "production"));
    }
    static void TearDownTestSuite() {
        delete production_;
        delete original_;
    }

    // The branch: production's manifest with edit applied to its JSON.
    template <class Edit>
    static Manifest branch(const Edit& edit) {
        boost::json::object doc = *original_;
        edit(doc);
        return parse_manifest(boost::json::serialize(doc), "branch");
    }

    static std::vector<std::string> select(const Manifest& b, const std::string& selector) {
        return plan_changes(b, *production_, parse_selector(selector), "production").selected_ids();
    }

    static boost::json::object& at(boost::json::object& doc, const char* map, const char* id) {
        return doc.at(map).as_object().at(id).as_object();
    }

    static boost::json::object* original_;
    static Manifest* production_;
};
boost::json::object* ResourceKinds::original_ = nullptr;
Manifest* ResourceKinds::production_ = nullptr;

TEST_F(ResourceKinds, EveryKindIsReadIntoTheGraph) {
    std::map<ResourceType, int> counts;
    for (const Node& n : production_->nodes) ++counts[n.type];
    EXPECT_EQ(counts[ResourceType::unit_test], 3);
    EXPECT_EQ(counts[ResourceType::semantic_model], 6);
    EXPECT_EQ(counts[ResourceType::metric], 19);
    EXPECT_EQ(counts[ResourceType::saved_query], 3);
    EXPECT_THAT(select(*production_, "state:modified+"), IsEmpty());
}

TEST_F(ResourceKinds, ModelChangeReachesItsSemanticModelMetricsAndSavedQueries) {
    const Manifest b = branch([](boost::json::object& doc) {
        at(doc, "nodes", "model.jaffle_shop.customers")["raw_code"] = "select 1 as customer_id";
    });
    const auto ids = select(b, "state:modified+");
    EXPECT_THAT(ids, Contains("semantic_model.jaffle_shop.customers"));
    EXPECT_THAT(ids, Contains("metric.jaffle_shop.lifetime_spend_pretax"));
    EXPECT_THAT(ids, Contains("metric.jaffle_shop.average_order_value"));  // a metric of metrics
    EXPECT_THAT(ids, Contains("saved_query.jaffle_shop.customer_order_metrics"));
    EXPECT_THAT(ids, testing::Not(Contains("metric.jaffle_shop.revenue")));
    const auto direct = select(b, "state:modified");  // the model and its data tests (eager indirect selection)
    EXPECT_THAT(direct, Contains("model.jaffle_shop.customers"));
    EXPECT_THAT(direct, testing::Not(Contains("semantic_model.jaffle_shop.customers")));

    const Plan plan = plan_changes(b, *production_, parse_selector("state:modified+"), "production");
    const std::string text = plan_to_text(plan, "");
    EXPECT_THAT(text, HasSubstr("Affected, not built"));
    EXPECT_THAT(text, HasSubstr("metric average_order_value: child of"));
}

TEST_F(ResourceKinds, UnitTestComparesItsChecksumAndIsNewWhenAdded) {
    const char* id = "unit_test.jaffle_shop.orders.test_order_items_compute_to_bools_correctly";
    const Manifest changed = branch([&](boost::json::object& doc) { at(doc, "unit_tests", id)["checksum"] = "0"; });
    EXPECT_THAT(select(changed, "state:modified"), ElementsAre(id));
    EXPECT_THAT(select(changed, "state:modified.body"), IsEmpty());     // not a ParsedNode: no same_body
    EXPECT_THAT(select(changed, "state:modified.configs"), IsEmpty());  // nor same_config

    const Manifest added = branch([&](boost::json::object& doc) {
        boost::json::object copy = at(doc, "unit_tests", id);
        copy["name"] = "another";
        doc.at("unit_tests").as_object()["unit_test.jaffle_shop.orders.another"] = copy;
    });
    EXPECT_THAT(select(added, "state:modified"), ElementsAre("unit_test.jaffle_shop.orders.another"));
    EXPECT_THAT(select(added, "state:new"), ElementsAre("unit_test.jaffle_shop.orders.another"));
}

// A unit test's tags are its config's (dbt's UnitTestDefinition.tags), a list or one string as YAML gave it: the
// tag: method selects it (dbt_audit_helper tags its warehouse-specific unit tests `skip`).
TEST_F(ResourceKinds, UnitTestTagsAreItsConfigs) {
    const char* id = "unit_test.jaffle_shop.orders.test_order_items_compute_to_bools_correctly";
    const Manifest listed = branch([&](boost::json::object& doc) {
        at(doc, "unit_tests", id)["config"].as_object()["tags"] = boost::json::array{"skip", "slow"};
    });
    EXPECT_THAT(select_nodes(listed, "tag:skip"), ElementsAre(id));
    const Manifest one = branch([&](boost::json::object& doc) { at(doc, "unit_tests", id)["config"].as_object()["tags"] = "skip"; });
    EXPECT_THAT(select_nodes(one, "tag:skip"), ElementsAre(id));
    EXPECT_THAT(select_nodes(*production_, "tag:skip"), IsEmpty());
}

TEST_F(ResourceKinds, SemanticModelMeasureChangeSelectsItAndNotItsModel) {
    const Manifest b = branch([](boost::json::object& doc) {
        auto& model = at(doc, "semantic_models", "semantic_model.jaffle_shop.orders");
        model["measures"].as_array()[0].as_object()["agg"] = "max";
    });
    const auto ids = select(b, "state:modified");
    EXPECT_THAT(ids, ElementsAre("semantic_model.jaffle_shop.orders"));
    EXPECT_THAT(select(b, "state:modified.configs"), IsEmpty());
    EXPECT_THAT(select(b, "state:modified.relation"), IsEmpty());
    EXPECT_THAT(select(b, "state:modified+"), Contains("metric.jaffle_shop.order_total"));
}

TEST_F(ResourceKinds, NewSemanticLayerNodesAreNewButNotModified) {
    const Manifest b = branch([](boost::json::object& doc) {
        boost::json::object copy = at(doc, "metrics", "metric.jaffle_shop.revenue");
        copy["name"] = "revenue_again";
        doc.at("metrics").as_object()["metric.jaffle_shop.revenue_again"] = copy;
    });
    EXPECT_THAT(select(b, "state:new"), ElementsAre("metric.jaffle_shop.revenue_again"));
    EXPECT_THAT(select(b, "state:modified"), IsEmpty());  // dbt's Metric.same_contents(None) is True
    EXPECT_THAT(select(b, "state:modified.configs"), ElementsAre("metric.jaffle_shop.revenue_again"));
}

TEST_F(ResourceKinds, MetricComparesTypeLabelDescriptionAndConfigButNotTypeParams) {
    const Manifest params = branch([](boost::json::object& doc) {
        at(doc, "metrics", "metric.jaffle_shop.revenue")["type_params"] = boost::json::object{};
    });
    EXPECT_THAT(select(params, "state:modified"), IsEmpty());  // dbt's same_type_params is a TODO returning True
    const Manifest label = branch([](boost::json::object& doc) {
        at(doc, "metrics", "metric.jaffle_shop.revenue")["label"] = "Turnover";
    });
    EXPECT_THAT(select(label, "state:modified"), ElementsAre("metric.jaffle_shop.revenue"));
    const Manifest config = branch([](boost::json::object& doc) {
        at(doc, "metrics", "metric.jaffle_shop.revenue")["unrendered_config"] = boost::json::object{{"meta", 1}};
    });
    EXPECT_THAT(select(config, "state:modified.configs"), ElementsAre("metric.jaffle_shop.revenue"));
}

TEST_F(ResourceKinds, SavedQueryExportsCompareNameAndExportConfig) {
    const Manifest b = branch([](boost::json::object& doc) {
        auto& query = at(doc, "saved_queries", "saved_query.jaffle_shop.order_metrics");
        query["description"] = "changed";
    });
    EXPECT_THAT(select(b, "state:modified"), ElementsAre("saved_query.jaffle_shop.order_metrics"));
    const Manifest group_by = branch([](boost::json::object& doc) {
        auto& query = at(doc, "saved_queries", "saved_query.jaffle_shop.order_metrics");
        query["query_params"].as_object()["group_by"] = boost::json::array{};
    });
    EXPECT_THAT(select(group_by, "state:modified"), ElementsAre("saved_query.jaffle_shop.order_metrics"));
}

}  // namespace
}  // namespace ece::dbt
