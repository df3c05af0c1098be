#pragma once
// A stateful fake of the DigitalOcean API v2 (managed databases and tags) on the local HTTPS TestServer, shaped
// after the official API description (../shared/fixtures/real/digitalocean/openapi/):
//   - clusters start "creating" and turn "online" after polls_until_online GETs of the cluster; a resize turns
//     them "resizing" and back "online" at the new size after polls_until_resized GETs;
//   - sizes come from the options response fixture (databases.responses.options.yml): an unknown size or node
//     count is answered 422 with DigitalOcean's error shape;
//   - requests must carry the token as Bearer, else 401 {"id":"unauthorized","message":"Unable to authenticate you."};
//   - every response carries ratelimit-limit / -remaining / -reset; scripted 429s and 5xx, clusters that never
//     come online, a token that expires;
//   - with real_postgres, every cluster is a private PostgreSQL server (lib/pg's embedded server) on 127.0.0.1 with
//     TLS by a certificate the fake's own CA signed (the one GET /ca hands out): doadmin, the databases and users
//     made through the API are real, reset_auth really changes the password, and delete removes the server.
//
//   ece::test::FakeDigitalOcean cloud;
//   ece::digitalocean::ApiOptions options{.base_url = cloud.api_url(), .token = cloud.token()};
//   options.http.ca_file = cloud.ca_file();
#include "support.hpp"
#include "test_pki.hpp"
#include "test_server.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace ece::test {

struct FakeDigitalOceanOptions {
    std::string token = "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    int polls_until_online = 3;   // GETs of a new cluster answered "creating" before it is "online"
    int polls_until_resized = 3;  // GETs answered "resizing" after a resize
    // Clock for created_at and ratelimit-reset (tests pass their fake clock; called from the server thread).
    std::function<std::chrono::system_clock::time_point()> now{};
    ServerOptions server{};
    // Back every cluster (created or seeded) with a real PostgreSQL server, see above. Costs a server start each.
    bool real_postgres = false;
};

class FakeDigitalOcean {
public:
    struct FirewallRule {
        std::string uuid;
        std::string type;
        std::string value;
        std::string description;
    };
    struct Cluster {
        std::string id;
        std::string name;
        std::string engine = "pg";
        std::string version = "16";
        std::string size;
        std::string region = "fra1";
        int num_nodes = 1;
        std::string status = "online";
        std::string created_at;
        std::vector<std::string> tags;
        std::vector<std::string> dbs{"defaultdb"};
        std::map<std::string, std::string> users;  // name -> password
        std::vector<FirewallRule> rules;
        int polls_left = 0;      // GETs until the current transition completes
        bool never_online = false;
        std::string target_size;  // while resizing
        int target_nodes = 0;
        // With real_postgres: where its server lives and its port on 127.0.0.1 (0: no server behind it).
        std::filesystem::path server_dir{};
        int port = 0;
    };

    explicit FakeDigitalOcean(FakeDigitalOceanOptions options = {});
    ~FakeDigitalOcean();  // removes the clusters' servers

    TestServer& server() { return server_; }
    std::string api_url() const { return server_.base_url(); }
    const std::filesystem::path& ca_file() const { return server_.ca_file(); }
    const std::string& token() const { return options_.token; }

    // Seeding (thread-safe). Returns the new cluster's id.
    std::string add_cluster(Cluster cluster);
    // A production cluster as an earlier publish left it: "ece-<project>-production" ('_' as '-'), tagged ece,
    // ece-env:production and ece-project:<project>. Returns its id.
    std::string add_production_cluster(const std::string& project, const std::string& size = "db-s-1vcpu-2gb");
    // Clusters created with this name stay "creating" forever.
    void never_online(const std::string& name);
    // From now on the token is answered 401, as an expired or revoked one is.
    void expire_token();
    // The next n requests are answered 429 with ratelimit-remaining 0 and ratelimit-reset = reset_epoch.
    void rate_limit_next(int n, long long reset_epoch);
    // The next n requests are answered with this 5xx status.
    void fail_next(int n, int status = 503);
    // The next n requests with this method are carried out, but their answer is lost: replaced by this 5xx status
    // (as when a proxy times out after DigitalOcean acted). A client that retries sees the effect of the first.
    void lose_answers(const std::string& method, int n, int status = 502);

    // Called after every request was carried out, before its answer goes out (on the server thread, with the
    // fake's lock held: it must not call back into the fake). Tests kill the client here. Empty: none.
    void after_each_request(std::function<void(const ServerRequest&)> observer);
    // GETs answered "resizing" after the next resizes.
    void set_polls_until_resized(int polls);

    // Inspecting.
    std::vector<Cluster> clusters() const;
    std::optional<Cluster> cluster_named(const std::string& name) const;
    // What happened, in order: "create <name>", "online <name>", "resize <name> <size>x<n>", "resized <name>",
    // "tag <name> <tag>", "untag <name> <tag>", "firewall <name>", "db <name> <db>", "user <name> <user>",
    // "reset <name> <user>" (a password reset), "delete <name>".
    std::vector<std::string> events() const;
    std::size_t mutations() const;  // requests with a mutating method that got a 2xx
    std::string ca_certificate_pem() const { return ca_pem_; }
    // With real_postgres: a superuser URL of the cluster's server (for checking what ece did there).
    std::string superuser_url(const std::string& cluster_name, const std::string& database = "postgres") const;
    // The size slugs the options fixture offers for pg, by node count.
    const std::map<int, std::set<std::string>>& pg_sizes() const { return pg_sizes_; }

private:
    void install_routes();
    ServerResponse guarded(const ServerRequest& request, const std::function<ServerResponse(const ServerRequest&)>& f);
    void route(const std::string& method, const std::string& pattern,
               std::function<ServerResponse(const ServerRequest&)> handler);
    std::string cluster_json(const Cluster& c) const;
    std::chrono::system_clock::time_point now() const;
    std::string new_uuid();
    // real_postgres: starts the cluster's server with TLS, doadmin and defaultdb; then SQL as its superuser.
    void start_server(Cluster& cluster);
    void as_superuser(const Cluster& cluster, const std::string& sql) const;

    FakeDigitalOceanOptions options_;
    TestServer server_;
    mutable std::mutex mutex_;
    std::map<std::string, Cluster> clusters_;  // by id
    std::vector<std::string> order_;           // ids in creation order
    std::set<std::string> never_online_;
    std::set<std::string> tags_;
    std::vector<std::string> events_;
    std::string options_json_;
    std::map<int, std::set<std::string>> pg_sizes_;
    TestPki pki_;  // signs the clusters' server certificates; its certificate is what GET /ca hands out
    std::string ca_pem_;
    std::unique_ptr<TempDir> servers_;  // real_postgres: one folder per cluster's server
    std::map<std::string, std::string> superuser_urls_;  // by cluster id
    bool token_expired_ = false;
    int rate_limited_ = 0;
    long long rate_limit_reset_ = 0;
    int failures_ = 0;
    int failure_status_ = 503;
    std::string lost_method_;
    int lost_ = 0;
    int lost_status_ = 502;
    int remaining_ = 5000;
    std::size_t mutations_ = 0;
    std::function<void(const ServerRequest&)> observer_;
    unsigned long long next_id_ = 1;
};

}  // namespace ece::test
