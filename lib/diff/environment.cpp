#include "diff/environment.hpp"

#include "pg/ident.hpp"

namespace ece::diff {

std::optional<std::string> production_schema_for(std::string_view schema, std::string_view base_schema,
                                                 std::string_view production_schema) {
    if (schema == base_schema) return std::string(production_schema);
    if (schema.size() > base_schema.size() + 1 && schema.starts_with(base_schema) && schema[base_schema.size()] == '_') {
        return std::string(production_schema) + std::string(schema.substr(base_schema.size()));
    }
    return std::nullopt;
}

std::vector<ModelSpec> specs_for(const std::vector<dbt::BuiltNode>& nodes, const dbt::Manifest* manifest,
                                 const config::Config& config, std::string_view base_schema) {
    std::vector<ModelSpec> specs;
    const std::string production = config.production.schemas.empty() ? "" : config.production.schemas.front();
    for (const auto& node : nodes) {
        if (node.relation.empty() || node.materialized == "ephemeral") continue;
        if (node.resource_type != "model" && node.resource_type != "seed" && node.resource_type != "snapshot") continue;
        ModelSpec spec;
        spec.model = node.unique_id;
        spec.environment = {node.schema, node.relation};
        if (auto schema = production_schema_for(node.schema, base_schema, production); schema && !production.empty()) {
            spec.production = Relation{*schema, node.relation};
        }
        const dbt::Node* described = manifest ? manifest->find(node.unique_id) : nullptr;
        spec.key = described ? key_of(*manifest, *described) : KeyChoice{{}, "none"};
        const std::string name = described ? std::string(described->name) : node.relation;
        spec.sensitive = sensitive_columns(described, name, config);
        specs.push_back(std::move(spec));
    }
    for (const auto& table : config.stage.tables) {
        ModelSpec spec;
        spec.model = "stage." + table.name;
        spec.environment = {std::string(base_schema) + "_raw", pg::slug(table.name)};
        spec.production = Relation{config.production.raw_schema, pg::slug(table.name)};
        spec.key = table.primary_key.empty() ? KeyChoice{{}, "none"} : KeyChoice{table.primary_key, "ece.yml primary_key"};
        spec.sensitive = sensitive_columns(nullptr, table.name, config);
        specs.push_back(std::move(spec));
    }
    return specs;
}

DiffRun diff_environment(pqxx::connection_base& admin, const env::Record& record,
                         const std::vector<dbt::BuiltNode>& nodes, const dbt::Manifest* manifest,
                         const config::Config& config) {
    auto specs = specs_for(nodes, manifest, config, record.base_schema);
    // A staged table the environment never staged has no view: nothing to compare.
    std::erase_if(specs, [&](const ModelSpec& spec) {
        if (!spec.model.starts_with("stage.")) return false;
        pqxx::read_transaction tx(admin, "data diff staged view");
        return tx.exec_params("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                              "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                              spec.environment.schema, spec.environment.name)
            .empty();
    });
    return diff_models(admin, specs, Settings::from(config, record.role_name));
}

}  // namespace ece::diff
