#include "publish/json.hpp"
#include "publish/stale.hpp"
#include "publish_fixture.hpp"

#include "core/error.hpp"

#include <gmock/gmock.h>

using ece::test::PublishTest;
using testing::HasSubstr;
namespace publish = ece::publish;
using publish::StaleNode;

namespace {

std::vector<publish::BuiltRelation> built() {
    return {{"ece_pr_1", "orders", publish::RelationKind::table, "analytics", "model.s.orders", "o2"},
            {"ece_pr_1", "customers", publish::RelationKind::table, "analytics", "model.s.customers", "c1"}};
}

}  // namespace

TEST(FindStale, FreshWhenBuiltMatchesMainAndCoversWhatMainChanged) {
    publish::NodeChecksums main = {{"model.s.orders", "o2"}, {"model.s.customers", "c1"}, {"model.s.items", "i1"}};
    publish::NodeChecksums production = {{"model.s.orders", "o1"}, {"model.s.items", "i1"}};
    EXPECT_FALSE(publish::find_stale(built(), main, production).stale());
}

TEST(FindStale, ChangedChecksumIsStale) {
    publish::NodeChecksums main = {{"model.s.orders", "o3"}, {"model.s.customers", "c1"}};
    auto report = publish::find_stale(built(), main, {{"model.s.orders", "o1"}, {"model.s.customers", "c1"}});
    ASSERT_EQ(report.nodes.size(), 1u);
    EXPECT_EQ(report.nodes[0].unique_id, "model.s.orders");
    EXPECT_EQ(report.nodes[0].reason, StaleNode::Reason::changed);
    EXPECT_EQ(report.nodes[0].built_checksum, "o2");
    EXPECT_EQ(report.nodes[0].main_checksum, "o3");
    EXPECT_EQ(report.to_build(), std::vector<std::string>{"model.s.orders"});
    EXPECT_THAT(report.describe(), HasSubstr("model.s.orders: built as o2, main has o3"));
}

TEST(FindStale, NodeMainChangedButNotBuiltIsMissing) {
    publish::NodeChecksums main = {{"model.s.orders", "o2"}, {"model.s.customers", "c1"},
                                   {"model.s.items", "i2"},  {"model.s.fresh", "f1"}};
    publish::NodeChecksums production = {{"model.s.items", "i1"}};
    auto report = publish::find_stale(built(), main, production);
    ASSERT_EQ(report.nodes.size(), 2u);
    EXPECT_EQ(report.nodes[0].unique_id, "model.s.fresh");
    EXPECT_EQ(report.nodes[0].reason, StaleNode::Reason::not_built);
    EXPECT_EQ(report.nodes[1].unique_id, "model.s.items");
    EXPECT_EQ(report.nodes[1].production_checksum, "i1");
    EXPECT_THAT(report.describe(), HasSubstr("model.s.fresh: new in main, not built"));
}

TEST(FindStale, BuiltNodeMainDroppedIsReportedButNotRebuilt) {
    publish::NodeChecksums main = {{"model.s.customers", "c1"}};
    auto report = publish::find_stale(built(), main, {});
    ASSERT_EQ(report.nodes.size(), 1u);
    EXPECT_EQ(report.nodes[0].reason, StaleNode::Reason::not_in_main);
    EXPECT_TRUE(report.to_build().empty());
}

TEST(ProductionSchemaFor, MapsBaseAndCustomSchemas) {
    EXPECT_EQ(publish::production_schema_for("ece_pr_12", "ece_pr_12", "analytics"), "analytics");
    EXPECT_EQ(publish::production_schema_for("ece_pr_12_marts", "ece_pr_12", "analytics"), "analytics_marts");
    EXPECT_THROW(publish::production_schema_for("ece_pr_123", "ece_pr_12", "analytics"), ece::Error);
    EXPECT_THROW(publish::production_schema_for("other", "ece_pr_12", "analytics"), ece::Error);
}

TEST(PublishInputJson, ReadsTheListAndTheObjectForm) {
    auto list = boost::json::parse(R"([{"environment_schema": "e", "name": "t", "kind": "view",
                                         "production_schema": "p", "unique_id": "model.x.t", "checksum": "abc"}])");
    auto input = publish::input_from_json(list);
    ASSERT_EQ(input.relations.size(), 1u);
    EXPECT_EQ(input.relations[0].kind, publish::RelationKind::view);
    EXPECT_EQ(input.relations[0].checksum, "abc");

    auto object = boost::json::parse(R"({"environment": "pr-3", "pr": 3, "relations": [],
        "main_checksums": {"model.x.t": "abc"}, "rebindable_views": [{"schema": "p", "name": "v"}]})");
    input = publish::input_from_json(object);
    EXPECT_EQ(input.environment, "pr-3");
    EXPECT_EQ(input.pr, 3);
    ASSERT_TRUE(input.main_checksums.has_value());
    EXPECT_EQ(input.main_checksums->at("model.x.t"), "abc");
    EXPECT_EQ(input.rebindable_views.size(), 1u);
}

TEST(PublishInputJson, ErrorsNameTheJsonPath) {
    auto bad = boost::json::parse(R"([{"environment_schema": "e", "name": "t", "kind": "index",
                                        "production_schema": "p"}])");
    try {
        publish::input_from_json(bad, "rel.json");
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::input);
        EXPECT_EQ(e.where().field, "$[0].kind");
        EXPECT_EQ(e.where().file, "rel.json");
    }
    try {
        publish::input_from_json(boost::json::parse(R"({"relation": []})"));
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.where().field, "$.relation");
    }
}

TEST_F(PublishTest, StrictStaleEnvironmentStopsWithTheListAndChangesNothing) {
    make_production();
    make_environment();
    auto in = input();
    in.main_checksums = {{"model.shop.orders", "CHANGED"}, {"model.shop.customers", "c-customers"},
                         {"model.shop.order_count", "c-order_count"}, {"model.shop.items", "new"}};
    auto o = options();
    o.on_stale = publish::OnStale::strict;
    try {
        publish::publish(conn, in, o);
        FAIL() << "published a stale environment";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("stale"));
        EXPECT_THAT(e.what(), HasSubstr("model.shop.orders: built as c-orders, main has CHANGED"));
        EXPECT_THAT(e.what(), HasSubstr("model.shop.items: new in main, not built"));
    }
    EXPECT_EQ(count(prod, "orders"), 100);
}

TEST_F(PublishTest, RebuildModeReturnsTheNodesOrCallsTheHook) {
    make_production();
    make_environment();
    auto in = input();
    in.main_checksums = {{"model.shop.orders", "CHANGED"}, {"model.shop.customers", "c-customers"},
                         {"model.shop.order_count", "c-order_count"}};
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(result.outcome, publish::Outcome::needs_rebuild);
    EXPECT_EQ(result.stale.to_build(), std::vector<std::string>{"model.shop.orders"});
    EXPECT_EQ(count(prod, "orders"), 100);

    std::vector<std::string> asked;
    result = publish::publish(conn, in, options(), [&](const publish::StaleReport& stale, const publish::PublishInput& old) {
        asked = stale.to_build();
        auto rebuilt = old;
        rebuilt.relations[0].checksum = "CHANGED";  // what the build step records after rebuilding orders
        return rebuilt;
    });
    EXPECT_EQ(asked, std::vector<std::string>{"model.shop.orders"});
    EXPECT_EQ(result.outcome, publish::Outcome::published);
    EXPECT_EQ(count(prod, "orders"), 200);
}
