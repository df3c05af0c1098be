#include "stage/usage.hpp"

#include "catalog/migrate.hpp"
#include "stage/stage.hpp"

namespace ece::stage {

std::string archive_usage_name(const std::string& schema) { return "archive:" + schema; }

void record_view_usage(pqxx::transaction_base& tx, const std::string& environment, const std::string& schema) {
    if (!catalog::has_table(tx, "ece.staged_usage")) return;
    tx.exec_params(
        "INSERT INTO ece.staged_usage (environment, table_name, schema_name, view_name, content_table) "
        "SELECT DISTINCT ON (f.table_name) $1, f.table_name, n.nspname, v.relname, f.content_table "
        "FROM pg_class v JOIN pg_namespace n ON n.oid = v.relnamespace "
        "JOIN pg_rewrite r ON r.ev_class = v.oid "
        "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
        " AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n' "
        "JOIN pg_class c ON c.oid = d.refobjid "
        "JOIN pg_namespace cn ON cn.oid = c.relnamespace AND cn.nspname = $3 "
        "JOIN ece.staged_files f ON f.content_table = c.relname "
        "WHERE n.nspname = $2 AND v.relkind = 'v' "
        "ORDER BY f.table_name, (v.relname = f.table_name) DESC, v.relname "
        "ON CONFLICT (environment, table_name) DO UPDATE SET schema_name = excluded.schema_name, "
        "view_name = excluded.view_name, content_table = excluded.content_table, updated_at = now()",
        environment, schema, std::string(content_schema));
}

}  // namespace ece::stage
