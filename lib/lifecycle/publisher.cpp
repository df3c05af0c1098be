// The publish step's input from the catalog: what the environment built (lib/dbt), production's and the merged
// manifests, and the environments whose views may keep reading a replaced relation in its archive.
#include "core/error.hpp"
#include "dbt/catalog.hpp"
#include "dbt/manifest.hpp"
#include "lifecycle/lifecycle.hpp"
#include "pg/connect.hpp"
#include "publish/publish.hpp"

namespace ece::lifecycle {

namespace {

bool produces_relation(const dbt::Node& node) {
    return (node.type == dbt::ResourceType::model || node.type == dbt::ResourceType::seed ||
            node.type == dbt::ResourceType::snapshot) && node.materialized != "ephemeral";
}

publish::NodeChecksums checksums_of(const dbt::Manifest& manifest) {
    publish::NodeChecksums out;
    for (const auto& node : manifest.nodes)
        if (produces_relation(node)) out.emplace(std::string(node.unique_id), std::string(node.checksum));
    return out;
}

// Production's dbt-managed views: publish recreates them against a relation it replaces.
std::vector<publish::QualifiedName> production_views(const dbt::Manifest& production) {
    std::vector<publish::QualifiedName> out;
    for (const auto& node : production.nodes) {
        if (node.type == dbt::ResourceType::model && node.materialized == "view")
            out.push_back({std::string(node.schema), std::string(node.alias.empty() ? node.name : node.alias)});
    }
    return out;
}

// The environment's staged-data views: production's dbt views built in the environment read them, so they move
// into production's raw schema in the same transaction (replacing production's views of the same tables).
std::vector<publish::BuiltRelation> staged_views(pqxx::connection& conn, const std::string& raw_schema,
                                                 const std::string& production_raw_schema) {
    std::vector<publish::BuiltRelation> out;
    pqxx::read_transaction tx(conn);
    for (const auto& row : tx.exec_params("SELECT viewname FROM pg_views WHERE schemaname = $1 ORDER BY 1", raw_schema)) {
        publish::BuiltRelation r;
        r.environment_schema = raw_schema;
        r.name = row[0].as<std::string>();
        r.kind = publish::RelationKind::view;
        r.production_schema = production_raw_schema;
        out.push_back(std::move(r));
    }
    return out;
}

class CatalogPublisher : public Publisher {
public:
    explicit CatalogPublisher(std::string admin_url) : admin_url_(std::move(admin_url)) {}

    Published publish(env::Environments& environments, const env::Identity& id, const Target& target,
                      const std::filesystem::path& merged_manifest) override {
        const auto& config = environments.config();
        const auto record = environments.find(id);
        if (!record || record->status != env::Status::ready)
            throw Error(ErrorKind::conflict, "environment " + id.name + " is not up: nothing to publish");
        auto conn = pg::connect(admin_url_, "publishing " + id.name);
        dbt::migrate_catalog(conn);

        publish::PublishInput input;
        input.environment = id.name;
        if (target.pr) input.pr = *target.pr;
        input.sha = target.sha;
        input.production_role = config.production.role;
        const auto production_schema = config.production.schemas.empty() ? std::string("public")
                                                                          : config.production.schemas.front();
        for (const auto& node : dbt::built_nodes(conn, id.name)) {
            publish::BuiltRelation r;
            r.environment_schema = node.schema;
            r.name = node.relation;
            r.kind = publish::relation_kind_from(node.materialized);
            r.production_schema = publish::production_schema_for(node.schema, record->base_schema, production_schema);
            r.unique_id = node.unique_id;
            r.checksum = node.checksum;
            input.relations.push_back(std::move(r));
        }
        if (input.relations.empty())
            throw Error(ErrorKind::conflict, "environment " + id.name + " built nothing: nothing to publish");
        input.staged_views = staged_views(conn, record->base_schema + "_raw", config.production.raw_schema);
        input.main_checksums = checksums_of(dbt::load_manifest(merged_manifest));
        if (auto production = dbt::load_production_manifest(conn)) {
            input.production_checksums = checksums_of(*production);
            input.rebindable_views = production_views(*production);
        }
        for (const auto& listed : environments.list()) {
            if (listed.record.name == id.name || listed.record.status == env::Status::destroyed) continue;
            for (const auto& schema : listed.record.schemas) input.tolerated_dependent_schemas.push_back(schema);
        }

        const auto result = publish::publish(conn, input, publish::Options::from(config.publish));
        if (result.outcome == publish::Outcome::needs_rebuild) {
            throw Error(ErrorKind::conflict, "the environment is stale against the merged main; build it again "
                                             "first:\n" + result.stale.describe());
        }
        Published out;
        out.id = result.id;
        out.relations = result.relations.size();
        out.swap_duration = result.swap_duration;
        out.archive_schemas = result.archive_schemas;
        out.rollback_command = "ece-publish --rollback " + std::to_string(result.id);
        return out;
    }

private:
    std::string admin_url_;
};

}  // namespace

std::unique_ptr<Publisher> make_catalog_publisher(std::string admin_url) {
    return std::make_unique<CatalogPublisher>(std::move(admin_url));
}

}  // namespace ece::lifecycle
