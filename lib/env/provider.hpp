#pragma once
// Where an environment's database lives. The shared part (names, catalog, locks, hints, profiles) is in
// environments.hpp; a provider only makes the database side exist and answers questions about it.
//
//   postgres      schemas + a login role in the production database (this file's PostgresProvider)
//   digitalocean  a managed cluster per branch, found by tags (digitalocean_provider.hpp)
//
// Every call gets the admin connection to the production database (where the catalog lives), with no open
// transaction, while the caller holds the environment's advisory lock for the mutating ones. The connection is
// nullptr only for a provider that keeps its own state (needs_catalog() false) when there is no catalog database.
#include <pqxx/pqxx>

#include "config/config.hpp"
#include "digitalocean/provider.hpp"
#include "env/catalog.hpp"
#include "env/credentials.hpp"
#include "env/naming.hpp"
#include "pg/connect.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ece::env {

// What an environment occupies: the inputs of size and cost reports.
struct Usage {
    std::vector<std::string> schemas;  // schemas it owns, sorted
    std::int64_t bytes = 0;            // sum of pg_total_relation_size over its tables and materialized views
    int relations = 0;                 // tables, views, materialized views, sequences
};

// What up or down would do, for --dry-run and the comment: one shape for every provider (action, what, detail,
// monthly cost before and after; postgres environments have no price of their own).
using ChangePlan = digitalocean::Plan;
using PlannedChange = digitalocean::PlannedChange;

class Provider {
public:
    virtual ~Provider() = default;
    // "postgres", "digitalocean": recorded in the catalog.
    virtual std::string kind() const = 0;
    // Creates the environment or brings it to the configured state (idempotent, repairs a half-created one) and
    // returns working credentials with a freshly generated password.
    virtual Credentials up(pqxx::connection_base* admin, const Identity& id) = 0;
    // Removes everything the environment owns. No-op for what is already gone.
    virtual void down(pqxx::connection_base* admin, const Identity& id) = 0;
    // A new password for an existing environment (the previous one stops working). Throws ece::Error (conflict)
    // when the environment does not exist.
    virtual Credentials issue_credentials(pqxx::connection_base* admin, const Identity& id) = 0;
    // Connection facts without a password (for hints and profiles).
    virtual Credentials connection_facts(const Identity& id) const = 0;
    // The names of the environment roles that exist at the provider (present or orphaned).
    virtual std::vector<std::string> list(pqxx::connection_base* admin) = 0;
    // Usage per role name, for the given roles (missing ones are absent from the map).
    virtual std::map<std::string, Usage> usage(pqxx::connection_base* admin, const std::vector<std::string>& roles) = 0;

    // Dry runs: what up / down would change, without changing anything.
    virtual ChangePlan plan_up(pqxx::connection_base* admin, const Identity& id) = 0;
    virtual ChangePlan plan_down(pqxx::connection_base* admin, const Identity& id) = 0;

    // False: every environment can be found at the provider itself (discover()), so a missing catalog loses nothing.
    virtual bool needs_catalog() const { return true; }
    // Environments the provider itself knows, as catalog-like records (status, expiry, identity as far as the
    // provider's own state tells it). Empty for a provider whose only record is the catalog.
    virtual std::vector<Record> discover() { return {}; }
    // Called after every up with the new expiry, for a provider that records it itself.
    virtual void renew(const Identity& /*id*/, Clock::time_point /*expires_at*/) {}
    // False: dbt cannot read production's relations from the environment (another server), so --defer is
    // impossible and a build must build the whole project.
    virtual bool supports_defer() const { return true; }
};

struct PostgresProviderOptions {
    // On ece's embedded server: create the production role and schemas when missing, so a newcomer sees it work.
    // On a real server they must exist (the production role at least); missing schemas are covered by default
    // privileges once production's dbt creates them.
    bool create_production = false;
};

// Schemas and a login role in the database the admin URL names.
std::unique_ptr<Provider> make_postgres_provider(const config::Config& config, const pg::ConnectionFacts& server,
                                                 PostgresProviderOptions options = {});

}  // namespace ece::env
