#pragma once
// The dbt area's catalog tables (migrations area "dbt"):
//   ece.builds          one row per `ece-dbt build`: environment, sha, selector, plan and run_results (jsonb), status
//   ece.built_nodes     what an environment holds: per (environment, unique_id) the relation built last, its
//                       checksum and sha; rows are replaced for the nodes a build rebuilt, others stay
//   ece.state_manifests production manifests (gzip), newest first; publish stores the one it made production,
//                       a rollback of that publish retires it (retired_at) and a rollback of the rollback restores it
// Other areas read these through the functions below, never by writing the tables.
#include <pqxx/pqxx>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dbt/manifest.hpp"

namespace ece::dbt {

// Applies the dbt area's pending migrations (catalog::migrate(conn, "dbt", ...)). conn: no open transaction.
void migrate_catalog(pqxx::connection_base& conn);

// --- production manifests -------------------------------------------------------------------------------------

struct StoredManifest {
    std::int64_t id = 0;
    std::string sha;
    std::string source;     // who stored it and from where, e.g. "publish of pr-12"
    std::string stored_at;  // ISO 8601 (UTC)
    std::int64_t node_count = 0;
    std::string json;       // manifest.json, decompressed

    // "ece.state_manifests #3 (sha abc123, publish of pr-12, stored 2024-05-01T10:00:00Z)"
    std::string describe() const;
};

// Validates the manifest (it must load), stores it gzip-compressed and returns its id. Migrates first.
std::int64_t store_production_manifest(pqxx::connection_base& conn, const std::filesystem::path& manifest_file,
                                       const std::string& sha, const std::string& source);
std::int64_t store_production_manifest_json(pqxx::connection_base& conn, std::string_view manifest_json,
                                            const std::string& sha, const std::string& source);

// A manifest read, validated (it must load; errors name the file) and compressed ahead of the transaction that
// stores it.
struct PreparedManifest {
    std::string compressed;
    std::size_t node_count = 0;
};
PreparedManifest prepare_manifest(const std::filesystem::path& manifest_file);

// The manifest publish #publish_id makes production, stored in that publish's own swap transaction (so production's
// relations and its dbt state change together, even under kill -9): source published_manifest_source(publish_id),
// tied to the publish so that rolling it back retires it. The dbt catalog must be migrated (migrate_catalog) before
// the transaction began.
std::int64_t store_published_manifest(pqxx::transaction_base& tx, const PreparedManifest& manifest,
                                      const std::string& sha, std::int64_t publish_id);
std::string published_manifest_source(std::int64_t publish_id);  // "publish #12"

// In the transaction that takes publish #publish_id out of production (a rollback): its manifests stop being
// production's state; retired_by says who, e.g. "rollback #13". restore_: the transaction puts the publish back (a
// rollback of that rollback): they are production's state again. Return the rows changed (0 when the publish stored
// none). The dbt catalog must be migrated (migrate_catalog) before the transaction began.
std::size_t retire_published_manifests(pqxx::transaction_base& tx, std::int64_t publish_id,
                                       const std::string& retired_by);
std::size_t restore_published_manifests(pqxx::transaction_base& tx, std::int64_t publish_id);

// The newest stored production manifest that is not retired, or nullopt when there is none (or no catalog yet).
// Never migrates.
std::optional<StoredManifest> load_production_manifest_json(pqxx::connection_base& conn);
std::optional<Manifest> load_production_manifest(pqxx::connection_base& conn);

// --- builds ----------------------------------------------------------------------------------------------------

namespace build_status {
inline constexpr const char* running = "running";
inline constexpr const char* success = "success";
inline constexpr const char* failed = "failed";              // dbt failed (a node errored, a test failed, ...)
inline constexpr const char* mismatch = "mismatch";          // dbt ran other nodes than the plan holds
inline constexpr const char* nothing_to_build = "nothing_to_build";
}  // namespace build_status

struct BuildStart {
    std::string environment;
    std::string sha;
    std::string selector;
    std::string plan_json;  // plan_to_json(plan)
};

struct BuiltNode {
    std::string environment;
    std::string unique_id;
    std::string resource_type;  // model, seed, snapshot
    std::string checksum;       // the branch manifest's checksum of the node's file
    std::string schema;
    std::string relation;       // the identifier within schema (alias)
    std::string materialized;
    std::int64_t build_id = 0;
    std::string sha;
};

struct BuildOutcome {
    std::string status;                     // one of build_status
    std::optional<int> dbt_exit_code;
    std::optional<std::string> run_results_json;  // target/run_results.json as dbt wrote it
    std::string message;                    // why it failed or mismatched; masked by the caller
    // Nodes the build (re)created: replace the environment's rows for these unique_ids.
    std::vector<BuiltNode> built;
};

// Inserts a build with status "running" and returns its id. Migrates first. Call it holding the environment's lock:
// an earlier build of the environment still "running" is marked failed ("interrupted"), its process being gone.
std::int64_t begin_build(pqxx::connection_base& conn, const BuildStart& start);
// Finishes it in one transaction: status, exit code, run_results, finished_at, and the built nodes (build_id and
// environment taken from the build row).
void finish_build(pqxx::connection_base& conn, std::int64_t build_id, const BuildOutcome& outcome);
// Both at once (a build that never runs dbt, e.g. nothing to build). Returns the id.
std::int64_t record_build(pqxx::connection_base& conn, const BuildStart& start, const BuildOutcome& outcome);

struct BuildRow {
    std::int64_t id = 0;
    std::string environment;
    std::string sha;
    std::string selector;
    std::string plan_json;
    std::optional<std::string> run_results_json;
    std::string status;
    std::optional<int> dbt_exit_code;
    std::string message;
    std::string started_at;
    std::optional<std::string> finished_at;
};

// The newest build of the environment, or nullopt.
std::optional<BuildRow> latest_build(pqxx::connection_base& conn, const std::string& environment);
// What the environment holds, sorted by unique_id. Empty when nothing was built (or no catalog yet).
std::vector<BuiltNode> built_nodes(pqxx::connection_base& conn, const std::string& environment);
// Forgets what the environment holds (its schemas are gone); its builds stay as history. For ece-env down.
void forget_built_nodes(pqxx::connection_base& conn, const std::string& environment);

}  // namespace ece::dbt
