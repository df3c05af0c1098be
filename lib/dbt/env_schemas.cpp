#include "dbt/env_schemas.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

namespace ece::dbt {

std::set<std::string> environment_schemas(const Manifest& branch, const std::vector<std::string>& node_ids,
                                          const std::string& base_schema, const std::string& manifest_schema) {
    std::set<std::string> schemas;
    for (const auto& id : node_ids) {
        const Node* node = branch.find(id);
        if (!node || node->resource_type_name == "test") continue;  // tests write nothing (no store_failures)
        const std::string schema(node->schema);
        const bool ours = schema == manifest_schema || (schema.size() > manifest_schema.size() + 1 &&
                                                        schema.rfind(manifest_schema + "_", 0) == 0);
        if (!ours) {
            throw Error(ErrorKind::input,
                        std::string(node->resource_type_name) + " " + id + " writes to schema " + schema +
                            ", outside the environment (its schemas are " + base_schema + " and " + base_schema +
                            "_<custom>): a fixed target_schema or a generate_schema_name that ignores the target? "
                            "Nothing was built",
                        ErrorLocation{.file = std::string(node->original_file_path)});
        }
        schemas.insert(base_schema + schema.substr(manifest_schema.size()));
    }
    return schemas;
}

void ensure_environment_schemas(pqxx::connection_base& conn, const std::set<std::string>& schemas,
                                const std::string& role) {
    try {
        pqxx::work tx(conn, "environment schemas");
        for (const auto& schema : schemas) {
            auto owner = tx.exec_params("SELECT pg_catalog.pg_get_userbyid(nspowner) FROM pg_catalog.pg_namespace "
                                        "WHERE nspname = $1",
                                        schema);
            if (owner.empty()) {
                tx.exec0("CREATE SCHEMA " + pg::quote_ident(schema) + " AUTHORIZATION " + pg::quote_ident(role));
            } else if (owner[0][0].as<std::string>() != role) {
                throw Error(ErrorKind::conflict, "schema " + schema + " already exists and belongs to role " +
                                                     owner[0][0].as<std::string>() + ", not to the environment's " +
                                                     role + "; ece did not create it for this environment");
            }
        }
        tx.commit();
    } catch (const std::exception& e) {
        throw pg::translate(e, "creating the environment's schemas");
    }
}

}  // namespace ece::dbt
