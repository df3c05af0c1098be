#include "core/error.hpp"
#include "cost/catalogue.hpp"
#include "cost/environment_cost.hpp"
#include "cost/estimate.hpp"
#include "support.hpp"

#include <boost/json/parse.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

namespace ece::cost {
namespace {

using namespace std::chrono_literals;
using testing::HasSubstr;

const PriceCatalogue& shipped() {
    static PriceCatalogue catalogue = load_catalogue(std::filesystem::path(ECE_SOURCE_DIR) / "data/prices.json");
    return catalogue;
}

Money dollars(double d) { return Money::from_dollars(d); }

TEST(Money, IntegerSumsDoNotDrift) {
    Money total;
    for (int i = 0; i < 1000; ++i) total += Money::from_dollars(0.1);
    EXPECT_EQ(total, Money::from_cents(10000));
    EXPECT_EQ(format_money(total), "$100.00");
}

TEST(Money, Formatting) {
    EXPECT_EQ(format_money(Money::from_cents(123456789)), "$1,234,567.89");
    EXPECT_EQ(format_money(Money::from_cents(-300)), "-$3.00");
    EXPECT_EQ(format_money_change(Money::from_cents(1500)), "+$15.00");
    EXPECT_EQ(format_money_change(Money::from_cents(-1500)), "-$15.00");
    EXPECT_EQ(format_money_change(Money::from_micros(4000)), "$0.00");
    EXPECT_EQ(format_money(Money::from_micros(12'985'000)), "$12.99");  // half away from zero
    EXPECT_EQ(format_rate(Money::from_micros(41'096)), "$0.0411");
}

TEST(Catalogue, ShippedFileHasEverySectionDatedAndSourced) {
    const auto& c = shipped();
    for (const char* section : {"digitalocean_database", "digitalocean_droplet", "digitalocean_kubernetes", "aws_rds",
                                "aws_rds_aurora", "shared_server"}) {
        const auto* s = c.source_of(section);
        ASSERT_NE(s, nullptr) << section;
        EXPECT_FALSE(s->as_of.empty());
        EXPECT_FALSE(s->source.empty());
    }
    EXPECT_EQ(c.do_database_cluster_monthly("db-s-1vcpu-1gb", 1), Money::from_cents(1500));
    EXPECT_EQ(c.do_database_cluster_monthly("db-s-2vcpu-4gb", 3), Money::from_cents(18000));
    EXPECT_THROW(c.do_database_cluster_monthly("db-s-1vcpu-1gb", 2), Error);  // one node only
    EXPECT_THROW(c.do_database_cluster_monthly("db-s-nope", 1), Error);
}

TEST(Catalogue, RdsPricesMatchInfracostFixture) {
    // ../shared/fixtures/real/pricing/infracost-aws_db_instance-us-east-1.golden.txt: aws_db_instance.postgres
    // db.t3.large Single-AZ $105.85, 20 GB gp2 $2.30; mysql Multi-AZ db.t3.large $198.56 with 30 GB gp2 $6.90.
    auto postgres = boost::json::parse(R"({"engine":"postgres","instance_class":"db.t3.large","allocated_storage":20})");
    auto p = price_resource("aws_db_instance", postgres, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(*p.monthly, dollars(105.85) + dollars(2.30));
    auto mysql = boost::json::parse(
        R"({"engine":"mysql","instance_class":"db.t3.large","allocated_storage":30,"multi_az":true,"storage_type":"gp2"})");
    p = price_resource("aws_db_instance", mysql, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(*p.monthly, dollars(198.56) + dollars(6.90));
    EXPECT_EQ(p.detail, "db.t3.large, Multi-AZ, 30 GB gp2");
    // mysql-iops: db.t3.large $99.28, io1 100 GB $12.50, 1,200 IOPS $120.00
    auto io1 = boost::json::parse(
        R"({"engine":"mysql","instance_class":"db.t3.large","allocated_storage":100,"iops":1200,"storage_type":"io1"})");
    p = price_resource("aws_db_instance", io1, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(format_money(*p.monthly), "$231.78");
    // aurora-postgresql cluster instance db.t3.large $119.72
    auto aurora = boost::json::parse(R"({"engine":"aurora-postgresql","instance_class":"db.t3.large"})");
    p = price_resource("aws_rds_cluster_instance", aurora, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(format_money(*p.monthly), "$119.72");
}

TEST(Catalogue, Gp3IopsAboveBaseline) {
    // Infracost: gp3 400 GB $46.00 and 2,000 IOPS above 12,000 $40.00
    auto gp3 = boost::json::parse(
        R"({"engine":"postgres","instance_class":"db.t4g.small","allocated_storage":400,"iops":14000,"storage_type":"gp3"})");
    auto p = price_resource("aws_db_instance", gp3, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(*p.monthly, dollars(0.032).times(730) + dollars(46.00) + dollars(40.00));
}

TEST(Catalogue, DigitalOceanResources) {
    auto cluster = boost::json::parse(R"({"engine":"pg","size":"db-s-2vcpu-4gb","node_count":2})");
    auto p = price_resource("digitalocean_database_cluster", cluster, shipped());
    ASSERT_TRUE(p.monthly);
    EXPECT_EQ(*p.monthly, Money::from_cents(12000));
    EXPECT_EQ(p.detail, "db-s-2vcpu-4gb x 2 nodes");
    auto droplet = boost::json::parse(R"({"size":"s-1vcpu-1gb"})");
    EXPECT_EQ(*price_resource("digitalocean_droplet", droplet, shipped()).monthly, Money::from_cents(600));
    auto k8s = boost::json::parse(R"({"ha":true,"node_pool":[{"size":"s-2vcpu-4gb","node_count":3}]})");
    EXPECT_EQ(*price_resource("digitalocean_kubernetes_cluster", k8s, shipped()).monthly, Money::from_cents(11200));
    auto autoscaled = boost::json::parse(R"({"size":"s-2vcpu-4gb","auto_scale":true,"min_nodes":2,"max_nodes":5})");
    auto pool = price_resource("digitalocean_kubernetes_node_pool", autoscaled, shipped());
    EXPECT_EQ(*pool.monthly, Money::from_cents(4800));
    EXPECT_THAT(pool.detail, HasSubstr("autoscaling minimum"));
    auto mysql = boost::json::parse(R"({"engine":"mysql","size":"db-s-2vcpu-4gb","node_count":1})");
    EXPECT_FALSE(price_resource("digitalocean_database_cluster", mysql, shipped()).monthly);
}

TEST(Estimate, RdsFixturePerResourceAndTotals) {
    auto plan = plan::read_plan(test::fixture("real/terraform/infracost-aws-rds-terraform-0.14.plan.json"));
    auto estimate = estimate_plan_cost(plan, shipped());
    ASSERT_EQ(estimate.resources.size(), 2u);
    // db_1: update, mysql db.t3.micro, 5 GB gp2: 0.017 x 730 + 5 x 0.115 = 12.41 + 0.575
    const auto& db1 = estimate.resources[0];
    EXPECT_EQ(db1.address, "module.db.module.db_1.module.db_instance.aws_db_instance.this[0]");
    EXPECT_EQ(db1.before, Money::from_micros(12'985'000));
    EXPECT_EQ(db1.after, Money::from_micros(12'985'000));
    EXPECT_EQ(db1.diff(), Money{});
    // db_2: create, same size
    const auto& db2 = estimate.resources[1];
    EXPECT_FALSE(db2.before);
    EXPECT_EQ(db2.after, Money::from_micros(12'985'000));
    EXPECT_EQ(estimate.total_before, Money::from_micros(12'985'000));
    EXPECT_EQ(estimate.total_after, Money::from_micros(25'970'000));
    EXPECT_EQ(format_money_change(estimate.diff()), "+$12.99");
    // aws_instance, IAM roles and the rest are listed as not priced
    EXPECT_EQ(estimate.not_priced.size(), 24u);
    EXPECT_THAT(estimate.not_priced[0].reason, HasSubstr("no price for resource type aws_instance"));
}

TEST(Estimate, DeleteAndResize) {
    auto plan = plan::parse_plan(R"({"format_version":"1.2","resource_changes":[
      {"address":"digitalocean_database_cluster.env","mode":"managed","type":"digitalocean_database_cluster","name":"env",
       "change":{"actions":["update"],"before":{"engine":"pg","size":"db-s-1vcpu-2gb","node_count":1},
                 "after":{"engine":"pg","size":"db-s-2vcpu-4gb","node_count":1},"after_unknown":{}}},
      {"address":"digitalocean_droplet.old","mode":"managed","type":"digitalocean_droplet","name":"old",
       "change":{"actions":["delete"],"before":{"size":"s-1vcpu-2gb"},"after":null}}]})", "inline.json");
    auto estimate = estimate_plan_cost(plan, shipped());
    ASSERT_EQ(estimate.resources.size(), 2u);
    EXPECT_EQ(estimate.resources[0].diff(), Money::from_cents(3000));
    EXPECT_EQ(estimate.resources[1].diff(), Money::from_cents(-1200));
    EXPECT_EQ(estimate.total_before, Money::from_cents(4200));
    EXPECT_EQ(estimate.total_after, Money::from_cents(6000));
    EXPECT_EQ(estimate.diff(), Money::from_cents(1800));
}

TEST(EnvironmentCost, ClusterHoursTimesHourlyRate) {
    auto monthly = shipped().do_database_cluster_monthly("db-s-1vcpu-2gb", 1);  // $30/mo
    auto cost = cluster_environment_cost(monthly, "db-s-1vcpu-2gb x 1 node", 73h, 730h);
    EXPECT_EQ(cost.so_far, Money::from_cents(300));
    EXPECT_EQ(cost.at_expiry, Money::from_cents(3000));
    EXPECT_EQ(cost.basis, "db-s-1vcpu-2gb x 1 node at $0.0411/h");
}

TEST(EnvironmentCost, SharedServerSizeTimesRate) {
    std::uint64_t ten_gib = 10ull << 30;
    auto cost = shared_environment_cost(ten_gib, Money::from_cents(10), 365h, std::nullopt);
    EXPECT_EQ(cost.monthly_rate, Money::from_cents(100));
    EXPECT_EQ(cost.so_far, Money::from_cents(50));
    EXPECT_FALSE(cost.at_expiry);
    EXPECT_EQ(cost.basis, "10.00 GiB on disk at $0.10/GB-month");
}

TEST(Catalogue, OverrideFileAndErrors) {
    test::TempDir dir;
    auto path = dir / "prices.json";
    std::ofstream(path) << R"({"digitalocean_droplet":{"as_of":"2030-01","source":"our contract",
        "sizes":{"s-1vcpu-1gb":{"monthly":5.5}}}})";
    auto c = load_catalogue(path);
    EXPECT_EQ(c.do_droplet_monthly.at("s-1vcpu-1gb"), Money::from_cents(550));
    EXPECT_TRUE(c.rds_instance_hourly.empty());
    try {
        parse_catalogue(R"({"aws_rds":{"as_of":"x","source":"y","storage_gb_month":{"gp2":{"single_az":"cheap","multi_az":1}}}})",
                        "bad.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().field, "$.aws_rds.storage_gb_month[\"gp2\"].single_az");
        EXPECT_EQ(e.where().file, "bad.json");
    }
    EXPECT_THROW(parse_catalogue(R"({"aws_rds":{"source":"y"}})", "nodate.json"), Error);
    EXPECT_THROW(parse_catalogue("{}", "empty.json"), Error);
}

}  // namespace
}  // namespace ece::cost
