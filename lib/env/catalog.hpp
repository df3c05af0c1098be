#pragma once
// ece.environments: one row per environment name, kept after `down` (status destroyed) for history.
// Written only by lib/env (ece-env up/down/gc); other areas read it through Environments::find()/list().
#include <pqxx/pqxx>

#include "catalog/migrate.hpp"
#include "env/naming.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::env {

using Clock = std::chrono::system_clock;

// creating: up started (a provider that takes minutes shows this); ready; destroyed: down finished.
enum class Status { creating, ready, destroyed };
std::string to_string(Status status);

struct Record {
    std::string name;
    std::string branch;
    std::optional<int> pr;
    std::string head_sha;
    std::string provider;
    Status status = Status::creating;
    std::string base_schema;
    std::string role_name;
    std::vector<std::string> schemas;  // as of the last up
    Clock::time_point created_at;
    Clock::time_point updated_at;
    std::optional<Clock::time_point> expires_at;
    std::optional<Clock::time_point> destroyed_at;
    std::optional<std::int64_t> bytes;  // as of the last up
    std::string details;                // JSON object, provider-specific facts
};

// The env area's catalog migrations (catalog::migrate(conn, "env", env_migrations())).
const std::vector<catalog::Migration>& env_migrations();

namespace rows {

// Starts (or restarts) an up: inserts the row or sets it to creating, keeping created_at unless it was destroyed.
// head_sha empty keeps the previous one. expires_at = now() + ttl.
void begin_up(pqxx::transaction_base& tx, const Identity& id, std::string_view provider, std::string_view head_sha,
              std::chrono::milliseconds ttl);
void finish_up(pqxx::transaction_base& tx, const std::string& name, const std::vector<std::string>& schemas,
               std::int64_t bytes, std::string_view details_json);
void mark_destroyed(pqxx::transaction_base& tx, const std::string& name);

std::optional<Record> find(pqxx::transaction_base& tx, const std::string& name);
// Every row, newest first.
std::vector<Record> all(pqxx::transaction_base& tx);

}  // namespace rows
}  // namespace ece::env
