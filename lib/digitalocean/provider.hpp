#pragma once
// The DigitalOcean provider: one managed PostgreSQL cluster per environment, found by its tags (the cloud is the
// state: nothing on local disk is needed to find an environment), published by resizing the branch's cluster in
// place to the production size. Independent of lib/env; lib/env plugs it in behind its Provider interface.
//
// Tags of every cluster: "ece", "ece-project:<project>", "ece-env:<env>" (production: "ece-env:production").
#include "cost/catalogue.hpp"
#include "cost/environment_cost.hpp"
#include "cost/money.hpp"
#include "digitalocean/api.hpp"

#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ece::digitalocean {

inline constexpr const char* base_tag = "ece";
inline constexpr const char* env_tag_prefix = "ece-env:";
inline constexpr const char* project_tag_prefix = "ece-project:";
inline constexpr const char* production_env = "production";
// "ece-expires:<epoch seconds>": when the environment may be collected, renewed by every up (gc without a catalog).
inline constexpr const char* expires_tag_prefix = "ece-expires:";

struct ProviderConfig {
    std::string project;                   // tag ece-project:<project> and part of cluster names
    std::string region = "fra1";
    std::string version = "16";            // PostgreSQL major version; empty: DigitalOcean's default
    std::string size = "db-s-1vcpu-2gb";   // branch clusters (may be large, for fast ETL)
    int num_nodes = 1;
    std::string production_size = "db-s-1vcpu-2gb";  // what publish resizes to
    int production_num_nodes = 1;
    std::vector<FirewallRule> trusted_sources{};     // empty: DigitalOcean's default (open to all)
    std::string database = "ece";          // the database created in every cluster
    std::string user_prefix = "ece_";      // user of environment pr-12: ece_pr_12
    std::filesystem::path ca_dir = ".ece/digitalocean";  // CA files are a cache: refetched whenever needed
    WaitOptions create_wait{};
    WaitOptions resize_wait{};
};

// What ece connects with: sslmode=verify-full against the cluster's own CA.
struct EnvironmentConnection {
    std::string host;
    int port = 0;
    std::string user;
    std::string password;  // registered as a secret
    std::string database;
    std::string sslmode = "verify-full";
    std::filesystem::path sslrootcert;
    // postgresql://user:password@host:port/database?sslmode=verify-full&sslrootcert=<file>, registered as a secret.
    std::string uri() const;
};

struct Environment {
    std::string env;
    Cluster cluster;
    EnvironmentConnection connection;
    bool created = false;  // false: an existing cluster was reused
};

struct EnvironmentSummary {
    std::string env;
    std::string project;
    Cluster cluster;
    std::optional<cost::EnvironmentCost> cost;  // empty when the size has no price in the catalogue
};

// One change a plan would make.
struct PlannedChange {
    std::string action;  // create | reuse | resize | retag | delete
    std::string cluster;  // cluster name (the one to be created, or an existing one)
    std::string detail;   // "db-s-1vcpu-2gb x 1 in fra1"
    std::optional<cost::Money> monthly_before;  // of this cluster before the change
    std::optional<cost::Money> monthly_after;
};

struct Plan {
    std::vector<PlannedChange> changes;
    cost::Money monthly_before;  // every cluster the plan touches, before
    cost::Money monthly_after;
};

struct PublishResult {
    Cluster production;               // the former branch cluster, now production
    std::vector<std::string> deleted;  // names of the previous production clusters
    cost::Money monthly_before;        // previous production + the branch's cluster
    cost::Money monthly_after;         // the new production alone
    Plan plan;                         // what was done, for the comment
};

// Runs "SELECT 1" (or anything proving the cluster answers) on a connection; throws ece::Error when unhealthy.
using HealthCheck = std::function<void(const EnvironmentConnection&)>;

class Provider {
public:
    Provider(Api& api, ProviderConfig config, cost::PriceCatalogue prices);

    // Dry runs: only GET requests. plan_up: create (or reuse) the env's cluster; plan_publish: resize + delete;
    // plan_down: the clusters down would delete and what they cost a month.
    Plan plan_up(const std::string& env);
    Plan plan_publish(const std::string& env);
    Plan plan_down(const std::string& env);

    // Finds the env's cluster by tag or creates it and waits until online (deleting it again when it never comes
    // online), sets trusted sources, creates the database and the env's user, fetches the CA. Idempotent.
    // The user's password is reset on every call (the previous one stops working). extra_tags go on a new cluster.
    Environment up(const std::string& env, const std::vector<std::string>& extra_tags = {});
    // Deletes every cluster of the env (by tag), except one already tagged production by an interrupted publish.
    // Returns the names deleted (empty when there was none).
    std::vector<std::string> down(const std::string& env);
    // Every cluster tagged "ece" of this project (or of every project), oldest first, with cost so far.
    std::vector<EnvironmentSummary> list(bool all_projects = false);
    // Connection to an existing env (user password reset, CA refreshed); throws conflict when there is none.
    Environment connect(const std::string& env);
    // Connection facts of an existing env without touching its password (no mutating request); nullopt when the
    // env has no cluster. The CA file is refreshed.
    std::optional<EnvironmentConnection> connection_facts(const std::string& env);

    // Tags the cluster "ece-expires:<epoch>" and drops its older expiry tags (nothing when it is already so).
    void set_expiry(const Cluster& cluster, std::chrono::system_clock::time_point expires_at);

    // Resizes the env's cluster to the production size, waits until it is online at that size, checks health, tags
    // it production, deletes the previous production cluster(s), and only then drops its branch tag. Running it
    // again after an interruption finishes the job, also once the branch tag is gone (the newest production cluster
    // then carries the env's cluster name). Nothing of production changes when resize or health fail.
    PublishResult publish(const std::string& env, const HealthCheck& health_check);

    // The env's cluster, if any (by tags; when there are several the oldest, but for production the newest).
    std::optional<Cluster> find(const std::string& env);

    std::string cluster_name(const std::string& env) const;  // "ece-<project>-<env>", DigitalOcean-safe
    std::string user_name(const std::string& env) const;     // "<user_prefix><env with - as _>"
    std::string env_tag(const std::string& env) const { return env_tag_prefix + tag_safe(env); }
    std::string project_tag() const { return project_tag_prefix + tag_safe(config_.project); }

    const ProviderConfig& config() const { return config_; }

private:
    std::vector<Cluster> clusters_of(const std::string& env);
    // What publish works on: the env's cluster by its branch tag, else the newest production cluster when it is the
    // env's (a publish that already dropped the branch tag).
    std::optional<Cluster> publish_source(const std::string& env);
    std::optional<cost::Money> monthly(const std::string& size, int nodes) const;
    // Size and node count against GET /v2/databases/options (what DigitalOcean would refuse with 422).
    EngineOptions validate_size(const std::string& size, int nodes, const std::string& what);
    // The branch cluster's size, region and version, before anything is created.
    void validate_new_cluster();
    // Trusted sources, database, user (password reset unless just created: rotate), CA file.
    EnvironmentConnection prepare(const Cluster& cluster, const std::string& env, bool rotate = true);
    // Host, port, user, database and a fresh CA file; no password.
    EnvironmentConnection facts_of(const Cluster& cluster, const std::string& env);

    Api& api_;
    ProviderConfig config_;
    cost::PriceCatalogue prices_;
};

// The time of a cluster's "ece-expires:<epoch>" tag, if it has one.
std::optional<std::chrono::system_clock::time_point> expiry_of(const Cluster& cluster);

// A plan as JSON for the comment's environment plan lines: {"changes":[{"action","what","detail",
// "monthly_before","monthly_after"}],"monthly_before","monthly_after"}; money as "$12.34" strings, null unpriced.
boost::json::object plan_to_json(const Plan& plan);
// One line per change: "create ece-x-pr-12: PostgreSQL 16, db-s-1vcpu-2gb x 1 node in fra1 ($15.00/month)".
std::string plan_to_text(const Plan& plan);

// "2019-01-11T18:37:36Z" -> time point; nullopt when not that shape.
std::optional<std::chrono::system_clock::time_point> parse_timestamp(const std::string& text);

}  // namespace ece::digitalocean
