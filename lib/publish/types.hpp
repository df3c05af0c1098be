#pragma once
// What a publish works on: the relations an environment built, the manifests they are checked against, and what a
// publish did. Filled by a PublishSource (the catalog, once ece.built_nodes and ece.environments exist; a JSON file
// for the low-level `ece-publish --relations FILE`).
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::publish {

enum class RelationKind { table, view, materialized_view };

// "table", "view", "materialized_view"
std::string_view to_string(RelationKind kind);
// Accepts the names above (and dbt's materializations "seed", "incremental", "snapshot" -> table,
// "materialized view" / "materializedview"); throws ece::Error (input) naming the value.
RelationKind relation_kind_from(std::string_view name);

// A relation as PostgreSQL names it: exact catalog names, not slugs.
struct QualifiedName {
    std::string schema;
    std::string name;
    auto operator<=>(const QualifiedName&) const = default;
};
// schema.name, double-quoted where needed, for messages.
std::string display(const QualifiedName& name);

// One relation an environment built, and where it goes.
struct BuiltRelation {
    std::string environment_schema;  // e.g. ece_pr_12 or ece_pr_12_marts
    std::string name;                // relation name, the same in production
    RelationKind kind = RelationKind::table;
    std::string production_schema;   // e.g. analytics or analytics_marts (see production_schema_for)
    std::string unique_id;           // dbt node, e.g. model.shop.orders; empty for staged-data views
    std::string checksum;            // dbt's checksum of the node as the environment built it
    bool stateful = false;           // a snapshot or an incremental model (docs/stateful-nodes.md)
};

// unique_id -> dbt checksum (sha256 of the node), for the relation-producing nodes of a manifest.
using NodeChecksums = std::map<std::string, std::string>;

// Everything one publish needs.
struct PublishInput {
    std::string environment;              // environment name, e.g. "pr-12": lock "env:<name>", recorded
    std::optional<std::int64_t> pr;
    std::string sha;                      // merged commit
    std::string production_role;          // owner of a relation that replaces nothing; empty: leave the owner
    std::vector<BuiltRelation> relations;  // what dbt built in the environment
    // Slot for lib/stage: the environment's staged-data views (<base>_raw.x -> production raw schema). They move
    // in the same transaction as the relations; no checksum check.
    std::vector<BuiltRelation> staged_views;
    // The environment's raw schema (<base>_raw, what dbt's source() reads there) and production's
    // (production.raw_schema). A view being published that reads an environment raw view not among staged_views is
    // recreated in the swap to read production's raw view of the same name (which must exist then). Empty: none.
    std::string environment_raw_schema;
    std::string production_raw_schema;
    // The merged main's manifest checksums; nullopt skips the staleness check.
    std::optional<NodeChecksums> main_checksums;
    NodeChecksums production_checksums;   // production's manifest (ece.state_manifests): what main changed
    // Production views dbt manages that this publish does not rebuild: when they read a replaced relation they
    // are recreated (same definition) against the new one instead of refusing the publish.
    std::vector<QualifiedName> rebindable_views;
    // Schemas whose objects may keep reading a replaced relation in its archive (other environments that defer to
    // production); anything else depending on a replaced relation stops the publish.
    std::vector<std::string> tolerated_dependent_schemas;
};

// Which environment to publish.
struct PublishTarget {
    std::optional<std::string> branch;
    std::optional<std::int64_t> pr;
    std::optional<std::string> sha;
};

// Where a PublishInput comes from. The catalog implementation (ece.environments + ece.built_nodes +
// ece.state_manifests) arrives with lib/env and lib/dbt; JsonFileSource reads the low-level file form.
class PublishSource {
public:
    virtual ~PublishSource() = default;
    // Throws ece::Error (usage/conflict) when there is no such environment or nothing was built.
    virtual PublishInput load(const PublishTarget& target) = 0;
};

// A node whose build does not match the merged main.
struct StaleNode {
    enum class Reason {
        changed,    // built with a checksum main no longer has
        not_in_main,  // built, but main has no such node any more
        not_built,  // main changed it relative to production, the environment did not build it
    };
    std::string unique_id;
    Reason reason = Reason::changed;
    std::string built_checksum;       // empty when not built
    std::string main_checksum;        // empty when not in main
    std::string production_checksum;  // empty when new in main
};
std::string_view to_string(StaleNode::Reason reason);

struct StaleReport {
    std::vector<StaleNode> nodes;
    bool stale() const { return !nodes.empty(); }
    // The unique_ids to build (changed and not_built ones).
    std::vector<std::string> to_build() const;
    // One line per node: "model.x.y: built abc123, main has def456".
    std::string describe() const;
};

// One relation a publish (or rollback) put into production.
struct RelationMove {
    QualifiedName production;              // where it is now
    RelationKind kind = RelationKind::table;
    std::string from_schema;               // environment schema (publish) or archive schema (rollback)
    std::optional<std::string> archive_schema;  // where the replaced production relation went; nullopt: none
    std::optional<RelationKind> archived_kind;
    std::string unique_id;
    std::uint32_t oid = 0;                 // of the relation now in production
    std::uint32_t archived_oid = 0;        // of the archived one, 0 when none
    bool incoming = true;                  // false: a rollback only removed it (the publish had created it)
};

enum class Outcome {
    published,      // production changed
    rolled_back,    // production changed back
    dry_run,        // checked, nothing changed
    needs_rebuild,  // stale environment in --rebuild mode without a rebuild hook: build `stale` first
    already_published,  // Options::once_per_sha: this commit was published already (Result::id is that publish)
};
std::string_view to_string(Outcome outcome);

// What publish() or rollback() did.
struct Result {
    Outcome outcome = Outcome::published;
    std::int64_t id = 0;                   // the ece.publishes row; 0 for dry runs and needs_rebuild
    std::optional<std::int64_t> rolled_back_id;  // rollback: which publish it undid
    // rollback: what became of production's dbt state (ece.state_manifests), e.g. "retired the manifest publish #4
    // stored: ..."; empty when the publish stored none
    std::string production_state;
    std::string environment;
    std::vector<std::string> archive_schemas;
    std::vector<RelationMove> relations;
    std::vector<QualifiedName> rebound_views;  // views recreated against the new relations
    StaleReport stale;
    int attempts = 0;                      // swap transactions tried (lock_timeout retries + 1)
    std::chrono::milliseconds swap_duration{0};
    std::chrono::milliseconds duration{0};
    std::vector<std::string> pruned_archives;
    std::string prune_warning;             // pruning is best effort after the commit
};

// A row of ece.publishes.
struct PublishRecord {
    std::int64_t id = 0;
    std::string kind;  // publish | rollback
    std::string environment;
    std::optional<std::int64_t> pr;
    std::string sha;
    std::string archive_schema;
    std::vector<std::string> archive_schemas;
    std::vector<RelationMove> relations;
    std::vector<QualifiedName> rebound_views;
    std::string status;  // running | published | failed
    std::string error;
    std::string started_at;
    std::string finished_at;
    std::optional<std::int64_t> duration_ms;
    std::optional<std::int64_t> rolls_back;
    std::string rolled_back_at;
    std::optional<std::int64_t> rolled_back_by;
    bool archive_dropped = false;
};

}  // namespace ece::publish
