#pragma once
// Where an environment's database lives. The shared part (names, catalog, locks, hints, profiles) is in
// environments.hpp; a provider only makes the database side exist and answers questions about it.
//
//   postgres      schemas + a login role in the production database (this file's PostgresProvider)
//   digitalocean  a managed cluster per branch (later; it plugs in here)
//
// Every call gets the admin connection to the production database (where the catalog lives), with no open
// transaction, while the caller holds the environment's advisory lock for the mutating ones.
#include <pqxx/pqxx>

#include "config/config.hpp"
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

class Provider {
public:
    virtual ~Provider() = default;
    // "postgres", "digitalocean": recorded in the catalog.
    virtual std::string kind() const = 0;
    // Creates the environment or brings it to the configured state (idempotent, repairs a half-created one) and
    // returns working credentials with a freshly generated password.
    virtual Credentials up(pqxx::connection_base& admin, const Identity& id) = 0;
    // Removes everything the environment owns. No-op for what is already gone.
    virtual void down(pqxx::connection_base& admin, const Identity& id) = 0;
    // A new password for an existing environment (the previous one stops working). Throws ece::Error (conflict)
    // when the environment does not exist.
    virtual Credentials issue_credentials(pqxx::connection_base& admin, const Identity& id) = 0;
    // Connection facts without a password (for hints and profiles).
    virtual Credentials connection_facts(const Identity& id) const = 0;
    // The names of the environment roles that exist at the provider (present or orphaned).
    virtual std::vector<std::string> list(pqxx::connection_base& admin) = 0;
    // Usage per role name, for the given roles (missing ones are absent from the map).
    virtual std::map<std::string, Usage> usage(pqxx::connection_base& admin, const std::vector<std::string>& roles) = 0;
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
