// The provider against the fake DigitalOcean: up / down / list / plan / publish, found by tags only.
#include "do_fixture.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "cost/catalogue.hpp"
#include "digitalocean/provider.hpp"

#include <gmock/gmock.h>

#include <boost/json.hpp>

namespace ece::test {
namespace {

using digitalocean::Api;
using digitalocean::Provider;
using digitalocean::ProviderConfig;
using testing::Contains;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

class ProviderTest : public DigitalOceanTest {
protected:
    void SetUp() override {
        DigitalOceanTest::SetUp();
        api_ = std::make_unique<Api>(api_options());
        prices_ = cost::load_catalogue("data/prices.json");
    }

    ProviderConfig config() {
        ProviderConfig c;
        c.project = "warehouse";
        c.region = "fra1";
        c.version = "16";
        c.size = "db-s-4vcpu-8gb";            // fast branch clusters for ETL
        c.production_size = "db-s-1vcpu-2gb";  // cheap production
        c.trusted_sources = {{"ip_addr", "192.0.2.10", "CI runner"}};
        c.ca_dir = ca_dir_.path();
        return c;
    }

    Provider provider() { return Provider(*api_, config(), prices_); }

    std::size_t count_events(const std::string& prefix) const {
        auto events = cloud_->events();
        return static_cast<std::size_t>(
            std::count_if(events.begin(), events.end(), [&](const std::string& e) { return e.starts_with(prefix); }));
    }

    // A cluster that exists already (as another run or the production deploy left it).
    std::string seed(const std::string& name, const std::string& env, const std::string& size,
                     std::chrono::hours age = std::chrono::hours(0), const std::string& project = "warehouse") {
        FakeDigitalOcean::Cluster c;
        c.name = name;
        c.size = size;
        c.status = "online";
        c.tags = {"ece", "ece-env:" + env, "ece-project:" + project};
        auto created = clock_.now() - age;
        auto t = std::chrono::system_clock::to_time_t(created);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char text[32];
        std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
        c.created_at = text;
        return cloud_->add_cluster(c);
    }

    std::size_t mutating_requests() const {
        std::size_t n = 0;
        for (const auto& r : cloud_->server().requests()) n += r.method != "GET";
        return n;
    }

    TempDir ca_dir_;
    std::unique_ptr<Api> api_;
    cost::PriceCatalogue prices_;
};

TEST_F(ProviderTest, UpCreatesATaggedClusterAndWaitsUntilItIsOnline) {
    auto p = provider();
    auto env = p.up("pr-12");
    EXPECT_TRUE(env.created);
    EXPECT_EQ(env.cluster.name, "ece-warehouse-pr-12");
    EXPECT_EQ(env.cluster.status, "online");

    auto creates = requests("POST", "/v2/databases");
    ASSERT_EQ(creates.size(), 1u);
    auto body = boost::json::parse(creates[0].body).as_object();
    EXPECT_EQ(body.at("engine"), "pg");
    EXPECT_EQ(body.at("version"), "16");
    EXPECT_EQ(body.at("size"), "db-s-4vcpu-8gb");
    EXPECT_EQ(body.at("region"), "fra1");
    EXPECT_EQ(body.at("num_nodes"), 1);
    EXPECT_EQ(body.at("tags"), boost::json::parse(R"(["ece","ece-env:pr-12","ece-project:warehouse"])"));

    // Several polls while "creating", with real waits between them (on the fake clock).
    EXPECT_GE(requests("GET", "/v2/databases/{database_cluster_uuid}").size(), 4u);
    EXPECT_GE(clock_.sleeps().size(), 3u);
    EXPECT_THAT(cloud_->events(), ElementsAre("create ece-warehouse-pr-12", "online ece-warehouse-pr-12",
                                              "firewall ece-warehouse-pr-12", "db ece-warehouse-pr-12 ece",
                                              "user ece-warehouse-pr-12 ece_pr_12"));

    auto stored = cloud_->cluster_named("ece-warehouse-pr-12");
    ASSERT_TRUE(stored);
    ASSERT_EQ(stored->rules.size(), 1u);
    EXPECT_EQ(stored->rules[0].value, "192.0.2.10");

    const auto& c = env.connection;
    EXPECT_EQ(c.host, "ece-warehouse-pr-12-do-user-19081923-0.db.ondigitalocean.com");
    EXPECT_EQ(c.port, 25060);
    EXPECT_EQ(c.user, "ece_pr_12");
    EXPECT_EQ(c.database, "ece");
    EXPECT_EQ(c.sslmode, "verify-full");
    EXPECT_EQ(read_file(c.sslrootcert), cloud_->ca_certificate_pem());
    EXPECT_EQ(c.password, stored->users.at("ece_pr_12"));
    EXPECT_THAT(c.uri(), HasSubstr("sslmode=verify-full&sslrootcert="));
    EXPECT_EQ(mask_secrets(c.uri()), "***");
    EXPECT_THAT(find_secrets(mask_secrets("connect " + c.password), {c.password}), IsEmpty());
}

TEST_F(ProviderTest, UpAgainReusesTheClusterFoundByTag) {
    auto first = provider().up("pr-12");
    cloud_->server().clear_requests();
    // A new Provider and Api, as on another CI runner with nothing on disk: the tags find the cluster.
    Api other(api_options());
    TempDir elsewhere;
    auto cfg = config();
    cfg.ca_dir = elsewhere.path();
    auto second = Provider(other, cfg, prices_).up("pr-12");
    EXPECT_FALSE(second.created);
    EXPECT_EQ(second.cluster.id, first.cluster.id);
    // Every up hands out a new password (reset_auth); the first one stops working.
    EXPECT_NE(second.connection.password, first.connection.password);
    EXPECT_EQ(requests("POST", "/v2/databases/{database_cluster_uuid}/users/{username}/reset_auth").size(), 1u);
    EXPECT_EQ(cloud_->clusters()[0].users.at("ece_pr_12"), second.connection.password);
    EXPECT_TRUE(requests("POST", "/v2/databases").empty());
    EXPECT_TRUE(requests("POST", "/v2/databases/{database_cluster_uuid}/users").empty());
    EXPECT_TRUE(requests("PUT", "/v2/databases/{database_cluster_uuid}/firewall").empty()) << "rules already right";
    EXPECT_EQ(requests("GET", "/v2/databases")[0].query_param("tag_name"), "ece-env:pr-12");
    EXPECT_EQ(cloud_->clusters().size(), 1u);
}

TEST_F(ProviderTest, UpDoesNotTakeAnotherProjectsClusterOfTheSameEnvironment) {
    seed("ece-shop-pr-12", "pr-12", "db-s-1vcpu-2gb", std::chrono::hours(1), "shop");
    auto env = provider().up("pr-12");
    EXPECT_TRUE(env.created);
    EXPECT_EQ(cloud_->clusters().size(), 2u);
}

TEST_F(ProviderTest, CreateWhoseAnswerWasLostIsFoundByTagInsteadOfDuplicated) {
    // DigitalOcean created the cluster but the answer was lost; the retried POST is refused (name in use).
    cloud_->lose_answers("POST", 1, 502);
    auto env = provider().up("pr-12");
    EXPECT_EQ(requests("POST", "/v2/databases").size(), 2u);
    EXPECT_EQ(cloud_->clusters().size(), 1u);
    EXPECT_EQ(env.cluster.status, "online");
    EXPECT_EQ(env.connection.user, "ece_pr_12");
}

TEST_F(ProviderTest, ClusterNameTakenByAnUntaggedClusterIsAClearError) {
    FakeDigitalOcean::Cluster squatter;
    squatter.name = "ece-warehouse-pr-12";
    squatter.size = "db-s-1vcpu-2gb";
    cloud_->add_cluster(squatter);
    try {
        provider().up("pr-12");
        FAIL() << "expected the name to be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().http_status, 422);
        EXPECT_THAT(e.message(), HasSubstr("creating database cluster ece-warehouse-pr-12"));
        EXPECT_THAT(e.message(), HasSubstr("already in use"));
    }
    EXPECT_EQ(cloud_->clusters().size(), 1u);
}

TEST_F(ProviderTest, UnknownRegionOrVersionIsRefusedBeforeCreating) {
    auto cfg = config();
    cfg.region = "mars1";
    EXPECT_THAT([&] { Provider(*api_, cfg, prices_).up("pr-12"); },
                testing::ThrowsMessage<Error>(HasSubstr("region mars1 offers no DigitalOcean PostgreSQL")));
    cfg = config();
    cfg.version = "9";
    EXPECT_THAT([&] { Provider(*api_, cfg, prices_).plan_up("pr-12"); },
                testing::ThrowsMessage<Error>(HasSubstr("PostgreSQL 9 is not offered")));
    EXPECT_EQ(mutating_requests(), 0u);
}

TEST_F(ProviderTest, DownDeletesEverythingOfTheEnvironment) {
    auto p = provider();
    auto env = p.up("pr-12");
    seed("ece-warehouse-pr-13", "pr-13", "db-s-1vcpu-2gb");
    EXPECT_THAT(p.down("pr-12"), ElementsAre("ece-warehouse-pr-12"));
    EXPECT_FALSE(cloud_->cluster_named("ece-warehouse-pr-12"));
    EXPECT_TRUE(cloud_->cluster_named("ece-warehouse-pr-13")) << "other environments stay";
    EXPECT_FALSE(std::filesystem::exists(env.connection.sslrootcert));
    EXPECT_THAT(p.down("pr-12"), IsEmpty()) << "down twice is fine";
    EXPECT_THROW(p.down("production"), Error);
}

TEST_F(ProviderTest, ListFindsEceClustersByTagWithCostSoFar) {
    seed("ece-warehouse-pr-1", "pr-1", "db-s-1vcpu-2gb", std::chrono::hours(73));
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(730));
    seed("ece-shop-pr-1", "pr-1", "db-s-1vcpu-2gb", std::chrono::hours(5), "shop");
    FakeDigitalOcean::Cluster unrelated;
    unrelated.name = "someone-elses-db";
    unrelated.size = "db-s-1vcpu-2gb";
    unrelated.tags = {"production"};
    cloud_->add_cluster(unrelated);

    auto list = provider().list();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].env, "production");  // oldest first
    EXPECT_EQ(list[1].env, "pr-1");
    EXPECT_EQ(list[1].project, "warehouse");
    EXPECT_EQ(list[1].cluster.status, "online");
    ASSERT_TRUE(list[1].cost);
    EXPECT_EQ(list[1].cost->monthly_rate, cost::Money::from_cents(3000));
    EXPECT_EQ(list[1].cost->so_far, cost::Money::from_cents(300));  // 73 h of 730 h at $30/month
    ASSERT_TRUE(list[0].cost);
    EXPECT_EQ(list[0].cost->so_far, cost::Money::from_cents(6000));
    EXPECT_EQ(requests("GET", "/v2/databases")[0].query_param("tag_name"), "ece");

    auto everything = provider().list(true);
    ASSERT_EQ(everything.size(), 3u) << "every ece cluster, but never an untagged one";
    EXPECT_EQ(everything[2].project, "shop");
}

TEST_F(ProviderTest, BadSizeIsRefusedBeforeAnythingIsCreated) {
    auto cfg = config();
    cfg.size = "db-s-64vcpu-1tb";
    try {
        Provider(*api_, cfg, prices_).up("pr-12");
        FAIL() << "expected a size error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.message(), HasSubstr("size db-s-64vcpu-1tb with 1 node is not offered"));
        EXPECT_THAT(e.message(), HasSubstr("db-s-1vcpu-2gb"));  // what is offered instead
    }
    EXPECT_TRUE(requests("POST", "/v2/databases").empty());
    EXPECT_EQ(mutating_requests(), 0u);
}

TEST_F(ProviderTest, SizeNotOfferedForTheNodeCountIsRefused) {
    auto cfg = config();
    cfg.size = "db-s-1vcpu-1gb";
    cfg.num_nodes = 2;
    try {
        Provider(*api_, cfg, prices_).plan_up("pr-12");
        FAIL() << "expected a size error";
    } catch (const Error& e) {
        EXPECT_THAT(e.message(), HasSubstr("db-s-1vcpu-1gb with 2 nodes is not offered"));
    }
}

TEST_F(ProviderTest, ClusterThatNeverComesOnlineIsDeletedAndReported) {
    cloud_->never_online("ece-warehouse-pr-12");
    auto cfg = config();
    cfg.create_wait.timeout = std::chrono::minutes(20);
    auto start = clock_.now();
    try {
        Provider(*api_, cfg, prices_).up("pr-12");
        FAIL() << "expected a deadline error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::network);
        EXPECT_THAT(e.message(), HasSubstr("environment pr-12"));
        EXPECT_THAT(e.message(), HasSubstr("ece-warehouse-pr-12"));
        EXPECT_THAT(e.message(), HasSubstr("is not online after 20 min (status: creating"));
        EXPECT_THAT(e.message(), HasSubstr("was deleted again"));
        EXPECT_THAT(find_secrets(e.what(), {cloud_->token()}), IsEmpty());
    }
    EXPECT_GE(clock_.now() - start, std::chrono::minutes(20));
    EXPECT_TRUE(cloud_->clusters().empty()) << "nothing left to pay for";
    EXPECT_THAT(cloud_->events(), ElementsAre("create ece-warehouse-pr-12", "delete ece-warehouse-pr-12"));
}

TEST_F(ProviderTest, RejectedTokenStopsUpWithAClearMessage) {
    Api bad(api_options("dop_v1_0000000000000000000000000000000000000000000000000000000000000000"));
    try {
        Provider(bad, config(), prices_).up("pr-12");
        FAIL() << "expected 401";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth);
        EXPECT_THAT(e.message(), HasSubstr("rejected the API token"));
        EXPECT_THAT(find_secrets(e.what(), {"dop_v1_0000000000000000000000000000000000000000000000000000000000000000",
                                            cloud_->token()}),
                    IsEmpty());
    }
    EXPECT_TRUE(cloud_->clusters().empty());
}

TEST_F(ProviderTest, UpRidesOutRateLimitsAndServerErrors) {
    cloud_->rate_limit_next(2, clock_.epoch_seconds() + 10);
    auto p = provider();
    auto plan = p.plan_up("pr-12");  // eats the 429s
    cloud_->fail_next(3, 502);
    auto env = p.up("pr-12");
    EXPECT_TRUE(env.created);
    EXPECT_EQ(cloud_->clusters().size(), 1u);
}

TEST_F(ProviderTest, DryRunPlanListsTheClusterAndItsMonthlyCostAndChangesNothing) {
    auto p = provider();
    auto plan = p.plan_up("pr-12");
    ASSERT_EQ(plan.changes.size(), 1u);
    EXPECT_EQ(plan.changes[0].action, "create");
    EXPECT_EQ(plan.changes[0].cluster, "ece-warehouse-pr-12");
    EXPECT_THAT(plan.changes[0].detail, HasSubstr("db-s-4vcpu-8gb x 1 node in fra1"));
    EXPECT_EQ(plan.changes[0].monthly_after, cost::Money::from_cents(12000));
    EXPECT_EQ(plan.monthly_before, cost::Money{});
    EXPECT_EQ(plan.monthly_after, cost::Money::from_cents(12000));
    EXPECT_EQ(mutating_requests(), 0u);
    EXPECT_EQ(cloud_->mutations(), 0u);

    p.up("pr-12");
    auto again = p.plan_up("pr-12");
    ASSERT_EQ(again.changes.size(), 1u);
    EXPECT_EQ(again.changes[0].action, "reuse");
    EXPECT_EQ(again.monthly_before, again.monthly_after);
}

TEST_F(ProviderTest, DryRunDownPlanListsWhatWouldBeDeleted) {
    seed("ece-warehouse-pr-12", "pr-12", "db-s-2vcpu-4gb", std::chrono::hours(3));
    auto plan = provider().plan_down("pr-12");
    ASSERT_EQ(plan.changes.size(), 1u);
    EXPECT_EQ(plan.changes[0].action, "delete");
    EXPECT_EQ(plan.changes[0].cluster, "ece-warehouse-pr-12");
    EXPECT_EQ(plan.monthly_before, cost::Money::from_cents(6000));
    EXPECT_EQ(plan.monthly_after, cost::Money{});
    EXPECT_EQ(mutating_requests(), 0u);
    EXPECT_TRUE(cloud_->cluster_named("ece-warehouse-pr-12"));
}

TEST_F(ProviderTest, DryRunPublishPlanShowsResizeDeleteAndCostBeforeAndAfter) {
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(1000));
    seed("ece-warehouse-pr-12", "pr-12", "db-s-4vcpu-8gb", std::chrono::hours(2));
    auto plan = provider().plan_publish("pr-12");
    ASSERT_EQ(plan.changes.size(), 3u);
    EXPECT_EQ(plan.changes[0].action, "resize");
    EXPECT_EQ(plan.changes[0].detail, "db-s-4vcpu-8gb x 1 node -> db-s-1vcpu-2gb x 1 node");
    EXPECT_EQ(plan.changes[1].action, "retag");
    EXPECT_EQ(plan.changes[2].action, "delete");
    EXPECT_EQ(plan.changes[2].cluster, "ece-warehouse-production");
    EXPECT_EQ(plan.monthly_before, cost::Money::from_cents(12000 + 6000));
    EXPECT_EQ(plan.monthly_after, cost::Money::from_cents(3000));
    EXPECT_EQ(mutating_requests(), 0u);
}

TEST_F(ProviderTest, PublishResizesRetagsAndDeletesOldProductionOnlyAfterTheNewIsOnlineAndHealthy) {
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(1000));
    auto p = provider();
    p.up("pr-12");
    auto events_before = cloud_->events().size();

    std::vector<std::string> seen_at_health_check;
    std::string health_user;
    auto result = p.publish("pr-12", [&](const digitalocean::EnvironmentConnection& c) {
        seen_at_health_check = cloud_->events();
        health_user = c.user;
    });

    auto events = cloud_->events();
    std::vector<std::string> publish_events(events.begin() + static_cast<std::ptrdiff_t>(events_before), events.end());
    EXPECT_THAT(publish_events, ElementsAre("resize ece-warehouse-pr-12 db-s-1vcpu-2gbx1",
                                            "resized ece-warehouse-pr-12",
                                            "tag ece-warehouse-pr-12 ece-env:production",
                                            "delete ece-warehouse-production",
                                            "untag ece-warehouse-pr-12 ece-env:pr-12"));
    // The health check ran on the resized, online cluster, before anything of production changed.
    EXPECT_THAT(seen_at_health_check, Contains("resized ece-warehouse-pr-12"));
    EXPECT_THAT(seen_at_health_check, Not(Contains("delete ece-warehouse-production")));
    EXPECT_EQ(health_user, "ece_pr_12");

    EXPECT_THAT(result.deleted, ElementsAre("ece-warehouse-production"));
    EXPECT_EQ(result.production.size, "db-s-1vcpu-2gb");
    EXPECT_EQ(result.production.status, "online");
    EXPECT_EQ(result.production.tag_value("ece-env:"), "production");
    EXPECT_EQ(result.monthly_before, cost::Money::from_cents(12000 + 6000));
    EXPECT_EQ(result.monthly_after, cost::Money::from_cents(3000));
    // The resize was watched through "resizing" polls.
    EXPECT_GE(requests("PUT", "/v2/databases/{database_cluster_uuid}/resize").size(), 1u);

    // Found by tag afterwards as production; the branch environment is gone.
    auto list = p.list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].env, "production");
    EXPECT_FALSE(p.find("pr-12"));
}

TEST_F(ProviderTest, PublishWithAFailingHealthCheckLeavesProductionAlone) {
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(1000));
    auto p = provider();
    p.up("pr-12");
    try {
        p.publish("pr-12", [](const digitalocean::EnvironmentConnection&) {
            throw Error(ErrorKind::database, "SELECT 1 failed: connection refused");
        });
        FAIL() << "expected the health check to stop publish";
    } catch (const Error& e) {
        EXPECT_THAT(e.message(), HasSubstr("failed its health check"));
        EXPECT_THAT(e.message(), HasSubstr("production was left as it was"));
    }
    EXPECT_TRUE(cloud_->cluster_named("ece-warehouse-production"));
    EXPECT_EQ(count_events("delete"), 0u);
    EXPECT_EQ(count_events("tag "), 0u);
    EXPECT_EQ(p.find("production")->name, "ece-warehouse-production");
}

TEST_F(ProviderTest, PublishCutShortAfterTaggingIsFinishedByRunningItAgain) {
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(1000));
    auto p = provider();
    p.up("pr-12");
    // As if the runner died after asking for the resize and tagging: both clusters carry ece-env:production.
    auto branch = *p.find("pr-12");
    api_->add_tag(branch.id, "ece-env:production");
    api_->resize_cluster(branch.id, "db-s-1vcpu-2gb", 1);
    EXPECT_EQ(p.find("production")->id, branch.id) << "the newer production cluster is the published one";
    EXPECT_THAT(p.down("pr-12"), IsEmpty()) << "down must not delete what is production now";

    auto result = p.publish("pr-12", {});
    EXPECT_THAT(result.deleted, ElementsAre("ece-warehouse-production"));
    EXPECT_EQ(requests("PUT", "/v2/databases/{database_cluster_uuid}/resize").size(), 1u) << "no second resize";
    auto list = p.list();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].cluster.id, branch.id);
    EXPECT_EQ(list[0].env, "production");
}

TEST_F(ProviderTest, PublishAgainAfterItCompletedFinishesOnTheClusterThatIsProductionNow) {
    seed("ece-warehouse-production", "production", "db-s-2vcpu-4gb", std::chrono::hours(1000));
    auto p = provider();
    p.up("pr-12");
    p.publish("pr-12", {});
    EXPECT_FALSE(p.find("pr-12")) << "the branch tag is gone";

    auto again = p.publish("pr-12", {});  // e.g. the first run was killed right after its last request
    EXPECT_EQ(again.production.name, "ece-warehouse-pr-12");
    EXPECT_THAT(again.deleted, IsEmpty());
    EXPECT_EQ(requests("PUT", "/v2/databases/{database_cluster_uuid}/resize").size(), 1u) << "no second resize";
    ASSERT_EQ(p.list().size(), 1u);
    EXPECT_EQ(p.list()[0].env, "production");
    EXPECT_THROW(p.publish("pr-13", {}), Error) << "an env with no cluster of its own still has nothing to publish";
}

TEST_F(ProviderTest, PublishWithoutAPreviousProductionJustResizesAndRetags) {
    auto p = provider();
    p.up("pr-1");
    auto result = p.publish("pr-1", {});
    EXPECT_THAT(result.deleted, IsEmpty());
    EXPECT_EQ(result.monthly_before, cost::Money::from_cents(12000));
    EXPECT_EQ(result.monthly_after, cost::Money::from_cents(3000));
    EXPECT_EQ(p.find("production")->name, "ece-warehouse-pr-1");
}

TEST_F(ProviderTest, ClusterNamesAreDigitalOceanSafe) {
    auto p = provider();
    EXPECT_EQ(p.cluster_name("pr-12"), "ece-warehouse-pr-12");
    EXPECT_EQ(p.cluster_name("Feature/Add_Stuff"), "ece-warehouse-feature-add-stuff");
    auto longer = p.cluster_name(std::string(80, 'x'));
    EXPECT_LE(longer.size(), 63u);
    EXPECT_NE(longer, p.cluster_name(std::string(81, 'x'))) << "a hash keeps long names apart";
    EXPECT_EQ(p.user_name("pr-12"), "ece_pr_12");
    EXPECT_EQ(p.env_tag("pr-12"), "ece-env:pr-12");
}

}  // namespace
}  // namespace ece::test
