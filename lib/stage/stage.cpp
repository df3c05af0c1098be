#include "stage/stage.hpp"

#include <algorithm>
#include <future>
#include <map>
#include <optional>

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg/lock.hpp"
#include "stage/copy.hpp"
#include "stage/scan.hpp"
#include "stage/source.hpp"

namespace ece::stage {
namespace {

using clock = std::chrono::steady_clock;

const std::vector<catalog::Migration> stage_migrations = {
    {1, "staged files and their usage", R"sql(
CREATE SCHEMA IF NOT EXISTS ece_content;
CREATE TABLE ece.staged_files (
    content_table text PRIMARY KEY,          -- table name in ece_content
    table_name    text NOT NULL,             -- the source table dbt reads
    sha256        text NOT NULL,             -- of the file's bytes as stored
    content_key   text NOT NULL UNIQUE,      -- sha256 + CSV options + declared types + primary key
    source        text NOT NULL,
    rows          bigint NOT NULL,
    file_bytes    bigint NOT NULL,
    data_bytes    bigint NOT NULL,
    columns       text NOT NULL,             -- "name type, ..." as created
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    load_seconds  double precision
);
CREATE INDEX staged_files_by_size ON ece.staged_files (table_name, file_bytes);
CREATE TABLE ece.staged_usage (
    environment   text NOT NULL,
    table_name    text NOT NULL,
    schema_name   text NOT NULL,
    view_name     text NOT NULL,
    content_table text NOT NULL REFERENCES ece.staged_files (content_table),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, table_name)
);
)sql"},
};

std::string qualified(const std::string& safe_table) {
    return pg::quote_ident(content_schema) + "." + pg::quote_ident(safe_table);
}

// Everything that decides the content table's bytes besides the file: options, declared types, primary key.
std::string content_key(const std::string& sha256, const TableDecl& table) {
    const auto& c = table.csv;
    std::string key = sha256 + "|header=" + (c.header ? "1" : "0") + "|d=" + c.delimiter + "|q=" + c.quote +
                      "|e=" + c.escape + "|null=" + c.null_string + "|gzip=" + (is_gzip(table) ? "1" : "0");
    for (const auto& [column, type] : table.column_types) key += "|type:" + column + "=" + type;
    for (const auto& column : table.primary_key) key += "|pk:" + column;
    return pg::sha256_hex(key);
}

std::string content_table_name(const TableDecl& table, const std::string& key) {
    return pg::slug(table.name + "_" + key.substr(0, 16));
}

// A content table already loaded for this key, if any.
std::optional<std::string> find_content(pqxx::connection_base& conn, const std::string& key) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT content_table FROM ece.staged_files WHERE content_key = $1", key);
    if (rows.empty()) return std::nullopt;
    return rows[0][0].as<std::string>();
}

bool same_size_file_staged(pqxx::connection_base& conn, const TableDecl& table, std::uint64_t size) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT 1 FROM ece.staged_files WHERE table_name = $1 AND file_bytes = $2 LIMIT 1",
                               table.name, static_cast<std::int64_t>(size));
    return !rows.empty();
}

class Stager {
public:
    Stager(const std::string& url, pqxx::connection& conn, const StageOptions& options)
        : url_(url), conn_(conn), options_(options) {}

    StagedTable stage(const TableDecl& table) {
        started_ = clock::now();
        StagedTable out{.name = table.name, .sha256 = {}, .content_table = {}};
        std::uint64_t size = file_size(table.source);
        out.file_bytes = size;
        // An unchanged file costs one hash pass: only a file of a size seen before can be unchanged.
        if (same_size_file_staged(conn_, table, size)) {
            report(table, Phase::hashing, 0, size, 0, 0);
            out.sha256 = hash_file(table.source);
            if (auto found = find_content(conn_, content_key(out.sha256, table))) return reused(table, out, *found);
        }
        report(table, Phase::scanning, 0, size, 0, 0);
        ScanResult scanned = scan(table, ScanOptions{.chunk_bytes = chunk_bytes_for(size)});
        out.sha256 = scanned.sha256;
        out.rows = scanned.rows;
        std::string key = content_key(scanned.sha256, table);
        if (auto found = find_content(conn_, key)) return reused(table, out, *found);

        pg::AdvisoryLock content_lock(conn_, "stage:" + key, std::chrono::minutes(30));
        if (auto found = find_content(conn_, key)) return reused(table, out, *found);  // loaded while we waited
        out.content_table = content_table_name(table, key);
        load(table, scanned, key, out.content_table);
        out.loaded = true;
        out.seconds = elapsed();
        report(table, Phase::loaded, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
        return out;
    }

private:
    // Enough chunks to keep every connection busy until the end (about four each), none larger than asked.
    std::uint64_t chunk_bytes_for(std::uint64_t file_bytes) const {
        std::uint64_t share = file_bytes / (std::max(1u, options_.connections) * 4ull);
        return std::clamp<std::uint64_t>(share, 1ull << 20, std::max<std::uint64_t>(options_.chunk_bytes, 1ull << 20));
    }

    StagedTable reused(const TableDecl& table, StagedTable out, const std::string& content_table) {
        pqxx::read_transaction tx(conn_);
        out.rows = tx.exec_params("SELECT rows FROM ece.staged_files WHERE content_table = $1", content_table)[0][0]
                       .as<std::uint64_t>();
        out.content_table = content_table;
        out.seconds = elapsed();
        report(table, Phase::reused, out.file_bytes, out.file_bytes, out.rows, out.rows);
        return out;
    }

    void load(const TableDecl& table, const ScanResult& scanned, const std::string& key,
              const std::string& content_table) {
        std::string loading = pg::slug("loading_" + content_table);
        std::vector<std::string> db_columns;
        std::string column_sql, columns_text;
        for (const auto& column : scanned.columns) {
            db_columns.push_back(pg::slug(column.name));
            if (!column_sql.empty()) column_sql += ", ", columns_text += ", ";
            column_sql += pg::quote_ident(db_columns.back()) + " " + column.sql_type;
            columns_text += db_columns.back() + " " + column.sql_type;
        }
        for (const auto& [name, type] : table.column_types) check_type_name(table, name, type);
        {
            pqxx::work tx(conn_);
            tx.exec0("DROP TABLE IF EXISTS " + qualified(loading));  // a leftover of an interrupted load
            tx.exec0("CREATE TABLE " + qualified(loading) + " (" + column_sql + ")");
            tx.commit();
        }
        try {
            copy_with_progress(table, scanned, qualified(loading), db_columns);
            report(table, Phase::checking, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
            pqxx::work tx(conn_);
            if (!table.primary_key.empty()) add_primary_key(tx, table, loading);
            tx.exec0("ALTER TABLE " + qualified(loading) + " RENAME TO " + pg::quote_ident(content_table));
            tx.exec_params(
                "INSERT INTO ece.staged_files (content_table, table_name, sha256, content_key, source, rows, "
                "file_bytes, data_bytes, columns, load_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                content_table, table.name, scanned.sha256, key, table.source, static_cast<std::int64_t>(scanned.rows),
                static_cast<std::int64_t>(scanned.file_bytes), static_cast<std::int64_t>(scanned.data_bytes),
                columns_text, elapsed());
            tx.commit();
        } catch (...) {
            drop_quietly(loading);
            throw;
        }
    }

    void check_type_name(const TableDecl& table, const std::string& column, const std::string& type) {
        // Declared types reach SQL text: only letters, digits, spaces, parentheses, commas and brackets.
        for (char c : type) {
            bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '(' || c == ')' || c == ',' ||
                      c == '[' || c == ']' || c == '_';
            if (!ok) throw Error(ErrorKind::usage, "declared type \"" + type + "\" is not a plain SQL type name",
                                 {.file = table.source, .field = "column " + column});
        }
    }

    void add_primary_key(pqxx::work& tx, const TableDecl& table, const std::string& loading) {
        std::string columns;
        for (const auto& c : table.primary_key) columns += (columns.empty() ? "" : ", ") + pg::ident(c);
        try {
            pqxx::subtransaction sub(tx, "primary_key");
            sub.exec0("ALTER TABLE " + qualified(loading) + " ADD PRIMARY KEY (" + columns + ")");
            sub.commit();
        } catch (const pqxx::sql_error& e) {
            std::string what = e.what();
            auto detail = what.find("DETAIL:");
            std::string reason = detail == std::string::npos ? what : what.substr(detail + 7);
            while (!reason.empty() && reason.front() == ' ') reason.erase(0, 1);
            while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
            std::string names;
            for (const auto& c : table.primary_key) names += (names.empty() ? "" : ", ") + c;
            throw Error(ErrorKind::input, "primary key (" + names + ") does not hold: " + reason, {.file = table.source});
        }
    }

    void copy_with_progress(const TableDecl& table, const ScanResult& scanned, const std::string& target,
                            const std::vector<std::string>& db_columns) {
        CopyCounters counters;
        CopyOptions copy{.connections = options_.connections, .counters = &counters, .db_columns = db_columns};
        auto running = std::async(std::launch::async, [&] { copy_chunks(url_, table, scanned, target, copy); });
        while (running.wait_for(options_.progress_interval) != std::future_status::ready)
            report(table, Phase::loading, counters.bytes, scanned.data_bytes, counters.rows, scanned.rows);
        running.get();
    }

    void drop_quietly(const std::string& loading) {
        try {
            pqxx::nontransaction(conn_).exec0("DROP TABLE IF EXISTS " + qualified(loading));
        } catch (...) {
            // gc removes it later; the original error matters more.
        }
    }

    void report(const TableDecl& table, Phase phase, std::uint64_t bytes_done, std::uint64_t bytes_total,
                std::uint64_t rows_done, std::uint64_t rows_total) {
        if (options_.on_progress)
            options_.on_progress({table.name, phase, bytes_done, bytes_total, rows_done, rows_total, elapsed()});
    }
    double elapsed() const { return std::chrono::duration<double>(clock::now() - started_).count(); }

    const std::string& url_;
    pqxx::connection& conn_;
    const StageOptions& options_;
    clock::time_point started_{};
};

// CREATE OR REPLACE keeps dependent views (dbt's staging views) when the columns only grow; otherwise the view
// must be dropped first, which takes dependent views with it: fine in a branch (dbt rebuilds them), refused in
// production.
void point_view(pqxx::work& tx, const Environment& env, const std::string& view, const std::string& content_table) {
    std::string view_sql = pg::ident(env.raw_schema) + "." + view;
    std::string select = " AS SELECT * FROM " + qualified(content_table);
    try {
        pqxx::subtransaction sub(tx, "replace_view");
        sub.exec0("CREATE OR REPLACE VIEW " + view_sql + select);
        sub.commit();
    } catch (const pqxx::sql_error&) {
        if (env.production) {
            throw Error(ErrorKind::conflict, "the columns of " + env.raw_schema + "." + view +
                                                 " changed; production's dependent views would be dropped");
        }
        tx.exec0("DROP VIEW IF EXISTS " + view_sql + " CASCADE");
        tx.exec0("CREATE VIEW " + view_sql + select);
    }
    if (!env.owner_role.empty()) {
        tx.exec0("GRANT SELECT ON " + qualified(content_table) + " TO " + pg::ident(env.owner_role));
        tx.exec0("ALTER VIEW " + view_sql + " OWNER TO " + pg::ident(env.owner_role));
    }
}

void point_views(pqxx::connection& conn, const Environment& env, const std::vector<StagedTable>& staged) {
    pqxx::work tx(conn);
    // GRANTs on the shared content schema and tables: environments take turns (see pg::shared_privileges_lock).
    if (!env.owner_role.empty())
        tx.exec_params("SELECT pg_advisory_xact_lock($1)", pg::AdvisoryLock::key_for(pg::shared_privileges_lock));
    std::string schema = pg::ident(env.raw_schema);
    tx.exec0("CREATE SCHEMA IF NOT EXISTS " + schema +
             (env.owner_role.empty() ? "" : " AUTHORIZATION " + pg::ident(env.owner_role)));
    if (!env.owner_role.empty())
        tx.exec0("GRANT USAGE ON SCHEMA " + pg::quote_ident(content_schema) + " TO " + pg::ident(env.owner_role));
    for (const auto& table : staged) {
        point_view(tx, env, pg::ident(table.name), table.content_table);
        tx.exec_params(
            "INSERT INTO ece.staged_usage (environment, table_name, schema_name, view_name, content_table) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (environment, table_name) DO UPDATE SET "
            "schema_name = excluded.schema_name, view_name = excluded.view_name, "
            "content_table = excluded.content_table, updated_at = now()",
            env.name, table.name, pg::slug(env.raw_schema), pg::slug(table.name), table.content_table);
    }
    tx.commit();
}

}  // namespace

void migrate_catalog(pqxx::connection_base& conn) { catalog::migrate(conn, "stage", stage_migrations); }

std::vector<StagedTable> stage_tables(const std::string& url, const Environment& env,
                                      const std::vector<TableDecl>& tables, const StageOptions& options) {
    std::map<std::string, int> seen;
    for (const auto& t : tables)
        if (seen[t.name]++) throw Error(ErrorKind::usage, "table \"" + t.name + "\" is given twice");
    auto conn = pg::connect(url, "stage");
    try {
        migrate_catalog(conn);
        pg::AdvisoryLock env_lock(conn, "env:" + env.name);
        Stager stager(url, conn, options);
        std::vector<StagedTable> staged;
        for (const auto& table : tables) {
            try {
                staged.push_back(stager.stage(table));
            } catch (const Error&) {
                throw;
            } catch (const std::exception& e) {
                throw pg::translate(e, "staging " + table.name + " from " + table.source);
            }
        }
        point_views(conn, env, staged);
        return staged;
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        throw pg::translate(e, "staging into " + env.name);
    }
}

std::vector<StagedFile> status(pqxx::connection_base& conn) {
    migrate_catalog(conn);
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec(
        "SELECT f.content_table, f.table_name, f.sha256, f.source, f.loaded_at::text, f.rows, f.file_bytes, "
        "coalesce(pg_total_relation_size(to_regclass(quote_ident('ece_content') || '.' || quote_ident(f.content_table))), 0), "
        "coalesce(array_to_string(array_agg(u.environment || ' (' || u.schema_name || '.' || u.view_name || ')' "
        "ORDER BY u.environment) FILTER (WHERE u.environment IS NOT NULL), E'\\n'), '') "
        "FROM ece.staged_files f LEFT JOIN ece.staged_usage u USING (content_table) "
        "GROUP BY f.content_table ORDER BY f.table_name, f.loaded_at");
    std::vector<StagedFile> out;
    for (const auto& r : rows) {
        StagedFile f{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(), r[3].as<std::string>(),
                     r[4].as<std::string>(), r[5].as<std::uint64_t>(), r[6].as<std::uint64_t>(), r[7].as<std::uint64_t>(), {}};
        std::string used = r[8].as<std::string>();
        for (std::size_t start = 0; start < used.size();) {
            auto end = used.find('\n', start);
            if (end == std::string::npos) end = used.size();
            f.used_by.push_back(used.substr(start, end - start));
            start = end + 1;
        }
        out.push_back(std::move(f));
    }
    return out;
}

std::vector<std::string> gc(pqxx::connection_base& conn) {
    migrate_catalog(conn);
    std::vector<std::string> dropped;
    {
        pqxx::work tx(conn);
        tx.exec0("DELETE FROM ece.staged_usage WHERE to_regclass(quote_ident(schema_name) || '.' || "
                 "quote_ident(view_name)) IS NULL");
        auto unused = tx.exec(
            "SELECT content_table FROM ece.staged_files f WHERE NOT EXISTS "
            "(SELECT 1 FROM ece.staged_usage u WHERE u.content_table = f.content_table) FOR UPDATE");
        for (const auto& r : unused) {
            auto name = r[0].as<std::string>();
            tx.exec0("DROP TABLE IF EXISTS " + qualified(name));
            tx.exec_params("DELETE FROM ece.staged_files WHERE content_table = $1", name);
            dropped.push_back(name);
        }
        tx.commit();
    }
    // Leftovers of interrupted loads: tables in ece_content the catalog does not know, unless a load holds its lock.
    std::vector<std::string> strays;
    {
        pqxx::read_transaction tx(conn);
        auto rows = tx.exec(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'ece_content' AND c.relkind = 'r' AND NOT EXISTS "
            "(SELECT 1 FROM ece.staged_files f WHERE f.content_table = c.relname)");
        for (const auto& r : rows) strays.push_back(r[0].as<std::string>());
    }
    for (const auto& name : strays) {
        // A load in progress has an open transaction on this table; lock_timeout makes us skip it instead of waiting.
        try {
            pqxx::work tx(conn);
            tx.exec0("SET LOCAL lock_timeout = '1s'");
            tx.exec0("DROP TABLE IF EXISTS " + qualified(name));
            tx.commit();
            dropped.push_back(name);
        } catch (const pqxx::sql_error&) {
        }
    }
    return dropped;
}

Environment branch_environment(pqxx::connection_base& conn, const std::string& branch) {
    Environment env{.name = branch, .raw_schema = "ece_" + pg::slug(branch) + "_raw"};
    // ece-env records the environment (its base schema and role); without it, staging still works on its own.
    try {
        pqxx::read_transaction tx(conn);
        if (!tx.exec("SELECT to_regclass('ece.environments') IS NOT NULL")[0][0].as<bool>()) return env;
        auto rows = tx.exec_params(
            "SELECT name, base_schema, role_name FROM ece.environments WHERE (branch = $1 OR name = $1) "
            "AND destroyed_at IS NULL ORDER BY (name = $1) DESC LIMIT 1",
            branch);
        if (!rows.empty()) {
            env.name = rows[0][0].as<std::string>();
            env.raw_schema = rows[0][1].as<std::string>() + "_raw";
            env.owner_role = rows[0][2].is_null() ? "" : rows[0][2].as<std::string>();
        }
    } catch (const pqxx::sql_error&) {
        // An ece.environments of another shape: fall back to the default names.
    }
    return env;
}

Environment production_environment(const std::string& raw_schema) {
    return Environment{.name = "production", .raw_schema = raw_schema, .owner_role = {}, .production = true};
}

}  // namespace ece::stage
