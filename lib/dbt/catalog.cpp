#include "dbt/catalog.hpp"

#include <fstream>
#include <sstream>

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "dbt/gzip.hpp"
#include "pg/connect.hpp"

namespace ece::dbt {
namespace {

const std::vector<catalog::Migration>& migrations() {
    static const std::vector<catalog::Migration> list = {
        {1, "builds, built nodes, production manifests",
         "CREATE TABLE ece.builds ("
         " id bigserial PRIMARY KEY,"
         " environment text NOT NULL,"
         " sha text NOT NULL,"
         " selector text NOT NULL,"
         " plan jsonb NOT NULL,"
         " run_results jsonb,"
         " status text NOT NULL CHECK (status IN ('running', 'success', 'failed', 'mismatch', 'nothing_to_build')),"
         " dbt_exit_code integer,"
         " message text NOT NULL DEFAULT '',"
         " started_at timestamptz NOT NULL DEFAULT now(),"
         " finished_at timestamptz);"
         "CREATE INDEX builds_by_environment ON ece.builds (environment, id DESC);"
         "CREATE TABLE ece.built_nodes ("
         " environment text NOT NULL,"
         " unique_id text NOT NULL,"
         " resource_type text NOT NULL,"
         " checksum text NOT NULL,"
         " schema text NOT NULL,"
         " relation text NOT NULL,"
         " materialized text NOT NULL,"
         " build_id bigint NOT NULL REFERENCES ece.builds (id) ON DELETE CASCADE,"
         " sha text NOT NULL,"
         " PRIMARY KEY (environment, unique_id));"
         "CREATE INDEX built_nodes_by_build ON ece.built_nodes (build_id);"
         "CREATE TABLE ece.state_manifests ("
         " id bigserial PRIMARY KEY,"
         " sha text NOT NULL,"
         " source text NOT NULL,"
         " stored_at timestamptz NOT NULL DEFAULT now(),"
         " manifest bytea NOT NULL,"
         " node_count integer NOT NULL)"},
        // A rollback takes a publish out of production, and with it the manifest that publish stored: retired
        // manifests are history, never the state a plan compares with. publish_id ties a manifest to its publish
        // (instead of parsing source); earlier rows get it from their source "publish #N".
        {2, "retired production manifests",
         "ALTER TABLE ece.state_manifests"
         " ADD COLUMN publish_id bigint,"
         " ADD COLUMN retired_at timestamptz,"
         " ADD COLUMN retired_by text;"
         "UPDATE ece.state_manifests SET publish_id = substring(source from '^publish #([0-9]+)$')::bigint"
         " WHERE source ~ '^publish #[0-9]+$';"
         "CREATE INDEX state_manifests_by_publish ON ece.state_manifests (publish_id) WHERE publish_id IS NOT NULL;"},
    };
    return list;
}

constexpr const char* iso_utc = "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"";

std::string timestamp_sql(const std::string& column) {
    return "to_char(" + column + " AT TIME ZONE 'UTC', '" + iso_utc + "')";
}

const char* nullable(const std::optional<std::string>& text) { return text ? text->c_str() : nullptr; }

std::optional<std::string> optional_text(const pqxx::field& field) {
    if (field.is_null()) return std::nullopt;
    return field.as<std::string>();
}

std::string read_whole_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the production manifest", {file.string(), {}, {}, {}, {}});
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_built_nodes(pqxx::work& tx, std::int64_t build_id, const std::vector<BuiltNode>& nodes) {
    for (const auto& node : nodes) {
        tx.exec_params(
            "INSERT INTO ece.built_nodes AS b (environment, unique_id, resource_type, checksum, schema, relation,"
            " materialized, build_id, sha)"
            " SELECT environment, $2, $3, $4, $5, $6, $7, id, sha FROM ece.builds WHERE id = $1"
            " ON CONFLICT (environment, unique_id) DO UPDATE SET resource_type = excluded.resource_type,"
            " checksum = excluded.checksum, schema = excluded.schema, relation = excluded.relation,"
            " materialized = excluded.materialized, build_id = excluded.build_id, sha = excluded.sha",
            build_id, node.unique_id, node.resource_type, node.checksum, node.schema, node.relation,
            node.materialized);
    }
}

std::int64_t insert_compressed(pqxx::transaction_base& tx, const std::string& compressed, std::size_t node_count,
                               const std::string& sha, const std::string& source,
                               std::optional<std::int64_t> publish_id) {
    return tx
        .exec_params1("INSERT INTO ece.state_manifests (sha, source, manifest, node_count, publish_id)"
                      " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                      sha, source, pqxx::binarystring(compressed.data(), compressed.size()),
                      static_cast<std::int64_t>(node_count), publish_id)[0]
        .as<std::int64_t>();
}

std::int64_t store_compressed(pqxx::connection_base& conn, std::string_view manifest_json, std::size_t node_count,
                              const std::string& sha, const std::string& source) {
    const std::string compressed = gzip_compress(manifest_json);
    migrate_catalog(conn);
    try {
        pqxx::work tx(conn, "store production manifest");
        const auto id = insert_compressed(tx, compressed, node_count, sha, source, std::nullopt);
        tx.commit();
        return id;
    } catch (const std::exception& e) {
        throw pg::translate(e, "storing the production manifest of " + sha + " in the catalog");
    }
}

// Catalogs migrated before dbt v2 have no retired manifests (nor the columns saying so).
bool can_retire(pqxx::transaction_base& tx) {
    return tx.exec1("SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('ece.state_manifests')"
                    " AND attname = 'retired_at' AND NOT attisdropped)")[0]
        .as<bool>();
}

}  // namespace

void migrate_catalog(pqxx::connection_base& conn) { catalog::migrate(conn, "dbt", migrations()); }

std::string StoredManifest::describe() const {
    return "ece.state_manifests #" + std::to_string(id) + " (sha " + (sha.empty() ? "unknown" : sha) + ", " + source +
           ", stored " + stored_at + ")";
}

std::int64_t store_production_manifest(pqxx::connection_base& conn, const std::filesystem::path& manifest_file,
                                       const std::string& sha, const std::string& source) {
    const std::string json = read_whole_file(manifest_file);
    const Manifest manifest = parse_manifest(json, manifest_file);  // errors name the file
    return store_compressed(conn, json, manifest.nodes.size(), sha, source);
}

PreparedManifest prepare_manifest(const std::filesystem::path& manifest_file) {
    const std::string json = read_whole_file(manifest_file);
    const Manifest manifest = parse_manifest(json, manifest_file);  // errors name the file
    return {gzip_compress(json), manifest.nodes.size()};
}

std::int64_t store_published_manifest(pqxx::transaction_base& tx, const PreparedManifest& manifest,
                                      const std::string& sha, std::int64_t publish_id) {
    try {
        return insert_compressed(tx, manifest.compressed, manifest.node_count, sha,
                                 published_manifest_source(publish_id), publish_id);
    } catch (const std::exception& e) {
        throw pg::translate(e, "storing the manifest of publish #" + std::to_string(publish_id) + " in the catalog");
    }
}

std::string published_manifest_source(std::int64_t publish_id) { return "publish #" + std::to_string(publish_id); }

std::size_t retire_published_manifests(pqxx::transaction_base& tx, std::int64_t publish_id,
                                       const std::string& retired_by) {
    return tx
        .exec_params("UPDATE ece.state_manifests SET retired_at = now(), retired_by = $2"
                     " WHERE publish_id = $1 AND retired_at IS NULL",
                     publish_id, retired_by)
        .affected_rows();
}

std::size_t restore_published_manifests(pqxx::transaction_base& tx, std::int64_t publish_id) {
    return tx
        .exec_params("UPDATE ece.state_manifests SET retired_at = NULL, retired_by = NULL"
                     " WHERE publish_id = $1 AND retired_at IS NOT NULL",
                     publish_id)
        .affected_rows();
}

std::int64_t store_production_manifest_json(pqxx::connection_base& conn, std::string_view manifest_json,
                                            const std::string& sha, const std::string& source) {
    const Manifest manifest = parse_manifest(manifest_json, "the production manifest to store");
    return store_compressed(conn, manifest_json, manifest.nodes.size(), sha, source);
}

std::optional<StoredManifest> load_production_manifest_json(pqxx::connection_base& conn) {
    try {
        if (!catalog::has_table(conn, "ece.state_manifests")) return std::nullopt;
        pqxx::read_transaction tx(conn, "load production manifest");
        const auto rows = tx.exec("SELECT id, sha, source, " + timestamp_sql("stored_at") +
                                  ", node_count, manifest FROM ece.state_manifests" +
                                  (can_retire(tx) ? " WHERE retired_at IS NULL" : "") + " ORDER BY id DESC LIMIT 1");
        if (rows.empty()) return std::nullopt;
        const auto& row = rows[0];
        StoredManifest stored;
        stored.id = row[0].as<std::int64_t>();
        stored.sha = row[1].as<std::string>();
        stored.source = row[2].as<std::string>();
        stored.stored_at = row[3].as<std::string>();
        stored.node_count = row[4].as<std::int64_t>();
        const pqxx::binarystring compressed(row[5]);
        stored.json = gzip_decompress(std::string_view(compressed.get(), compressed.size()), "ece.state_manifests #" + std::to_string(stored.id));
        return stored;
    } catch (const std::exception& e) {
        throw pg::translate(e, "loading the production manifest from the catalog");
    }
}

std::optional<Manifest> load_production_manifest(pqxx::connection_base& conn) {
    auto stored = load_production_manifest_json(conn);
    if (!stored) return std::nullopt;
    return parse_manifest(stored->json, "ece.state_manifests #" + std::to_string(stored->id));
}

std::int64_t begin_build(pqxx::connection_base& conn, const BuildStart& start) {
    migrate_catalog(conn);
    try {
        pqxx::work tx(conn, "begin build");
        // Called under the environment's lock (run_build), so a build of it still "running" is one whose process
        // died (killed, machine lost) without recording a result: say so instead of showing it running forever.
        tx.exec_params("UPDATE ece.builds SET status = 'failed', finished_at = now(), message = 'interrupted: the"
                       " build process ended without recording a result' WHERE environment = $1 AND status = 'running'",
                       start.environment);
        const auto id = tx.exec_params1("INSERT INTO ece.builds (environment, sha, selector, plan, status)"
                                        " VALUES ($1, $2, $3, $4::jsonb, 'running') RETURNING id",
                                        start.environment, start.sha, start.selector, start.plan_json)[0]
                            .as<std::int64_t>();
        tx.commit();
        return id;
    } catch (const std::exception& e) {
        throw pg::translate(e, "recording the start of the build of " + start.environment);
    }
}

void finish_build(pqxx::connection_base& conn, std::int64_t build_id, const BuildOutcome& outcome) {
    const std::optional<std::string> exit_code =
        outcome.dbt_exit_code ? std::optional<std::string>(std::to_string(*outcome.dbt_exit_code)) : std::nullopt;
    try {
        pqxx::work tx(conn, "finish build");
        const auto updated = tx.exec_params(
            "UPDATE ece.builds SET status = $2, dbt_exit_code = $3::integer, run_results = $4::jsonb, message = $5,"
            " finished_at = now() WHERE id = $1",
            build_id, outcome.status, nullable(exit_code), nullable(outcome.run_results_json), outcome.message);
        if (updated.affected_rows() != 1)
            throw Error(ErrorKind::internal, "build #" + std::to_string(build_id) + " is not in ece.builds");
        write_built_nodes(tx, build_id, outcome.built);
        tx.commit();
    } catch (const std::exception& e) {
        throw pg::translate(e, "recording the results of build #" + std::to_string(build_id));
    }
}

std::int64_t record_build(pqxx::connection_base& conn, const BuildStart& start, const BuildOutcome& outcome) {
    const std::int64_t id = begin_build(conn, start);
    finish_build(conn, id, outcome);
    return id;
}

std::optional<BuildRow> latest_build(pqxx::connection_base& conn, const std::string& environment) {
    try {
        if (!catalog::has_table(conn, "ece.builds")) return std::nullopt;
        pqxx::read_transaction tx(conn, "latest build");
        const auto rows = tx.exec_params(
            "SELECT id, environment, sha, selector, plan::text, run_results::text, status, dbt_exit_code, message, " +
                timestamp_sql("started_at") + ", " + timestamp_sql("finished_at") +
                " FROM ece.builds WHERE environment = $1 ORDER BY id DESC LIMIT 1",
            environment);
        if (rows.empty()) return std::nullopt;
        const auto& row = rows[0];
        BuildRow build;
        build.id = row[0].as<std::int64_t>();
        build.environment = row[1].as<std::string>();
        build.sha = row[2].as<std::string>();
        build.selector = row[3].as<std::string>();
        build.plan_json = row[4].as<std::string>();
        build.run_results_json = optional_text(row[5]);
        build.status = row[6].as<std::string>();
        if (!row[7].is_null()) build.dbt_exit_code = row[7].as<int>();
        build.message = row[8].as<std::string>();
        build.started_at = row[9].as<std::string>();
        build.finished_at = optional_text(row[10]);
        return build;
    } catch (const std::exception& e) {
        throw pg::translate(e, "reading the latest build of " + environment);
    }
}

std::vector<BuiltNode> built_nodes(pqxx::connection_base& conn, const std::string& environment) {
    try {
        if (!catalog::has_table(conn, "ece.built_nodes")) return {};
        pqxx::read_transaction tx(conn, "built nodes");
        std::vector<BuiltNode> nodes;
        for (const auto& row : tx.exec_params("SELECT environment, unique_id, resource_type, checksum, schema,"
                                              " relation, materialized, build_id, sha FROM ece.built_nodes"
                                              " WHERE environment = $1 ORDER BY unique_id",
                                              environment)) {
            nodes.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                             row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                             row[6].as<std::string>(), row[7].as<std::int64_t>(), row[8].as<std::string>()});
        }
        return nodes;
    } catch (const std::exception& e) {
        throw pg::translate(e, "reading the nodes built in " + environment);
    }
}

void forget_built_nodes(pqxx::connection_base& conn, const std::string& environment) {
    try {
        if (!catalog::has_table(conn, "ece.built_nodes")) return;
        pqxx::work tx(conn, "forget built nodes");
        tx.exec_params("DELETE FROM ece.built_nodes WHERE environment = $1", environment);
        tx.commit();
    } catch (const std::exception& e) {
        throw pg::translate(e, "forgetting the nodes built in " + environment);
    }
}

}  // namespace ece::dbt
