#pragma once
// Environments: the provider-independent part of ece-env (names, catalog rows, locks, expiry), and the API other
// steps use to find an environment and act as it.
//
//   env::Environments envs(env::Settings::from(admin_url, config));
//   auto id = envs.identify("feature/x", 12);            // name pr-12, base schema ece_pr_12
//   auto record = envs.find(id);                          // its catalog row (schemas, status, expiry), if any
//   auto credentials = envs.issue_credentials(id);        // a fresh password; credentials.url() to connect
//
// Every mutating call connects as the admin, migrates the env catalog, and holds the advisory lock
// "env:<name>" for its whole duration: two jobs for one environment run one after the other.
//
// The catalog and a provider's own state. The postgres provider lives in the catalog's database, so it needs one.
// The digitalocean provider keeps its own state in tags (needs_catalog() false), and the catalog is optional:
//   - with a catalog database (--database-url, server.database_url_env or ECE_DATABASE_URL), rows are written as
//     for postgres, and list/gc/find/down also see the clusters whose rows are missing (a catalog that was lost or
//     is another one): such environments appear with status from the cluster and details.found_by = "tags";
//   - with none (admin_url empty: a team with only DigitalOcean; the embedded server is never started for it),
//     the tags are the only state: list/gc/find read them, nothing is recorded, and there is no advisory lock. Two
//     concurrent ups of one environment still make one cluster: cluster names are unique in the account, and the
//     loser finds the winner's cluster by tag.
#include "config/config.hpp"
#include "env/catalog.hpp"
#include "env/credentials.hpp"
#include "env/digitalocean_provider.hpp"
#include "env/naming.hpp"
#include "env/provider.hpp"
#include "pg/watchdog.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::env {

struct Settings {
    std::string admin_url;  // a secret; the production database where the catalog lives. Empty: no catalog
                            // (only for a provider that needs none, see above)
    config::Config config;
    bool embedded = false;  // the admin URL is ece's embedded server: production is created when missing
    std::chrono::milliseconds lock_timeout = std::chrono::minutes(10);  // waiting for another job's lock
    // For environments.provider digitalocean; empty: DigitalOceanOptions::from_environment().
    std::optional<DigitalOceanOptions> digitalocean{};

    // What every command uses: the admin URL from --database-url, else the variable the configuration names
    // (server.database_url_env), else ECE_DATABASE_URL, else the embedded server (started if needed) for the
    // postgres provider and no catalog at all for digitalocean. Registers the URL as a secret.
    static Settings resolve(const std::optional<std::string>& database_url_flag, config::Config config);
};

struct UpRequest {
    std::string branch;
    std::optional<int> pr;
    std::string head_sha;                         // empty: keep the recorded one
    std::optional<std::chrono::milliseconds> ttl;  // empty: environments.ttl from the configuration
};

struct UpResult {
    Record record;            // after the up: status ready, expires_at renewed
    Credentials credentials;  // with the fresh password
    bool created = false;     // false: it existed (the password was rotated, the rest repaired if needed)
};

struct DownResult {
    Identity identity;
    bool existed = false;  // false: nothing to remove (never created, or destroyed already)
};

// An environment as `list` shows it: the catalog row plus what the provider sees right now.
struct Listed {
    Record record;
    std::optional<Usage> usage;  // absent for destroyed ones and when the provider has no trace of it
};

struct GcOptions {
    bool dry_run = false;
    // The open pull requests, when known (a GitHub token was given): environments of other pull requests are
    // removed as closed. Empty optional: only expiry counts.
    std::optional<std::set<int>> open_pull_requests;
};

struct GcItem {
    Record record;
    std::string reason;    // "expired 2024-...Z" or "pull request #12 is closed"
    bool removed = false;  // false in a dry run, or when an up renewed it meanwhile
};

class Environments {
public:
    explicit Environments(Settings settings);
    // With a given provider (tests; otherwise environments.provider of the configuration decides).
    Environments(Settings settings, std::unique_ptr<Provider> provider);
    ~Environments();
    Environments(const Environments&) = delete;
    Environments& operator=(const Environments&) = delete;

    Identity identify(std::string_view branch, std::optional<int> pr) const;

    UpResult up(const UpRequest& request);
    DownResult down(const Identity& id);
    std::vector<Listed> list();
    std::vector<GcItem> gc(const GcOptions& options);

    // The catalog row of the environment (any status), if there is one.
    std::optional<Record> find(const Identity& id);
    // Working credentials for an environment that is up: rotates its password (the previous one stops working)
    // and returns the connection facts with it. Nothing is written to disk. Throws ece::Error (conflict) when the
    // environment is not up.
    Credentials issue_credentials(const Identity& id);
    // Where the environment is and as whom, without a password (no change anywhere).
    Credentials connection_facts(const Identity& id) const;
    // Production as dbt's production target sees it: the production role, the first production schema, no password.
    Credentials production_facts() const;

    // Dry runs: what up / down would change and what it costs a month. Only reads.
    ChangePlan plan_up(const Identity& id);
    ChangePlan plan_down(const Identity& id);

    // Runs body holding the environment's advisory lock (when there is a catalog), for provider-specific steps
    // such as publishing a DigitalOcean cluster.
    void locked(const Identity& id, const std::function<void()>& body);

    // Records that the environment no longer exists at its provider although nothing was removed (publish by
    // resize turned its cluster into production): its catalog row becomes destroyed. No-op without a catalog.
    void forget(const Identity& id);

    bool has_catalog() const { return !settings_.admin_url.empty(); }
    const config::Config& config() const { return settings_.config; }
    Provider& provider() { return *provider_; }

private:
    // nullptr when there is no catalog database.
    pqxx::connection* admin();
    // The row of the catalog, or when it has none that is alive, what the provider's own state says.
    std::optional<Record> current(pqxx::connection* conn, const Identity& id);
    // Catalog rows plus environments only the provider knows, newest first.
    std::vector<Record> all_records(pqxx::connection* conn);
    DownResult down_locked(const Identity& id, const std::function<bool(const std::optional<Record>&)>& still_wanted);

    Settings settings_;
    pg::ConnectionFacts server_;
    std::unique_ptr<Provider> provider_;
    std::unique_ptr<pqxx::connection> admin_;
};

// The password may be shown only when asked, and never inside GitHub Actions (GITHUB_ACTIONS=true), whose logs are
// kept and shared.
bool password_may_be_shown(bool asked);

// "2024-05-01T12:00:00Z"
std::string format_time(Clock::time_point t);

// What an environment's sessions may take while ece runs its pull request's code (ece.yml environments:
// statement_timeout, idle_in_transaction_timeout), for pg::SessionWatchdog.
pg::SessionLimits session_limits(const config::Config& config);

}  // namespace ece::env
