#pragma once
// The catalog: ece's own state in the schema "ece" of the production database. Each area (env, stage, dbt,
// publish, ...) owns its tables and their versioned migrations, and calls migrate() with its own list before using
// them; there is no global registry (static registration is dropped from static libraries).
//
//   const std::vector<catalog::Migration> env_migrations = {
//       {1, "environments", "CREATE TABLE ece.environments (...)"},
//       {2, "environment bytes", "ALTER TABLE ece.environments ADD COLUMN bytes bigint"},
//   };
//   catalog::migrate(conn, "env", env_migrations);
//
// Never edit a migration that was released; add a new version instead.
#include <pqxx/pqxx>

#include <string>
#include <string_view>
#include <vector>

namespace ece::catalog {

inline constexpr const char* schema_name = "ece";

struct Migration {
    int version;       // 1, 2, 3, ... strictly increasing within an area
    std::string name;  // short description, recorded
    std::string sql;   // may hold several statements; runs in one transaction with its record
};

// Applies the area's pending migrations in order, each in its own transaction together with its row in
// ece.migrations(area, version, name, applied_at); creates schema ece and that table when missing. Idempotent and
// safe when several processes migrate at once (they serialize on an advisory lock; a cheap check without the lock
// returns at once when nothing is pending). conn must have no open transaction.
// Throws ece::Error: the failing migration is named ("catalog migration stage v2 (staged files) failed: ...") and
// rolled back, earlier ones stay applied; kind from pg::translate (auth when privileges are missing); conflict
// when the database holds a newer version of the area than this ece knows; internal for a malformed list.
void migrate(pqxx::connection_base& conn, std::string_view area, const std::vector<Migration>& migrations);

// Whether the catalog table `table` (qualified, e.g. "ece.builds") exists: an area reads another's table only once
// that area's migrations ran on this database.
bool has_table(pqxx::transaction_base& tx, std::string_view table);
// The same in a read-only transaction of its own (conn must have none open).
bool has_table(pqxx::connection_base& conn, std::string_view table);

// Highest applied version of the area, 0 when none (or no catalog yet).
int current_version(pqxx::connection_base& conn, std::string_view area);

}  // namespace ece::catalog
