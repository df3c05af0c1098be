// Environments on the digitalocean provider, against the fake DigitalOcean API (tests/support_do) and a real
// catalog database (tests/support_pg): up/list/down/gc/publish through env::Environments and the built ece-env.
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "env/digitalocean_provider.hpp"
#include "env/digitalocean_publish.hpp"
#include "env/environments.hpp"
#include "fake_digitalocean.hpp"
#include "openapi.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "process/process.hpp"
#include "support.hpp"

#include <boost/json.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

namespace ece::env {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace json = boost::json;

constexpr const char* project = "shop";

std::string env_prefix() {
    std::string prefix = test::unique_name("d");
    prefix.resize(std::min(prefix.size(), max_prefix_bytes - 1));
    return prefix + "_";
}

class DigitalOceanEnv : public ::testing::Test {
protected:
    DigitalOceanEnv() : cloud(fake_options()) {
        config.project = project;
        config.root = dir.path();
        config.environments.provider = "digitalocean";
        config.environments.prefix = env_prefix();
        config.environments.ttl = std::chrono::hours(72);
        config.digitalocean.region = "fra1";
        config.digitalocean.version = "16";
        config.digitalocean.size = "db-s-4vcpu-8gb";
        config.digitalocean.production_size = "db-s-1vcpu-2gb";
        config.digitalocean.trusted_sources = {"192.0.2.10", "tag:ci-runners"};
        config.production.role = "analytics";
        config.production.schemas = {"analytics"};
    }

    static void SetUpTestSuite() {
        spec_dir = std::make_unique<test::TempDir>();
        spec = std::make_unique<test::OpenApiSpec>(test::OpenApiSpec::digitalocean(spec_dir->path()));
    }
    static void TearDownTestSuite() {
        spec.reset();
        spec_dir.reset();
    }

    // Every request sent must fit DigitalOcean's API description.
    void check_requests(test::FakeDigitalOcean& fake) {
        for (const auto& request : fake.server().requests()) {
            for (const auto& problem : spec->check_request(request.method, request.target, request.body)) {
                ADD_FAILURE() << "request departs from DigitalOcean's API description: " << problem;
            }
        }
    }
    void TearDown() override { check_requests(cloud); }

    static test::FakeDigitalOceanOptions fake_options() {
        test::FakeDigitalOceanOptions options;
        options.polls_until_online = 2;
        options.polls_until_resized = 2;
        return options;
    }

    DigitalOceanOptions options() {
        DigitalOceanOptions o;
        o.api_url = cloud.api_url();
        o.token = cloud.token();
        o.api_ca_file = cloud.ca_file();
        // Waiting costs no time: sleeping only counts.
        o.clock = {[] { return std::chrono::system_clock::now(); }, [this](std::chrono::milliseconds) { ++sleeps; }};
        o.jitter = [] { return 0.5; };
        o.database_setup = [this](const digitalocean::Cluster& cluster, const digitalocean::EnvironmentConnection& c,
                                  const Identity& id) {
            setups.push_back(cluster.name + " " + c.user + " " + id.base_schema);
        };
        o.health_check = [this](const digitalocean::EnvironmentConnection& c) {
            events_at_health_check = cloud.events();
            health_user = c.user;
        };
        return o;
    }

    // catalog_url empty: no catalog at all (tags only).
    Environments environments(const std::string& catalog_url) {
        Settings settings;
        settings.admin_url = catalog_url;
        settings.config = config;
        settings.lock_timeout = std::chrono::seconds(30);
        settings.digitalocean = options();
        return Environments(std::move(settings));
    }

    std::size_t mutating_requests() {
        std::size_t n = 0;
        for (const auto& r : cloud.server().requests()) n += r.method != "GET";
        return n;
    }

    std::vector<std::string> secrets() const {
        std::vector<std::string> out{cloud.token()};
        for (const auto& c : cloud.clusters()) {
            for (const auto& [user, password] : c.users) out.push_back(password);
        }
        return out;
    }

    test::TempDir dir;
    test::FakeDigitalOcean cloud;
    config::Config config;
    int sleeps = 0;
    std::vector<std::string> setups;
    std::vector<std::string> events_at_health_check;
    std::string health_user;
    static inline std::unique_ptr<test::TempDir> spec_dir;
    static inline std::unique_ptr<test::OpenApiSpec> spec;
};

TEST_F(DigitalOceanEnv, UpCreatesATaggedClusterRecordsItAndConnectsWithVerifiedTls) {
    auto catalog = test::fresh_database("do_env");
    auto envs = environments(catalog);
    auto result = envs.up({"feature/cart", 12, "abc123", {}});

    EXPECT_TRUE(result.created);
    EXPECT_EQ(result.record.provider, "digitalocean");
    EXPECT_EQ(result.record.status, Status::ready);
    const auto role = config.environments.prefix + "pr_12";
    const auto& c = result.credentials;
    EXPECT_EQ(c.user, role);
    EXPECT_EQ(c.schema, role);
    EXPECT_EQ(c.dbname, "ece");
    EXPECT_EQ(c.host, "ece-shop-pr-12-do-user-19081923-0.db.ondigitalocean.com");
    EXPECT_EQ(c.port, "25060");
    EXPECT_EQ(c.options.at("sslmode"), "verify-full");
    // The CA file holds the cluster's CA, and the URL names it.
    std::ifstream ca(c.options.at("sslrootcert"));
    std::string pem((std::istreambuf_iterator<char>(ca)), {});
    EXPECT_EQ(pem, cloud.ca_certificate_pem());
    EXPECT_THAT(c.url(), HasSubstr("sslmode=verify-full"));
    EXPECT_THAT(c.url(), HasSubstr("sslrootcert="));
    EXPECT_EQ(mask_secrets(c.password), "***");

    auto cluster = cloud.cluster_named("ece-shop-pr-12");
    ASSERT_TRUE(cluster);
    EXPECT_EQ(cluster->size, "db-s-4vcpu-8gb");
    EXPECT_THAT(cluster->tags, Contains("ece-env:pr-12"));
    EXPECT_THAT(cluster->tags, Contains("ece-project:shop"));
    ASSERT_TRUE(result.record.expires_at);
    auto epoch = std::chrono::duration_cast<std::chrono::seconds>(result.record.expires_at->time_since_epoch()).count();
    EXPECT_THAT(cluster->tags, Contains("ece-expires:" + std::to_string(epoch))) << "the expiry lives in the tags too";
    EXPECT_EQ(cluster->rules.size(), 2u);
    EXPECT_EQ(cluster->users.at(role), c.password);
    EXPECT_EQ(setups, std::vector<std::string>{"ece-shop-pr-12 " + role + " " + role});
    EXPECT_GE(sleeps, 1) << "polled until online";

    // The catalog row, as for postgres.
    auto found = envs.find(envs.identify("feature/cart", 12));
    ASSERT_TRUE(found);
    EXPECT_EQ(found->branch, "feature/cart");
    EXPECT_EQ(found->head_sha, "abc123");
    EXPECT_FALSE(envs.provider().supports_defer()) << "dbt builds the whole project on another cluster";
}

TEST_F(DigitalOceanEnv, UpTwiceReusesTheClusterWithANewPassword) {
    auto catalog = test::fresh_database("do_env");
    auto first = environments(catalog).up({"main", std::nullopt, "", {}});
    auto second = environments(catalog).up({"main", std::nullopt, "", {}});
    EXPECT_TRUE(first.created);
    EXPECT_FALSE(second.created);
    EXPECT_EQ(cloud.clusters().size(), 1u);
    EXPECT_NE(first.credentials.password, second.credentials.password) << "every up rotates the password";
    const auto role = config.environments.prefix + "main";
    EXPECT_EQ(cloud.clusters()[0].users.at(role), second.credentials.password);
    EXPECT_THAT(cloud.clusters()[0].tags, Contains("ece-env:main"));
    // One expiry tag, the newest.
    int expiry_tags = 0;
    const auto cluster = cloud.clusters().at(0);
    for (const auto& tag : cluster.tags) expiry_tags += tag.starts_with("ece-expires:");
    EXPECT_EQ(expiry_tags, 1);
}

TEST_F(DigitalOceanEnv, ListFindsClustersByTagWhenTheCatalogIsGoneOrAbsent) {
    auto catalog = test::fresh_database("do_env");
    environments(catalog).up({"feature/cart", 12, "", {}});
    environments(catalog).up({"main", std::nullopt, "", {}});
    cloud.add_production_cluster(project);

    // Another catalog (the runner's disk is gone): the rows are missing, the tags are not.
    auto elsewhere = test::fresh_database("do_env_new");
    for (const auto& url : {elsewhere, std::string()}) {
        auto listed = environments(url).list();
        std::set<std::string> names;
        for (const auto& item : listed) {
            names.insert(item.record.name);
            EXPECT_EQ(item.record.provider, "digitalocean");
            EXPECT_EQ(item.record.status, Status::ready);
            EXPECT_TRUE(item.record.expires_at);
            EXPECT_THAT(item.record.details, HasSubstr("\"found_by\":\"tags\""));
        }
        EXPECT_EQ(names, (std::set<std::string>{"pr-12", "main"})) << "production is no environment; catalog: " << url;
    }
    // A pull request's number comes back from its tag.
    auto none = environments("");
    auto record = none.find(none.identify("feature/cart", 12));
    ASSERT_TRUE(record);
    EXPECT_EQ(record->pr, 12);
    EXPECT_EQ(record->role_name, config.environments.prefix + "pr_12");
}

TEST_F(DigitalOceanEnv, WithoutACatalogUpHintsCredentialsAndDownWorkFromTagsAlone) {
    auto envs = environments("");
    EXPECT_FALSE(envs.has_catalog());
    auto up = envs.up({"feature/x", 3, "", {}});
    EXPECT_TRUE(up.created);
    EXPECT_EQ(up.record.status, Status::ready);
    EXPECT_TRUE(up.record.expires_at);
    auto id = envs.identify("feature/x", 3);
    auto facts = envs.connection_facts(id);
    EXPECT_TRUE(facts.password.empty());
    EXPECT_EQ(facts.host, up.credentials.host);
    auto issued = envs.issue_credentials(id);
    EXPECT_NE(issued.password, up.credentials.password);

    auto down = envs.down(id);
    EXPECT_TRUE(down.existed);
    EXPECT_FALSE(cloud.cluster_named("ece-shop-pr-3"));
    EXPECT_FALSE(envs.down(id).existed);
    EXPECT_THROW(envs.issue_credentials(id), Error);
}

TEST_F(DigitalOceanEnv, DownDeletesTheClusterAndMarksTheRowDestroyed) {
    auto catalog = test::fresh_database("do_env");
    auto envs = environments(catalog);
    envs.up({"feature/cart", 12, "", {}});
    auto id = envs.identify("feature/cart", 12);
    auto result = envs.down(id);
    EXPECT_TRUE(result.existed);
    EXPECT_TRUE(cloud.clusters().empty());
    EXPECT_THAT(cloud.events(), Contains("delete ece-shop-pr-12"));
    EXPECT_EQ(envs.find(id)->status, Status::destroyed);
    EXPECT_FALSE(envs.down(id).existed);
}

TEST_F(DigitalOceanEnv, DownWithTheCatalogGoneStillFindsTheClusterByTag) {
    environments(test::fresh_database("do_env")).up({"feature/cart", 12, "", {}});
    auto envs = environments(test::fresh_database("do_env_new"));
    EXPECT_TRUE(envs.down(envs.identify("feature/cart", 12)).existed);
    EXPECT_TRUE(cloud.clusters().empty());
}

TEST_F(DigitalOceanEnv, GcRemovesExpiredAndClosedEnvironmentsByTag) {
    auto catalog = test::fresh_database("do_env");
    environments(catalog).up({"old", std::nullopt, "", std::chrono::milliseconds(1)});
    environments(catalog).up({"feature/a", 21, "", {}});
    environments(catalog).up({"feature/b", 22, "", {}});
    cloud.add_production_cluster(project);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past "old"'s expiry, in whole seconds

    // The catalog is gone: expiry and pull request numbers come from the tags.
    auto envs = environments("");
    auto dry = envs.gc({true, std::set<int>{22}});
    EXPECT_EQ(dry.size(), 2u);
    EXPECT_EQ(cloud.clusters().size(), 4u) << "a dry run removes nothing";

    auto items = envs.gc({false, std::set<int>{22}});
    std::map<std::string, std::string> reasons;
    for (const auto& item : items) {
        EXPECT_TRUE(item.removed) << item.record.name;
        reasons[item.record.name] = item.reason;
    }
    EXPECT_THAT(reasons["old"], HasSubstr("expired"));
    EXPECT_THAT(reasons["pr-21"], HasSubstr("pull request #21 is closed"));
    std::set<std::string> left;
    for (const auto& c : cloud.clusters()) left.insert(c.name);
    EXPECT_EQ(left, (std::set<std::string>{"ece-shop-pr-22", "ece-shop-production"}));
}

TEST_F(DigitalOceanEnv, DryRunsSendNoMutatingRequestAndPriceTheChange) {
    auto catalog = test::fresh_database("do_env");
    auto envs = environments(catalog);
    auto id = envs.identify("feature/cart", 12);
    cloud.server().clear_requests();
    auto plan = envs.plan_up(id);
    ASSERT_EQ(plan.changes.size(), 1u);
    EXPECT_EQ(plan.changes[0].action, "create");
    EXPECT_EQ(plan.changes[0].cluster, "ece-shop-pr-12");
    ASSERT_TRUE(plan.changes[0].monthly_after);
    EXPECT_GT(plan.monthly_after.micros(), 0);
    EXPECT_EQ(mutating_requests(), 0u);

    envs.up({"feature/cart", 12, "", {}});
    cloud.add_production_cluster(project);
    cloud.server().clear_requests();
    auto down = envs.plan_down(id);
    ASSERT_EQ(down.changes.size(), 1u);
    EXPECT_EQ(down.changes[0].action, "delete");
    auto publish = plan_publish_by_resize(envs, id);
    std::vector<std::string> actions;
    for (const auto& c : publish.changes) actions.push_back(c.action);
    EXPECT_EQ(actions, (std::vector<std::string>{"resize", "retag", "delete"}));
    EXPECT_GT(publish.monthly_before, publish.monthly_after) << "a big branch cluster + old production -> small one";
    EXPECT_EQ(mutating_requests(), 0u);

    auto as_json = digitalocean::plan_to_json(publish);
    EXPECT_EQ(as_json.at("changes").as_array()[0].as_object().at("action").as_string(), "resize");
    EXPECT_TRUE(as_json.at("changes").as_array()[0].as_object().at("monthly_before").is_string());
}

TEST_F(DigitalOceanEnv, PublishResizesRetagsAndDeletesOldProductionOnlyAfterHealth) {
    auto catalog = test::fresh_database("do_env");
    auto envs = environments(catalog);
    envs.up({"feature/cart", 12, "", {}});
    cloud.add_production_cluster(project);
    auto result = publish_by_resize(envs, envs.identify("feature/cart", 12));

    EXPECT_THAT(events_at_health_check, Contains("resized ece-shop-pr-12"));
    EXPECT_THAT(events_at_health_check, Not(Contains("delete ece-shop-production")));
    EXPECT_EQ(health_user, config.environments.prefix + "pr_12");
    EXPECT_EQ(result.production.name, "ece-shop-pr-12");
    EXPECT_EQ(result.production.size, "db-s-1vcpu-2gb");
    EXPECT_EQ(result.deleted, std::vector<std::string>{"ece-shop-production"});
    EXPECT_GT(result.monthly_before, result.monthly_after);
    auto now_production = cloud.cluster_named("ece-shop-pr-12");
    ASSERT_TRUE(now_production);
    EXPECT_THAT(now_production->tags, Contains("ece-env:production"));
    EXPECT_THAT(now_production->tags, Not(Contains("ece-env:pr-12")));
    for (const auto& tag : now_production->tags) EXPECT_FALSE(tag.starts_with("ece-expires:")) << "gc keeps off";
    // The environment became production: its row is closed, and gc finds nothing to collect.
    EXPECT_EQ(envs.find(envs.identify("feature/cart", 12))->status, Status::destroyed);
    EXPECT_TRUE(envs.gc({false, std::set<int>{}}).empty()) << "production is never collected";
    EXPECT_TRUE(cloud.cluster_named("ece-shop-pr-12"));
}

TEST_F(DigitalOceanEnv, PublishOnThePostgresProviderIsAUsageError) {
    config.environments.provider = "postgres";
    Settings settings{test::fresh_database("do_env"), config, true, std::chrono::seconds(30)};
    Environments envs(std::move(settings));
    try {
        publish_by_resize(envs, envs.identify("main", std::nullopt));
        FAIL() << "expected a usage error";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.message(), HasSubstr("digitalocean"));
    }
}

TEST_F(DigitalOceanEnv, BranchNamedProductionCannotTakeProductionsTag) {
    config.environments.prefix = "ece_";
    auto envs = environments("");
    EXPECT_THROW(envs.up({"production", std::nullopt, "", {}}), Error);
    EXPECT_TRUE(cloud.clusters().empty());
}

TEST(TrustedSources, AddressesAndTypedValuesBecomeFirewallRules) {
    auto rules = trusted_source_rules({"192.0.2.10", "198.51.100.0/24", "2001:db8::/32", "droplet:123", "tag:ci"});
    ASSERT_EQ(rules.size(), 5u);
    EXPECT_EQ(rules[0].type, "ip_addr");
    EXPECT_EQ(rules[1].value, "198.51.100.0/24");
    EXPECT_EQ(rules[2].type, "ip_addr");
    EXPECT_EQ(rules[3].type, "droplet");
    EXPECT_EQ(rules[3].value, "123");
    EXPECT_EQ(rules[4].type, "tag");
    EXPECT_THROW(trusted_source_rules({"my-laptop"}), Error);
}

// ----------------------------------------------------------------------------------------------------------------
// The built ece-env against the fake, as a CI job runs it.

class DigitalOceanCli : public DigitalOceanEnv {
protected:
    // Every cluster is a real PostgreSQL server: the binaries set up schemas, reset passwords and check health
    // over verified TLS exactly as against DigitalOcean.
    static test::FakeDigitalOceanOptions instant() {
        test::FakeDigitalOceanOptions options;
        options.polls_until_online = 0;  // the binary really sleeps between polls
        options.polls_until_resized = 0;
        options.real_postgres = true;
        return options;
    }

    void SetUp() override {
        cloud_ = std::make_unique<test::FakeDigitalOcean>(instant());
        std::ofstream(dir / "ece.yml") << "project: shop\nproduction:\n  role: analytics\n  schemas: [analytics]\n"
                                       << "environments:\n  provider: digitalocean\n  prefix: "
                                       << config.environments.prefix << "\n  ttl: 2h\n"
                                       << "digitalocean:\n  region: fra1\n  version: \"16\"\n"
                                       << "  size: db-s-4vcpu-8gb\n  production_size: db-s-1vcpu-2gb\n"
                                       << "  trusted_sources: [192.0.2.10]\n";
    }

    // shows_password: `up --format json` hands the password to the script that asked (as on postgres).
    void TearDown() override { check_requests(*cloud_); }

    process::Result run(std::vector<std::string> args, const std::string& catalog = "", bool shows_password = false) {
        std::vector<std::string> argv = {ECE_ENV_BINARY, "--config", (dir / "ece.yml").string(),
                                         "--digitalocean-ca-file", cloud_->ca_file().string()};
        if (!catalog.empty()) argv.insert(argv.end(), {"--database-url", catalog});
        argv.insert(argv.end(), args.begin(), args.end());
        process::Command command{argv};
        command.cwd = dir.path();
        command.timeout = std::chrono::seconds(60);
        command.env = {{"DIGITALOCEAN_TOKEN", cloud_->token()},
                       {"DIGITALOCEAN_API_URL", cloud_->api_url()},
                       {"HOME", dir.path().string()}};
        auto result = process::run(command);
        auto secrets_now = secrets_of_cloud();
        if (!catalog.empty()) secrets_now.push_back(catalog);
        if (shows_password) {
            EXPECT_THAT(test::find_secrets(result.out + result.err, {cloud_->token(), catalog}), IsEmpty());
        } else {
            EXPECT_THAT(test::find_secrets(result.out + result.err, secrets_now), IsEmpty()) << args[0];
        }
        return result;
    }

    std::vector<std::string> secrets_of_cloud() const {
        std::vector<std::string> out{cloud_->token()};
        for (const auto& c : cloud_->clusters()) {
            for (const auto& [user, password] : c.users) out.push_back(password);
        }
        for (const auto& p : seen_passwords) out.push_back(p);
        return out;
    }

    std::size_t mutations_sent() {
        std::size_t n = 0;
        for (const auto& r : cloud_->server().requests()) n += r.method != "GET";
        return n;
    }

    std::unique_ptr<test::FakeDigitalOcean> cloud_;
    std::vector<std::string> seen_passwords;
};

TEST_F(DigitalOceanCli, UpListDryRunPublishDownGc) {
    auto catalog = test::fresh_database("do_cli");

    // A dry run first: nothing is sent but GETs; the plan prices the cluster.
    auto dry = run({"--format", "json", "up", "--branch", "feature/cart", "--pr", "12", "--dry-run"}, catalog);
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_EQ(mutations_sent(), 0u);
    auto plan = json::parse(dry.out).as_object();
    EXPECT_EQ(plan.at("plan").at("changes").as_array()[0].at("action").as_string(), "create");
    EXPECT_TRUE(plan.at("plan").at("changes").as_array()[0].at("monthly_after").is_string());
    EXPECT_TRUE(cloud_->clusters().empty());

    auto up = run({"up", "--branch", "feature/cart", "--pr", "12"}, catalog);
    ASSERT_EQ(up.exit_code, 0) << up.err;
    EXPECT_THAT(up.out, HasSubstr("environment pr-12 is up (created)"));
    EXPECT_THAT(up.out, HasSubstr("verify-full"));
    EXPECT_THAT(up.out, HasSubstr("password  ***"));
    ASSERT_TRUE(cloud_->cluster_named("ece-shop-pr-12"));
    seen_passwords.push_back(cloud_->cluster_named("ece-shop-pr-12")->users.at(config.environments.prefix + "pr_12"));
    {
        // The base schema exists in the cluster's own database, owned by the environment's user.
        auto conn = pg::connect(cloud_->superuser_url("ece-shop-pr-12", "ece"), "checking the cluster");
        pqxx::read_transaction tx(conn);
        const auto role = config.environments.prefix + "pr_12";
        EXPECT_EQ(tx.exec_params1("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", role)[0]
                      .as<std::string>(), role);
    }

    auto again = run({"--format", "json", "up", "--branch", "feature/cart", "--pr", "12"}, catalog, true);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    auto again_json = json::parse(again.out).as_object();
    EXPECT_FALSE(again_json.at("created").as_bool());
    EXPECT_EQ(again_json.at("provider").as_string(), "digitalocean");
    const std::string again_url(again_json.at("database_url").as_string());
    EXPECT_THAT(again_url, HasSubstr("sslmode=verify-full"));
    {
        // The URL handed out works over verified TLS, as the user, in its own schema.
        auto conn = pg::connect(again_url, "the environment's URL");
        pqxx::read_transaction tx(conn);
        EXPECT_EQ(tx.exec1("SELECT current_user")[0].as<std::string>(), config.environments.prefix + "pr_12");
        EXPECT_TRUE(tx.exec1("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].as<bool>());
    }
    EXPECT_EQ(again_json.at("password").as_string(),
              cloud_->cluster_named("ece-shop-pr-12")->users.at(config.environments.prefix + "pr_12"));
    seen_passwords.push_back(std::string(again_json.at("password").as_string()));
    EXPECT_EQ(cloud_->clusters().size(), 1u);

    // Without any catalog (--provider from the flag, no database URL): the tags alone.
    auto list = run({"--provider", "digitalocean", "--format", "json", "list"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    auto listed = json::parse(list.out).as_array();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].at("name").as_string(), "pr-12");
    EXPECT_EQ(listed[0].at("details").at("cluster").as_string(), "ece-shop-pr-12");

    auto hints = run({"hints", "--pr", "12"});
    ASSERT_EQ(hints.exit_code, 0) << hints.err;
    EXPECT_THAT(hints.out, HasSubstr("PGSSLMODE=verify-full"));
    EXPECT_THAT(hints.out, HasSubstr("PGSSLROOTCERT="));

    // Publish: dry run first (no change), then for real.
    cloud_->add_production_cluster(project);
    cloud_->server().clear_requests();
    auto publish_plan = run({"publish", "--pr", "12", "--dry-run"}, catalog);
    ASSERT_EQ(publish_plan.exit_code, 0) << publish_plan.err;
    EXPECT_THAT(publish_plan.out, HasSubstr("resize ece-shop-pr-12"));
    EXPECT_THAT(publish_plan.out, HasSubstr("delete ece-shop-production"));
    EXPECT_THAT(publish_plan.out, HasSubstr("monthly cost"));
    EXPECT_EQ(mutations_sent(), 0u);

    auto published = run({"--format", "json", "publish", "--pr", "12"}, catalog);
    ASSERT_EQ(published.exit_code, 0) << published.err;
    auto p = json::parse(published.out).as_object();
    EXPECT_EQ(p.at("production").as_string(), "ece-shop-pr-12");
    EXPECT_EQ(p.at("deleted").as_array().size(), 1u);
    auto events = cloud_->events();
    auto at = [&](const std::string& e) { return std::find(events.begin(), events.end(), e) - events.begin(); };
    EXPECT_LT(at("resized ece-shop-pr-12"), at("delete ece-shop-production"));

    // Down of another environment; gc of an expired one, by tag, without a catalog.
    ASSERT_EQ(run({"up", "--branch", "feature/other", "--pr", "13"}).exit_code, 0);
    auto down_plan = run({"down", "--pr", "13", "--dry-run"});
    EXPECT_THAT(down_plan.out, HasSubstr("delete ece-shop-pr-13"));
    EXPECT_TRUE(cloud_->cluster_named("ece-shop-pr-13"));
    auto down = run({"down", "--pr", "13"});
    ASSERT_EQ(down.exit_code, 0) << down.err;
    EXPECT_THAT(down.out, HasSubstr("environment pr-13 removed"));
    EXPECT_FALSE(cloud_->cluster_named("ece-shop-pr-13"));

    ASSERT_EQ(run({"up", "--branch", "shortlived", "--ttl", "1ms"}).exit_code, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    auto gc = run({"gc"});
    ASSERT_EQ(gc.exit_code, 0) << gc.err;
    EXPECT_THAT(gc.out, HasSubstr("removed shortlived: expired"));
    EXPECT_FALSE(cloud_->cluster_named("ece-shop-shortlived"));
    EXPECT_TRUE(cloud_->cluster_named("ece-shop-pr-12")) << "production stays";
}

// ece-publish with provider digitalocean publishes by resize; the API's CA comes from SSL_CERT_FILE here.
TEST_F(DigitalOceanCli, EcePublishResizesOnProviderDigitalOcean) {
    ASSERT_EQ(run({"up", "--branch", "feature/cart", "--pr", "12"}).exit_code, 0);
    cloud_->add_production_cluster(project);

    auto publish = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {ECE_PUBLISH_BINARY, "--config", (dir / "ece.yml").string(), "--format",
                                         "json"};
        argv.insert(argv.end(), args.begin(), args.end());
        process::Command command{argv};
        command.cwd = dir.path();
        command.timeout = std::chrono::seconds(60);
        command.env = {{"DIGITALOCEAN_TOKEN", cloud_->token()},
                       {"DIGITALOCEAN_API_URL", cloud_->api_url()},
                       {"SSL_CERT_FILE", cloud_->ca_file().string()},
                       {"HOME", dir.path().string()}};
        auto result = process::run(command);
        EXPECT_THAT(test::find_secrets(result.out + result.err, secrets_of_cloud()), IsEmpty());
        return result;
    };
    cloud_->server().clear_requests();
    auto dry = publish({"--pr", "12", "--dry-run"});
    ASSERT_EQ(dry.exit_code, 0) << dry.err;
    EXPECT_EQ(mutations_sent(), 0u);
    auto plan = json::parse(dry.out).as_object();
    EXPECT_EQ(plan.at("plan").at("changes").as_array().size(), 3u);

    auto done = publish({"--provider", "digitalocean", "--pr", "12"});
    ASSERT_EQ(done.exit_code, 0) << done.err;
    auto out = json::parse(done.out).as_object();
    EXPECT_EQ(out.at("production").as_string(), "ece-shop-pr-12");
    EXPECT_EQ(out.at("deleted").as_array().at(0).as_string(), "ece-shop-production");
    EXPECT_TRUE(out.at("monthly_before").is_string());
    EXPECT_FALSE(cloud_->cluster_named("ece-shop-production"));
    EXPECT_EQ(cloud_->cluster_named("ece-shop-pr-12")->size, "db-s-1vcpu-2gb");

    auto rollback = publish({"--rollback"});
    EXPECT_EQ(rollback.exit_code, 2) << "no swap to roll back on this provider";
}

// In process, nothing injected: the provider's own schema setup, password reset and publish health check run
// against the cluster's real PostgreSQL over verified TLS.
TEST_F(DigitalOceanCli, RealClusterSetupPasswordResetAndHealthCheck) {
    DigitalOceanOptions o;
    o.api_url = cloud_->api_url();
    o.token = cloud_->token();
    o.api_ca_file = cloud_->ca_file();
    o.first_poll_interval = o.max_poll_interval = std::chrono::milliseconds(1);
    Settings settings;
    settings.config = config;
    settings.digitalocean = o;
    Environments envs(std::move(settings));
    const Identity id = envs.identify("feature/cart", 12);
    const auto role = config.environments.prefix + "pr_12";

    auto first = envs.up({"feature/cart", 12, "", {}});
    {
        auto conn = pg::connect(first.credentials.url(), "as the environment");
        pqxx::work tx(conn);
        tx.exec("CREATE TABLE " + pg::quote_ident(role) + ".kept AS SELECT 42 AS answer");
        tx.commit();
    }
    auto second = envs.up({"feature/cart", 12, "", {}});
    EXPECT_NE(first.credentials.password, second.credentials.password);
    try {
        pg::connect(first.credentials.url(), "with the old password");
        ADD_FAILURE() << "the previous password still works";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::auth) << e.what();
    }
    {
        auto conn = pg::connect(second.credentials.url(), "with the new password");
        pqxx::read_transaction tx(conn);
        EXPECT_EQ(tx.exec1("SELECT answer FROM " + pg::quote_ident(role) + ".kept")[0].as<int>(), 42);
    }

    // The health check is real: a cluster whose user cannot log in is not published, production stays.
    cloud_->add_production_cluster(project);
    auto superuser = [&](const std::string& sql) {
        auto conn = pg::connect(cloud_->superuser_url("ece-shop-pr-12"), "the cluster's superuser");
        pqxx::nontransaction tx(conn);
        tx.exec(sql);
    };
    superuser("ALTER ROLE " + pg::quote_ident(role) + " NOLOGIN");
    try {
        publish_by_resize(envs, id);
        ADD_FAILURE() << "published a cluster that failed its health check";
    } catch (const Error& e) {
        EXPECT_THAT(e.message(), HasSubstr("health check"));
    }
    EXPECT_TRUE(cloud_->cluster_named("ece-shop-production")) << "production was left as it was";
    superuser("ALTER ROLE " + pg::quote_ident(role) + " LOGIN");
    auto published = publish_by_resize(envs, id);
    EXPECT_EQ(published.production.name, "ece-shop-pr-12");
    EXPECT_FALSE(cloud_->cluster_named("ece-shop-production"));
}

TEST_F(DigitalOceanCli, RejectedTokenIsAClearErrorWithoutTheToken) {
    cloud_->expire_token();
    auto result = run({"list"});
    EXPECT_NE(result.exit_code, 0);
    EXPECT_THAT(result.err, HasSubstr("DIGITALOCEAN_TOKEN"));
}

}  // namespace
}  // namespace ece::env
