#pragma once
// Stateful nodes: snapshots and incremental models hold history that a fresh build cannot recreate (rows their
// source no longer has, every past version of a snapshot). An environment therefore starts each planned stateful
// node from a copy of production's table, and dbt runs it incrementally on that copy (`dbt snapshot` semantics for
// snapshots, the model's on_schema_change for changed columns) instead of building it from scratch, unless a full
// refresh was asked for. Publish relies on it: the relation it swaps into production is production's history plus
// the merged code's increment (docs/stateful-nodes.md).
//
// The copy runs as the environment's own role (which reads production through the group every environment is in),
// so nothing a pull request puts in its manifest can make it touch anything but the environment's own schemas.
#include "dbt/manifest.hpp"
#include "dbt/state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace ece::dbt {

struct BuildTarget;  // build.hpp

// The config key that asks for a full refresh of one node: `meta: {ece: {full_refresh: true}}` in its config.
inline constexpr const char* full_refresh_meta_key = "ece.full_refresh";

// A snapshot, or a model materialized incremental (microbatch included).
bool is_stateful(const Node& node);
// Whether node's config holds meta.ece.full_refresh = true.
bool asks_full_refresh(const Node& node);
// Whether node's config holds dbt's own full_refresh: false, which dbt honours over --full-refresh: so does ece.
bool refuses_full_refresh(const Node& node);

// What happened to one planned stateful node before dbt ran.
struct StatefulStart {
    enum class How {
        from_production,  // the environment's relation is a copy of production's table (rows: how many)
        full_refresh,     // asked for: the environment's relation was dropped, dbt builds it from scratch
        new_node,         // production has no such table: dbt builds it from scratch
    };
    std::string unique_id;
    How how = How::new_node;
    std::string production_relation;   // schema.name, quoted where needed (empty for a new node)
    std::string environment_relation;  // schema.name
    std::int64_t rows = 0;
};
std::string_view to_string(StatefulStart::How how);
// One line for the log: "snapshot.p.s starts from production's analytics.s (12 rows)".
std::string describe(const StatefulStart& start);

// For every stateful node of plan (built into target's schemas, read from branch; production's relation named by
// the production manifest): drops the environment's relation of that node and, unless a full refresh is asked
// (full_refresh_all, or the node's meta; not for a node
// whose config says full_refresh: false), copies production's table into its place (CREATE TABLE ... (LIKE ...
// INCLUDING DEFAULTS, CONSTRAINTS, INDEXES, COMMENTS) + INSERT ... SELECT), all in one transaction as the
// environment's role. Nodes the environment does not build into its own schemas (a snapshot with a fixed
// target_schema) are left alone. Throws ece::Error (database) naming the node.
std::vector<StatefulStart> start_stateful_nodes(const BuildTarget& target, const Plan& plan, const Manifest& branch,
                                                const Manifest& production, bool full_refresh_all);

}  // namespace ece::dbt
