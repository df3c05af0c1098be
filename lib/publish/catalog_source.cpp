#include "publish/catalog_source.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "dbt/catalog.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "publish/publish.hpp"

#include <algorithm>
#include <limits>

namespace ece::publish {
namespace {

bool makes_relation(const dbt::Node& node) {
    return (node.type == dbt::ResourceType::model || node.type == dbt::ResourceType::seed ||
            node.type == dbt::ResourceType::snapshot) &&
           node.enabled && node.materialized != "ephemeral";
}

std::string relation_name(const dbt::Node& node) { return std::string(node.alias.empty() ? node.name : node.alias); }

}  // namespace

NodeChecksums relation_checksums(const dbt::Manifest& manifest) {
    NodeChecksums checksums;
    for (const auto& node : manifest.nodes) {
        if (makes_relation(node)) checksums[std::string(node.unique_id)] = std::string(node.checksum);
    }
    return checksums;
}

std::vector<QualifiedName> managed_views(const dbt::Manifest& manifest) {
    std::vector<QualifiedName> views;
    for (const auto& node : manifest.nodes) {
        if (makes_relation(node) && node.materialized == "view") {
            views.push_back({std::string(node.schema), relation_name(node)});
        }
    }
    return views;
}

env::Identity identity_for(const env::Environments& environments, const PublishTarget& target) {
    std::optional<int> pr;
    if (target.pr) {
        if (*target.pr < 1 || *target.pr > std::numeric_limits<int>::max()) {
            throw Error(ErrorKind::usage, "--pr must be a pull request number, not " + std::to_string(*target.pr));
        }
        pr = static_cast<int>(*target.pr);
    }
    return environments.identify(target.branch.value_or(""), pr);
}

CatalogSource::CatalogSource(pqxx::connection& conn, env::Environments& environments,
                             std::optional<NodeChecksums> main_checksums)
    : conn_(conn), environments_(environments), main_checksums_(std::move(main_checksums)) {}

PublishInput CatalogSource::load(const PublishTarget& target) {
    const auto id = identity_for(environments_, target);
    auto record = environments_.find(id);
    if (!record) {
        throw Error(ErrorKind::usage, "there is no environment " + id.name + " (ece-env up never made it)");
    }
    if (record->status != env::Status::ready) {
        throw Error(ErrorKind::conflict, "environment " + id.name + " is " + env::to_string(record->status) +
                                             ", not ready: nothing to publish");
    }
    const auto& config = environments_.config();
    if (config.production.schemas.empty()) {
        throw Error(ErrorKind::usage, "production.schemas is empty", {.field = "production.schemas"});
    }
    try {
        PublishInput input;
        input.environment = record->name;
        input.pr = record->pr;
        input.sha = target.sha.value_or("");
        input.production_role = config.production.role;
        input.relations = built_relations(*record, config.production.schemas.front());
        input.staged_views = staged_views(*record);
        input.environment_raw_schema = record->base_schema + "_raw";
        input.production_raw_schema = production_raw_schema();
        input.main_checksums = main_checksums_;
        if (auto production = dbt::load_production_manifest(conn_)) {
            input.production_checksums = relation_checksums(*production);
            input.rebindable_views = managed_views(*production);
        }
        input.tolerated_dependent_schemas = other_environment_schemas(record->name);
        return input;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, "reading what environment " + id.name + " built");
    }
}

std::vector<BuiltRelation> CatalogSource::built_relations(const env::Record& record,
                                                          const std::string& production_schema) {
    std::vector<BuiltRelation> relations;
    for (const auto& node : dbt::built_nodes(conn_, record.name)) {
        BuiltRelation r;
        r.environment_schema = node.schema;
        r.name = node.relation;
        r.kind = relation_kind_from(node.materialized.empty() ? node.resource_type : node.materialized);
        r.production_schema = production_schema_for(node.schema, record.base_schema, production_schema);
        r.unique_id = node.unique_id;
        r.checksum = node.checksum;
        r.stateful = node.resource_type == "snapshot" || node.materialized == "incremental";
        relations.push_back(std::move(r));
    }
    return relations;
}

// Production's raw schema exactly as lib/stage creates it (production.raw_schema, unslugged).
std::string CatalogSource::production_raw_schema() const { return environments_.config().production.raw_schema; }

// The environment's raw views whose staged content differs from what production's raw views read: they move
// into production's raw schema with the rest. Views with the same content (or made by hand) stay behind.
std::vector<BuiltRelation> CatalogSource::staged_views(const env::Record& record) {
    std::vector<BuiltRelation> views;
    if (!catalog::has_table(conn_, "ece.staged_usage")) return views;
    const auto production_raw = production_raw_schema();
    pqxx::read_transaction tx(conn_, "publish staged views");
    for (const auto& row : tx.exec_params(
             "SELECT e.schema_name, e.view_name, e.content_table IS DISTINCT FROM p.content_table "
             "FROM ece.staged_usage e LEFT JOIN ece.staged_usage p "
             " ON p.environment = 'production' AND p.table_name = e.table_name "
             "WHERE e.environment = $1 ORDER BY e.table_name",
             record.name)) {
        if (!row[2].as<bool>()) continue;
        views.push_back({row[0].as<std::string>(), row[1].as<std::string>(), RelationKind::view, production_raw, "", ""});
    }
    return views;
}

// Other live environments read production through dbt's --defer; their views may keep reading a replaced relation
// in its archive until they are rebuilt or removed.
std::vector<std::string> CatalogSource::other_environment_schemas(const std::string& environment) {
    std::vector<std::string> schemas;
    for (const auto& listed : environments_.list()) {
        const auto& r = listed.record;
        if (r.name == environment || r.status == env::Status::destroyed) continue;
        schemas.insert(schemas.end(), r.schemas.begin(), r.schemas.end());
        schemas.push_back(r.base_schema);
        schemas.push_back(r.base_schema + "_raw");
    }
    std::sort(schemas.begin(), schemas.end());
    schemas.erase(std::unique(schemas.begin(), schemas.end()), schemas.end());
    return schemas;
}

}  // namespace ece::publish
