#pragma once
// Content-addressed staging. Each distinct file (bytes + CSV options + declared types + primary key) is loaded
// once into ece_content.<table>_<hash>; an environment sees its staged tables as views in its raw schema (the
// schema dbt's sources read through ECE_RAW_SCHEMA). A second environment with the same files loads nothing.
//
// Catalog (area "stage"): ece.staged_files (one row per content table) and ece.staged_usage (which environment's
// view points at which content table).
#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "env/environments.hpp"
#include "http/client.hpp"
#include "stage/table.hpp"

namespace ece::stage {

inline constexpr const char* content_schema = "ece_content";

// Where staged tables become visible. Schema and role are the names of real objects (as lib/env and ece.yml name
// them), quoted as they are, never slugged.
struct Environment {
    std::string name;         // catalog key: the environment's name (e.g. "pr-12"), or "production"
    std::string raw_schema;   // the schema of its views (e.g. "ece_pr_12_raw", production's "raw")
    std::string owner_role{}; // when set: owns the raw schema (when ece creates it) and the views, and gets SELECT
                              // on the content tables they read; so `ece-env down`'s DROP OWNED removes them
    bool production = false;  // production never drops dependent views (dbt's) to change a view's columns
};

enum class Phase { hashing, scanning, loading, checking, reused, loaded };

struct Progress {
    std::string table;
    Phase phase = Phase::hashing;
    std::uint64_t bytes_done = 0, bytes_total = 0;  // bytes_total 0: unknown
    std::uint64_t rows_done = 0, rows_total = 0;
    double seconds = 0;                              // since this table started
};

struct StageOptions {
    unsigned connections = 2;                    // parallel COPY streams for large files
    std::uint64_t chunk_bytes = 64ull << 20;     // largest chunk (files are cut in ~16 chunks per connection)
    std::function<void(const Progress&)> on_progress{};  // called on the calling thread
    std::chrono::milliseconds progress_interval{500};
    CopyFormat copy_format = CopyFormat::automatic;  // local files: binary COPY where it pays (see CopyFormat)
    // Local files: COPY the chunks the scan has found while it goes on, with the types the first block suggests; a
    // later value that widens a type discards those rows and loads again. false: scan first, then load.
    bool overlap_scan = true;
    http::ClientOptions http{};  // for https sources (trust, proxy, timeouts, retries before the body)
    std::string declared_in{};  // the ece.yml that declared the tables with a line: errors in a declaration name it
};

struct StagedTable {
    std::string name, sha256, content_table;
    std::uint64_t rows = 0, file_bytes = 0;
    bool loaded = false;  // false: the content table existed already
    double seconds = 0;
};

// Creates/updates the stage catalog tables and the content schema (idempotent).
void migrate_catalog(pqxx::connection_base& conn);

// Stages tables into env: loads what is new (atomically: a content table appears complete or not at all), then
// points env's views at the content tables in one transaction. Takes env's advisory lock. On any error nothing
// the environment sees changes. url: admin URL of the database (registered as a secret).
std::vector<StagedTable> stage_tables(const std::string& url, const Environment& env,
                                      const std::vector<TableDecl>& tables, const StageOptions& options = {});

struct StagedFile {
    std::string content_table, table_name, sha256, source, loaded_at;
    std::uint64_t rows = 0, file_bytes = 0, table_bytes = 0;
    std::vector<std::string> used_by;  // "environment (schema.view)"
};
std::vector<StagedFile> status(pqxx::connection_base& conn);

// Forgets usage rows whose view is gone (a destroyed environment), then drops content tables nothing points at
// and leftovers of interrupted loads. Returns the dropped tables.
std::vector<std::string> gc(pqxx::connection_base& conn);

// The environment of a branch (or pull request) as lib/env knows it: views in "<base>_raw", owned by its role.
// Throws ece::Error(conflict) when it is not up.
Environment branch_environment(env::Environments& environments, std::string_view branch, std::optional<int> pr);
// Production: views in production.raw_schema, owned by the production role.
Environment production_environment(const config::Config& config);

}  // namespace ece::stage
