#pragma once
// The DigitalOcean API v2 for managed PostgreSQL clusters, over ece's HTTPS client: clusters (create, get, list by
// tag, resize, delete, wait until online), trusted sources, databases, users, the CA certificate, size options and
// tags. Every failure is an ece::Error naming what was being done; the token never appears in one.
#include "http/client.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ece::digitalocean {

inline constexpr const char* default_api_url = "https://api.digitalocean.com";
inline constexpr const char* default_token_variable = "DIGITALOCEAN_TOKEN";

// The token from the named environment variable, registered as a secret. Throws ece::Error(auth) naming the
// variable (never a value) when it is unset or empty.
std::string token_from_environment(const std::string& variable = default_token_variable);

// Injectable time, so waiting is testable without sleeping: the same functions go to the HTTP client's retries.
struct Clock {
    std::function<std::chrono::system_clock::time_point()> now{};
    std::function<void(std::chrono::milliseconds)> sleep{};
};

struct ApiOptions {
    std::string base_url = default_api_url;  // overridable for tests
    std::string token;                       // registered as a secret by the Api
    std::string token_variable = default_token_variable;  // named in auth errors
    http::ClientOptions http{};              // clock/sleep are taken from `clock` when set there
    Clock clock{};
};

struct ConnectionDetails {
    std::string host;
    int port = 0;
    std::string user;
    std::string password;
    std::string database;
    bool ssl = true;
    std::string uri;
};

struct FirewallRule {
    std::string type;   // ip_addr | droplet | k8s | tag | app
    std::string value;
    std::string description{};
};

struct Cluster {
    std::string id;
    std::string name;
    std::string engine;
    std::string version;
    std::string size;
    std::string region;
    int num_nodes = 0;
    std::string status;  // creating | online | resizing | migrating | forking
    std::string created_at;  // ISO 8601 as sent
    std::vector<std::string> tags;
    std::vector<std::string> db_names;
    std::optional<ConnectionDetails> connection;

    bool has_tag(const std::string& tag) const;
    // The value of the first "prefix<value>" tag ("ece-env:" -> "pr-12").
    std::optional<std::string> tag_value(const std::string& prefix) const;
};

struct ClusterSpec {
    std::string name;
    std::string engine = "pg";
    std::string version;  // empty: DigitalOcean's default version
    std::string size;
    std::string region;
    int num_nodes = 1;
    std::vector<std::string> tags;
    std::vector<FirewallRule> rules{};  // trusted sources from the start (empty: open until set)
};

struct User {
    std::string name;
    std::string role;
    std::string password;  // registered as a secret when received
};

// GET /v2/databases/options for one engine: node count -> size slugs, regions, versions.
struct EngineOptions {
    std::vector<std::string> regions;
    std::vector<std::string> versions;
    std::string default_version;
    std::map<int, std::vector<std::string>> sizes_by_nodes;

    bool offers(const std::string& size, int num_nodes) const;
    // Every size slug offered for any node count, sorted.
    std::vector<std::string> all_sizes() const;
};

struct WaitOptions {
    std::chrono::seconds timeout{std::chrono::minutes(30)};
    std::chrono::milliseconds first_interval{5'000};
    double growth = 1.5;
    std::chrono::milliseconds max_interval{30'000};
};

class Api {
public:
    explicit Api(ApiOptions options);

    std::vector<Cluster> list_clusters(const std::optional<std::string>& tag = std::nullopt);
    std::optional<Cluster> find_cluster(const std::string& id);  // nullopt on 404
    Cluster get_cluster(const std::string& id);
    Cluster create_cluster(const ClusterSpec& spec);
    void delete_cluster(const std::string& id);  // a cluster already gone counts as deleted
    void resize_cluster(const std::string& id, const std::string& size, int num_nodes);
    // Polls until status is online, with growing intervals; throws ece::Error(network) naming the cluster, the
    // last status and the time waited when the deadline passes. on_poll sees every state read.
    Cluster wait_until_online(const std::string& id, const WaitOptions& wait = {},
                              const std::function<void(const Cluster&)>& on_poll = {});
    // The same, until the cluster is online at the given size and node count: right after a resize request the
    // API may still answer "online" at the old size for a moment.
    Cluster wait_until_resized(const std::string& id, const std::string& size, int num_nodes,
                               const WaitOptions& wait = {}, const std::function<void(const Cluster&)>& on_poll = {});

    std::vector<FirewallRule> firewall_rules(const std::string& id);
    void set_firewall_rules(const std::string& id, const std::vector<FirewallRule>& rules);

    std::vector<std::string> list_databases(const std::string& id);
    void create_database(const std::string& id, const std::string& name);

    std::optional<User> find_user(const std::string& id, const std::string& name);
    User create_user(const std::string& id, const std::string& name);
    // POST .../users/{name}/reset_auth: a new password (the previous one stops working), registered as a secret.
    User reset_user_password(const std::string& id, const std::string& name);

    // The cluster's CA certificate as PEM (decoded from the API's base64).
    std::string ca_certificate(const std::string& id);
    // Writes it to file with mode 0600 (replacing any old one) and returns the path.
    std::filesystem::path write_ca_certificate(const std::string& id, const std::filesystem::path& file);

    EngineOptions engine_options(const std::string& engine = "pg");

    // Tags: created when missing (POST /v2/tags), then attached to / detached from the cluster.
    void add_tag(const std::string& cluster_id, const std::string& tag);
    void remove_tag(const std::string& cluster_id, const std::string& tag);

    const Clock& clock() const { return options_.clock; }

private:
    Cluster wait_until(const std::string& id, const std::function<bool(const Cluster&)>& ready,
                       const std::string& goal, const WaitOptions& wait,
                       const std::function<void(const Cluster&)>& on_poll);
    http::Response call(const std::string& method, const std::string& path, const std::string& doing,
                        const std::string& body = {}, bool not_found_ok = false);

    ApiOptions options_;
    http::Client client_;
};

// Tag-safe text: DigitalOcean tags allow letters, digits, '_', '-', ':' (at most 255 characters).
std::string tag_safe(const std::string& text);

}  // namespace ece::digitalocean
