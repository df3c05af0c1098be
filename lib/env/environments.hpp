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
#include "config/config.hpp"
#include "env/catalog.hpp"
#include "env/credentials.hpp"
#include "env/naming.hpp"
#include "env/provider.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::env {

struct Settings {
    std::string admin_url;  // a secret; the production database where the catalog lives
    config::Config config;
    bool embedded = false;  // the admin URL is ece's embedded server: production is created when missing
    std::chrono::milliseconds lock_timeout = std::chrono::minutes(10);  // waiting for another job's lock

    // What every command uses: the admin URL from --database-url, else the variable the configuration names
    // (server.database_url_env), else ECE_DATABASE_URL, else the embedded server (started if needed). Registers
    // the URL as a secret.
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
    // With another provider (DigitalOcean, later).
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

    const config::Config& config() const { return settings_.config; }
    Provider& provider() { return *provider_; }

private:
    pqxx::connection& admin();
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

}  // namespace ece::env
