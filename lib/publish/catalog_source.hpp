#pragma once
// The catalog source: what an environment built, read from the catalog the env, stage and dbt steps wrote.
//
//   ece.environments  (lib/env)   base schema, schemas, status (must be ready)
//   ece.built_nodes   (lib/dbt)   models, seeds and snapshots built, with checksum, schema, relation, materialization
//   ece.staged_usage  (lib/stage) which content table each of the environment's raw views reads
//   ece.state_manifests (lib/dbt) the newest production manifest: production's checksums, dbt's views
//
// The merged main's checksums come from its manifest (a file, or `dbt parse` of the checked-out merged main; see
// merge.hpp), given to the constructor.
#include "config/config.hpp"
#include "dbt/manifest.hpp"
#include "env/environments.hpp"
#include "publish/types.hpp"

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

namespace ece::publish {

// unique_id -> checksum of the nodes that make a relation (models, seeds, snapshots; not ephemeral models).
NodeChecksums relation_checksums(const dbt::Manifest& manifest);

// Where the manifest's view models live in the database (schema, alias or name): production views dbt manages,
// which a publish may recreate against the relations it replaces.
std::vector<QualifiedName> managed_views(const dbt::Manifest& manifest);

// The environment's name for a target ("pr-<n>", else the branch), as lib/env names it.
env::Identity identity_for(const env::Environments& environments, const PublishTarget& target);

class CatalogSource : public PublishSource {
public:
    // conn: an admin connection to the production database (no open transaction). main_checksums: the merged
    // main's (nullopt skips the staleness check).
    CatalogSource(pqxx::connection& conn, env::Environments& environments,
                  std::optional<NodeChecksums> main_checksums);

    // Throws ece::Error (usage) for an environment ece-env never made, (conflict) for one that is not ready
    // (destroyed, or still being created), whose base schema is gone, or that built nothing; (input) for a built
    // relation outside the environment's schemas.
    PublishInput load(const PublishTarget& target) override;

private:
    std::vector<BuiltRelation> built_relations(const env::Record& record, const std::string& production_schema);
    std::vector<BuiltRelation> staged_views(const env::Record& record);
    std::string production_raw_schema() const;
    std::vector<std::string> other_environment_schemas(const std::string& environment);

    pqxx::connection& conn_;
    env::Environments& environments_;
    std::optional<NodeChecksums> main_checksums_;
};

}  // namespace ece::publish
