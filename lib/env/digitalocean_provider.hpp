#pragma once
// The digitalocean provider behind env::Provider: one managed PostgreSQL cluster per environment
// (lib/digitalocean), found by its tags. ece-env up/down/list/gc/hints/profiles run through the same shared code
// (environments.hpp) as on the postgres provider.
//
// Names. The environment's key at DigitalOcean (tag "ece-env:<key>") is its name for a pull request ("pr-12") and
// the collision-free part of its base schema for a branch ("main", "feature_x_1a2b3c4d5e"); the cluster's user is
// the environment's role (<prefix><key>, e.g. ece_pr_12), and its base schema is created in the cluster's database.
// Tags also carry the expiry ("ece-expires:<epoch>", renewed by every up), so list, gc and down work from the tags
// alone when the catalog is gone or was never there.
//
// Connecting: sslmode=verify-full against the cluster's own CA (a file under <root>/.ece/digitalocean, fetched
// again whenever needed). The user's password is reset through DigitalOcean's reset_auth on every up and every
// issue_credentials: the previous one stops working, as on the postgres provider.
//
// dbt: the environment is another server than production, so deferral to production is impossible:
// supports_defer() is false and ece-dbt builds the whole project unless told otherwise.
#include "cost/catalogue.hpp"
#include "digitalocean/api.hpp"
#include "digitalocean/provider.hpp"
#include "env/provider.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace ece::env {

// Runs once per up on the cluster's database, after DigitalOcean created the database and the user: lets the user
// create schemas in the database and creates its base schema. The default connects with TLS (verify-full) as
// doadmin, then as the user.
using ClusterDatabaseSetup = std::function<void(const digitalocean::Cluster& cluster,
                                                const digitalocean::EnvironmentConnection& as_user,
                                                const Identity& id)>;

struct DigitalOceanOptions {
    std::string api_url = digitalocean::default_api_url;  // DIGITALOCEAN_API_URL overrides it in from_environment()
    std::optional<std::string> token;                     // empty: from the variable digitalocean.token_env names
    std::optional<std::filesystem::path> api_ca_file;     // extra CA for the API's TLS (tests; SSL_CERT_FILE works too)
    digitalocean::Clock clock{};                           // injectable for tests
    std::function<double()> jitter{};                      // of the HTTP client's retries; tests fix it
    std::optional<cost::PriceCatalogue> prices;            // empty: comment.prices, else the shipped catalogue
    std::optional<ClusterDatabaseSetup> database_setup;    // empty: the default above
    std::optional<digitalocean::HealthCheck> health_check;  // for publish; empty: SELECT 1 as the user, over TLS
    // Intervals of waiting for a cluster (the deadline is digitalocean.online_deadline).
    std::chrono::milliseconds first_poll_interval{5'000};
    std::chrono::milliseconds max_poll_interval{30'000};

    // api_url from DIGITALOCEAN_API_URL when set.
    static DigitalOceanOptions from_environment();
};

// The environment's key at DigitalOcean (see above). Throws ece::Error (usage) for a branch whose key would be
// "production".
std::string digitalocean_key(const Identity& id, std::string_view prefix);

class DigitalOceanProvider final : public Provider {
public:
    DigitalOceanProvider(const config::Config& config, DigitalOceanOptions options);
    ~DigitalOceanProvider() override;

    std::string kind() const override { return "digitalocean"; }
    Credentials up(pqxx::connection_base* catalog, const Identity& id) override;
    void down(pqxx::connection_base* catalog, const Identity& id) override;
    Credentials issue_credentials(pqxx::connection_base* catalog, const Identity& id) override;
    // For Identity{} (no name): production's cluster, when there is one.
    Credentials connection_facts(const Identity& id) const override;
    std::vector<std::string> list(pqxx::connection_base* catalog) override;
    // Sizes are not measured on another server: the map is empty.
    std::map<std::string, Usage> usage(pqxx::connection_base* catalog, const std::vector<std::string>& roles) override;
    ChangePlan plan_up(pqxx::connection_base* catalog, const Identity& id) override;
    ChangePlan plan_down(pqxx::connection_base* catalog, const Identity& id) override;
    bool needs_catalog() const override { return false; }
    std::vector<Record> discover() override;
    void renew(const Identity& id, Clock::time_point expires_at) override;
    bool supports_defer() const override { return false; }

    // Publish by resizing: the environment's cluster becomes production (see digitalocean::Provider::publish).
    ChangePlan plan_publish(const Identity& id);
    digitalocean::PublishResult publish(const Identity& id);

    digitalocean::Provider& cloud() { return *cloud_; }

private:
    std::string key(const Identity& id) const;
    Credentials credentials_of(const digitalocean::EnvironmentConnection& c, const Identity& id) const;

    config::Config config_;
    DigitalOceanOptions options_;
    std::unique_ptr<digitalocean::Api> api_;
    std::unique_ptr<digitalocean::Provider> cloud_;
};

std::unique_ptr<Provider> make_digitalocean_provider(const config::Config& config,
                                                     DigitalOceanOptions options = DigitalOceanOptions::from_environment());

// digitalocean.trusted_sources of ece.yml as DigitalOcean firewall rules: an IP address or CIDR is ip_addr,
// "<type>:<value>" (droplet, k8s, tag, app, ip_addr) is that type. Throws ece::Error (usage) for anything else.
std::vector<digitalocean::FirewallRule> trusted_source_rules(const std::vector<std::string>& sources);

}  // namespace ece::env
