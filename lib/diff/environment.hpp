#pragma once
// The data diff of one environment: which relations to compare (every model, seed and snapshot it built, and the
// staged tables of ece.yml), with their keys and sensitive columns, and running it as the environment's role.
//
//   auto manifest = dbt::load_manifest(target / "manifest.json");  // optional: without it, no dbt keys or meta
//   auto run = diff::diff_environment(admin, record, dbt::built_nodes(admin, record.name), &manifest, config);
#include "config/config.hpp"
#include "dbt/catalog.hpp"
#include "dbt/manifest.hpp"
#include "diff/diff.hpp"
#include "env/catalog.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::diff {

// The production schema that publish maps an environment schema to: base -> production, base_x -> production_x.
// nullopt for a schema that is neither.
std::optional<std::string> production_schema_for(std::string_view schema, std::string_view base_schema,
                                                 std::string_view production_schema);

// What to compare: built models, seeds and snapshots with a relation (not ephemeral), keys and sensitive columns
// from manifest (may be null) and config; then each table of stage.tables (its primary_key from ece.yml), the
// environment's view in <base>_raw against production's raw schema.
std::vector<ModelSpec> specs_for(const std::vector<dbt::BuiltNode>& nodes, const dbt::Manifest* manifest,
                                 const config::Config& config, std::string_view base_schema);

// Diffs them as record's role within the budgets of config's diff section.
DiffRun diff_environment(pqxx::connection_base& admin, const env::Record& record,
                         const std::vector<dbt::BuiltNode>& nodes, const dbt::Manifest* manifest,
                         const config::Config& config);

}  // namespace ece::diff
