#pragma once
// Publishing snapshots and incremental models without losing production's history (docs/stateful-nodes.md).
//
// What the environment built of them in the preview started from a copy of production's table as it was then;
// production has moved on since (its own scheduled runs) and main may have changed. So just before the swap, under
// the publish's locks, the merged main runs them once more in the environment, as the environment's role: each on
// a fresh copy of production's table (lib/dbt start_stateful_nodes), with everything that reads them. The swap
// then moves production's history plus the merged code's increment into production, archiving the table it
// replaces, as for every relation: all of the publish or none, readers never fail, a rollback restores the table.
// Only a full refresh asked for explicitly (MergeOptions::full_refresh, a node's meta.ece.full_refresh) publishes
// a build from scratch.
#include "dbt/build.hpp"
#include "publish/merge.hpp"
#include "publish/types.hpp"

#include <pqxx/pqxx>

#include <filesystem>

namespace ece::publish {

// Whether input holds a snapshot or an incremental model.
bool needs_stateful_run(const PublishInput& input);

// Runs the stateful relations of input and everything downstream of them (`<unique_id>+`) in the environment
// with the merged main (options.project_dir), starting each from production's current table. Throws ece::Error
// (usage) without a project directory, (external) when the build fails; production is untouched then.
dbt::BuildReport run_stateful_nodes(pqxx::connection& conn, const dbt::BuildTarget& environment,
                                    const PublishInput& input, const MergeOptions& options,
                                    const std::filesystem::path& target_path);

}  // namespace ece::publish
