#include "stage/stage.hpp"

#include <algorithm>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg/lock.hpp"
#include "http/url.hpp"
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

// A loading table belongs to the session holding this advisory lock, taken before the table is made and kept until the
// session ends: a loading table whose lock is free was left by a process that died mid-load.
std::int64_t loading_lock_key(const std::string& loading) { return pg::AdvisoryLock::key_for("stage:loading:" + loading); }

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
    Stager(const std::string& url, pqxx::connection& conn, const StageOptions& options,
           CopyConnections* opened_ahead)
        : url_(url), conn_(conn), options_(options), opened_ahead_(opened_ahead) {}

    // What is known about a table after reading it, before anything is loaded.
    struct Prepared {
        const TableDecl* table = nullptr;
        StagedTable out{};
        std::optional<std::string> existing{};  // the content table that holds this content already
        std::optional<ScanResult> scanned{};    // when it must be loaded
        std::optional<std::string> loading{};   // a loading table that holds every row already (overlapped scan)
        double seconds = 0;                     // spent reading it
    };

    // Checks the declaration and reads the file: hash only when a file of its size was staged before (it may be
    // unchanged), else the full one-pass scan. Loads nothing, so every table is checked before any is loaded.
    Prepared prepare(const TableDecl& table) {
        started_ = clock::now();
        check_declaration(table);
        Prepared p{.table = &table, .out = StagedTable{.name = table.name, .sha256 = {}, .content_table = {}}};
        if (is_url(table.source)) return p;  // read while it loads
        std::uint64_t size = source_size(table);
        p.out.file_bytes = size;
        if (same_size_file_staged(conn_, table, size)) {
            report(table, Phase::hashing, 0, size, 0, 0);
            p.out.sha256 = hash_file(table.source);
            p.existing = find_content(conn_, content_key(p.out.sha256, table));
        }
        if (!p.existing) {
            report(table, Phase::scanning, 0, size, 0, 0);
            p.scanned.emplace();
            if (options_.overlap_scan) p.loading = scan_while_loading(table, size, *p.scanned);
            else *p.scanned = scan_declared(table, size);
            p.out.sha256 = p.scanned->sha256;
            p.out.rows = p.scanned->rows;
            p.existing = find_content(conn_, content_key(p.out.sha256, table));
        }
        p.seconds = elapsed();
        return p;
    }

    // A prepared table that will not be finished: its rows loaded ahead are dropped.
    void discard(Prepared& p) {
        if (p.loading) drop_quietly(*p.loading);
        p.loading.reset();
    }

    // Loads a prepared table unless its content is there already (or got there while we waited for its lock).
    StagedTable finish(Prepared& p) {
        const TableDecl& table = *p.table;
        started_ = clock::now() - std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(p.seconds));
        if (p.existing) {
            discard(p);
            return reused(table, p.out, *p.existing);
        }
        if (!p.scanned) return stage_url(p);
        const ScanResult& scanned = *p.scanned;
        std::string key = content_key(scanned.sha256, table);
        pg::AdvisoryLock content_lock(conn_, "stage:" + key, std::chrono::minutes(30));
        if (auto found = find_content(conn_, key)) {
            discard(p);
            return reused(table, p.out, *found);
        }
        p.out.content_table = content_table_name(table, key);
        if (p.loading) {
            std::string loading = *p.loading;
            p.loading.reset();
            make_content_table_of(table, scanned, key, loading, p.out.content_table);
        } else {
            load(table, scanned, key, p.out.content_table);
        }
        p.out.loaded = true;
        p.out.seconds = elapsed();
        report(table, Phase::loaded, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
        return p.out;
    }

private:
    // A problem with how the table is declared: named at its line in ece.yml when it came from there.
    Error declaration_error(const TableDecl& table, ErrorKind kind, const std::string& message) const {
        if (table.line && !options_.declared_in.empty())
            return Error(kind, "table " + table.name + ": " + message,
                         {.file = options_.declared_in, .line = static_cast<std::uint64_t>(*table.line)});
        return Error(kind, message, {.file = table.source});
    }

    // What can be checked before reading the data.
    void check_declaration(const TableDecl& table) const {
        for (const auto& [column, type] : table.column_types) check_type_name(table, column, type);
        if (is_url(table.source)) {
            try {
                http::Url::parse(table.source);
            } catch (const Error& e) {
                throw declaration_error(table, ErrorKind::usage, e.message());
            }
        }
    }

    std::uint64_t source_size(const TableDecl& table) const {
        try {
            return file_size(table.source);
        } catch (const Error& e) {
            if (!table.line) throw;
            throw declaration_error(table, e.kind(), "source " + table.source + ": " + e.message());
        }
    }

    // The one-pass scan; a declared column missing from the header or the primary key is the declaration's fault.
    ScanResult scan_declared(const TableDecl& table, std::uint64_t size,
                             std::function<void(const ScanSoFar&)> on_block = {}) const {
        ScanResult scanned;
        try {
            scanned = scan(table, ScanOptions{.chunk_bytes = chunk_bytes_for(table, size), .on_block = std::move(on_block)});
        } catch (const Error& e) {
            if (!table.line || e.message().rfind("header: declared column", 0) != 0) throw;
            throw declaration_error(table, ErrorKind::usage, e.message().substr(8) + " " + table.source);
        }
        check_primary_key_columns(table, scanned, table.source);
        return scanned;
    }

    void check_primary_key_columns(const TableDecl& table, const ScanResult& scanned, const std::string& shown) const {
        for (const auto& key : table.primary_key) {
            bool found = std::any_of(scanned.columns.begin(), scanned.columns.end(),
                                     [&](const Column& c) { return c.name == key; });
            if (!found)
                throw declaration_error(table, ErrorKind::usage, "primary key column \"" + key + "\" is not in " + shown);
        }
    }

    // Small chunks (about sixteen a connection, none larger than asked) keep every connection busy until the end
    // and let the first COPY start early; a connection's COPY runs on over its chunks, so they cost little.
    // gzip is inflated by one reader that deals chunks out in turn: small chunks let every connection start at once.
    std::uint64_t chunk_bytes_for(const TableDecl& table, std::uint64_t file_bytes) const {
        std::uint64_t largest = std::max<std::uint64_t>(options_.chunk_bytes, 1ull << 20);
        if (is_gzip(table)) largest = std::min<std::uint64_t>(largest, 4ull << 20);
        std::uint64_t share = file_bytes / (std::max(1u, options_.connections) * 16ull);
        return std::clamp<std::uint64_t>(share, 1ull << 20, largest);
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

    // The table the rows are loaded into (committed, so that several connections can COPY into it); returns the
    // columns' names in the database.
    std::vector<std::string> create_loading_table(const std::string& loading, const std::vector<Column>& columns) {
        std::vector<std::string> db_columns;
        std::string column_sql;
        for (const auto& column : columns) {
            db_columns.push_back(pg::slug(column.name));
            if (!column_sql.empty()) column_sql += ", ";
            column_sql += pg::quote_ident(db_columns.back()) + " " + column.sql_type;
        }
        {
            pqxx::nontransaction tx(conn_);
            if (!pg::wait_for_advisory_lock(tx, loading_lock_key(loading), pg::LockScope::session, std::chrono::minutes(2))) {
                throw Error(ErrorKind::conflict, "another ece job is loading " + loading + "; try again when it has finished");
            }
        }
        pqxx::work tx(conn_);
        tx.exec0("DROP TABLE IF EXISTS " + qualified(loading));  // a leftover of an interrupted load
        tx.exec0("CREATE TABLE " + qualified(loading) + " (" + column_sql + ")");
        tx.commit();
        return db_columns;
    }

    void load(const TableDecl& table, const ScanResult& scanned, const std::string& key,
              const std::string& content_table) {
        std::string loading = pg::slug("loading_" + content_table);
        auto db_columns = create_loading_table(loading, scanned.columns);
        try {
            copy_with_progress(table, scanned, qualified(loading), db_columns);
        } catch (...) {
            drop_quietly(loading);
            throw;
        }
        make_content_table_of(table, scanned, key, loading, content_table);
    }

    // Loaded rows (in loading) become the content table; on failure the loading table is dropped.
    void make_content_table_of(const TableDecl& table, const ScanResult& scanned, const std::string& key,
                               const std::string& loading, const std::string& content_table) {
        try {
            report(table, Phase::checking, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
            pqxx::work tx(conn_);
            make_content_table(tx, table, scanned, key, loading, content_table, table.source);
            tx.commit();
        } catch (...) {
            drop_quietly(loading);
            throw;
        }
    }

    // The scan with the COPY running alongside: once the first block has given every column a type, the chunks the
    // scan finds are loaded while it goes on, on the guess that later values keep those types. Returns the loading
    // table holding every row when the guess held. When a later value widened a type (or nothing could be guessed)
    // the rows loaded ahead are dropped and nullopt says: load as usual, with scanned. An error of the scan (a
    // malformed line) wins over one of the COPY, as when scanning first; either leaves no table behind.
    std::optional<std::string> scan_while_loading(const TableDecl& table, std::uint64_t size, ScanResult& scanned) {
        ChunkFeed feed;
        std::vector<Column> guessed;
        std::string loading;
        CopyCounters counters;
        std::uint64_t chunk_bytes = chunk_bytes_for(table, size);
        // No more connections than chunks (the size of gzip data is not known before it is inflated).
        unsigned connections = std::max(1u, options_.connections);
        if (!is_gzip(table))
            connections = static_cast<unsigned>(std::min<std::uint64_t>(connections, (size + chunk_bytes - 1) / chunk_bytes));
        CopyOptions copy{.connections = connections, .counters = &counters, .db_columns = {},
                         .format = options_.copy_format, .opened_ahead = opened_ahead_};
        std::future<void> copying;
        bool guess_failed = false;
        auto last_report = clock::now();
        auto on_block = [&](const ScanSoFar& so_far) {
            if (guess_failed) return;
            if (!copying.valid()) {
                if (so_far.rows == 0) return;  // nothing to guess from yet
                guessed = so_far.columns;
                loading = unique_loading_name(table.name);
                copy.db_columns = create_loading_table(loading, guessed);
                copying = std::async(std::launch::async,
                                     [&] { copy_feed(url_, table, guessed, feed, qualified(loading), copy); });
            }
            if (!same_types(so_far.columns, guessed)) {
                guess_failed = true;
                feed.abort();
                return;
            }
            feed.publish(so_far.chunks);
            if (clock::now() - last_report >= options_.progress_interval) {
                last_report = clock::now();
                report(table, Phase::loading, counters.bytes, size, counters.rows, 0);
            }
        };
        // Stops the COPY and drops what it loaded; the COPY's own error, if any, no longer matters.
        auto abandon = [&] {
            feed.abort();
            if (copying.valid()) {
                try {
                    copying.get();
                } catch (...) {
                }
            }
            if (!loading.empty()) drop_quietly(loading);
        };
        try {
            scanned = scan_declared(table, size, on_block);
        } catch (...) {
            abandon();
            throw;
        }
        if (!copying.valid()) return std::nullopt;
        if (guess_failed || !same_types(scanned.columns, guessed)) {
            abandon();
            return std::nullopt;
        }
        feed.publish(scanned.chunks);
        feed.close();
        try {
            while (copying.wait_for(options_.progress_interval) != std::future_status::ready)
                report(table, Phase::loading, counters.bytes, scanned.data_bytes, counters.rows, scanned.rows);
            copying.get();
        } catch (...) {
            drop_quietly(loading);
            throw;
        }
        return loading;
    }

    static bool same_types(const std::vector<Column>& a, const std::vector<Column>& b) {
        if (a.size() != b.size()) return false;
        for (std::size_t k = 0; k < a.size(); ++k)
            if (a[k].name != b[k].name || a[k].sql_type != b[k].sql_type) return false;
        return true;
    }

    // The loaded rows become the content table: primary key checked, renamed, recorded in the catalog.
    void make_content_table(pqxx::work& tx, const TableDecl& table, const ScanResult& scanned, const std::string& key,
                            const std::string& loading, const std::string& content_table, const std::string& source) {
        std::string columns_text;
        for (const auto& column : scanned.columns)
            columns_text += (columns_text.empty() ? "" : ", ") + pg::slug(column.name) + " " + column.sql_type;
        if (!table.primary_key.empty()) add_primary_key(tx, table, loading);
        tx.exec0("ALTER TABLE " + qualified(loading) + " RENAME TO " + pg::quote_ident(content_table));
        tx.exec_params(
            "INSERT INTO ece.staged_files (content_table, table_name, sha256, content_key, source, rows, "
            "file_bytes, data_bytes, columns, load_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            content_table, table.name, scanned.sha256, key, source, static_cast<std::int64_t>(scanned.rows),
            static_cast<std::int64_t>(scanned.file_bytes), static_cast<std::int64_t>(scanned.data_bytes), columns_text,
            elapsed());
    }

    // An https source is loaded while it downloads (one COPY, no temporary file), into a loading table whose
    // undeclared columns are text; the hash is known only at the end: if that content is staged already, the
    // loaded rows are dropped and the existing table is used, else the columns get their inferred types.
    StagedTable stage_url(Prepared& p) {
        const TableDecl& table = *p.table;
        std::string shown = shown_url(table.source);
        std::string loading = unique_loading_name(table.name);
        CopyStream copy(url_, shown);
        std::vector<std::string> names, db_columns;
        auto last_report = clock::now();
        StreamConsumer consumer{
            .on_columns =
                [&](const std::vector<std::string>& columns) {
                    names = columns;
                    std::string column_sql;
                    for (const auto& name : names) {
                        db_columns.push_back(pg::slug(name));
                        auto declared = table.column_types.find(name);
                        column_sql += (column_sql.empty() ? "" : ", ") + pg::quote_ident(db_columns.back()) + " " +
                                      (declared == table.column_types.end() ? "text" : declared->second);
                    }
                    copy.begin("CREATE TABLE " + qualified(loading) + " (" + column_sql + ")",
                               "COPY " + qualified(loading) + " FROM STDIN " + copy_options_sql(table.csv, table.csv.header));
                },
            .on_records =
                [&](const char* data, std::size_t size) {
                    copy.put(data, size);
                    if (clock::now() - last_report >= options_.progress_interval) {
                        last_report = clock::now();
                        report(table, Phase::loading, copy.bytes_sent(), 0, 0, 0);
                    }
                },
        };
        report(table, Phase::loading, 0, 0, 0, 0);
        ScanResult scanned;
        try {
            scanned = scan_url(table, options_.http, consumer);
        } catch (const Error& e) {
            if (!table.line || e.message().rfind("header: declared column", 0) != 0) throw;
            throw declaration_error(table, ErrorKind::usage, e.message().substr(8) + " " + shown);
        }
        check_primary_key_columns(table, scanned, shown);
        copy.commit(db_columns, names);  // the loading table exists from here on: drop it on any failure

        p.out.sha256 = scanned.sha256;
        p.out.rows = scanned.rows;
        p.out.file_bytes = scanned.file_bytes;
        try {
            std::string key = content_key(scanned.sha256, table);
            pg::AdvisoryLock content_lock(conn_, "stage:" + key, std::chrono::minutes(30));
            if (auto found = find_content(conn_, key)) {
                drop_quietly(loading);
                return reused(table, p.out, *found);
            }
            report(table, Phase::checking, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
            p.out.content_table = content_table_name(table, key);
            pqxx::work tx(conn_);
            std::string retype;
            for (std::size_t k = 0; k < scanned.columns.size(); ++k) {
                const Column& column = scanned.columns[k];
                if (column.declared || column.sql_type == "text") continue;
                std::string name = pg::quote_ident(db_columns[k]);
                retype += (retype.empty() ? "" : ", ") + ("ALTER COLUMN " + name + " TYPE " + column.sql_type +
                                                          " USING " + name + "::" + column.sql_type);
            }
            if (!retype.empty()) tx.exec0("ALTER TABLE " + qualified(loading) + " " + retype);  // one rewrite
            make_content_table(tx, table, scanned, key, loading, p.out.content_table, shown);
            tx.commit();
        } catch (...) {
            drop_quietly(loading);
            throw;
        }
        p.out.loaded = true;
        p.out.seconds = elapsed();
        report(table, Phase::loaded, scanned.data_bytes, scanned.data_bytes, scanned.rows, scanned.rows);
        return p.out;
    }

    void check_type_name(const TableDecl& table, const std::string& column, const std::string& type) const {
        // Declared types reach SQL text: only letters, digits, spaces, parentheses, commas and brackets.
        bool plain = !type.empty();
        for (char c : type) {
            plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == ' ' || c == '(' || c == ')' ||
                              c == ',' || c == '[' || c == ']' || c == '_');
        }
        if (!plain)
            throw declaration_error(table, ErrorKind::usage,
                                    "column " + column + ": declared type \"" + type + "\" is not a plain SQL type name");
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
        CopyOptions copy{.connections = options_.connections, .counters = &counters, .db_columns = db_columns,
                         .format = options_.copy_format, .opened_ahead = opened_ahead_};
        auto running = std::async(std::launch::async, [&] { copy_chunks(url_, table, scanned, target, copy); });
        while (running.wait_for(options_.progress_interval) != std::future_status::ready)
            report(table, Phase::loading, counters.bytes, scanned.data_bytes, counters.rows, scanned.rows);
        running.get();
    }

    // A loading table's name for a load whose content hash is not known yet.
    static std::string unique_loading_name(const std::string& name) {
        std::string salt = name + std::to_string(clock::now().time_since_epoch().count()) +
                           std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
        return pg::slug("loading_" + name + "_" + pg::sha256_hex(salt).substr(0, 12));
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
    CopyConnections* opened_ahead_;
    clock::time_point started_{};
};

// CREATE OR REPLACE keeps dependent views (dbt's staging views) when the columns only grow; otherwise the view
// must be dropped first, which takes dependent views with it: fine in a branch (dbt rebuilds them), refused in
// production.
void point_view(pqxx::work& tx, const Environment& env, const std::string& view, const std::string& content_table) {
    std::string view_sql = pg::quote_ident(env.raw_schema) + "." + view;
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
        tx.exec0("GRANT SELECT ON " + qualified(content_table) + " TO " + pg::quote_ident(env.owner_role));
        tx.exec0("ALTER VIEW " + view_sql + " OWNER TO " + pg::quote_ident(env.owner_role));
    }
}

// The raw schema, created owned by the environment's role. One of an environment that another role owns is refused
// (it would outlive `ece-env down`); one the admin made (staged before ece-env knew the environment) is handed over.
void ensure_raw_schema(pqxx::work& tx, const Environment& env) {
    std::string schema = pg::quote_ident(env.raw_schema);
    if (!env.owner_role.empty() &&
        tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", env.owner_role)[0].as<int>() == 0) {
        throw Error(ErrorKind::conflict,
                    "role " + env.owner_role + ", owner of " + env.name + "'s staged tables, does not exist" +
                        (env.production ? "; create it or run ece-env up once" : "; run ece-env up first"));
    }
    auto owner = tx.exec_params("SELECT pg_get_userbyid(nspowner), pg_get_userbyid(nspowner) = current_user "
                                "FROM pg_namespace WHERE nspname = $1",
                                env.raw_schema);
    if (owner.empty()) {
        tx.exec0("CREATE SCHEMA " + schema + (env.owner_role.empty() ? "" : " AUTHORIZATION " + pg::quote_ident(env.owner_role)));
        return;
    }
    std::string current = owner[0][0].as<std::string>();
    if (env.production || env.owner_role.empty() || current == env.owner_role) return;
    if (!owner[0][1].as<bool>()) {
        throw Error(ErrorKind::conflict, "schema " + env.raw_schema + " already exists and belongs to role " + current +
                                             "; environment " + env.name + " cannot stage into it");
    }
    tx.exec0("ALTER SCHEMA " + schema + " OWNER TO " + pg::quote_ident(env.owner_role));
}

void point_views(pqxx::connection& conn, const Environment& env, const std::vector<StagedTable>& staged) {
    pqxx::work tx(conn);
    // GRANTs on the shared content schema and tables: environments take turns (see pg::shared_privileges_lock).
    if (!env.owner_role.empty())
        pg::take_transaction_lock(tx, pg::shared_privileges_lock);
    ensure_raw_schema(tx, env);
    if (!env.owner_role.empty())
        tx.exec0("GRANT USAGE ON SCHEMA " + pg::quote_ident(content_schema) + " TO " + pg::quote_ident(env.owner_role));
    for (const auto& table : staged) {
        point_view(tx, env, pg::ident(table.name), table.content_table);
        tx.exec_params(
            "INSERT INTO ece.staged_usage (environment, table_name, schema_name, view_name, content_table) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (environment, table_name) DO UPDATE SET "
            "schema_name = excluded.schema_name, view_name = excluded.view_name, "
            "content_table = excluded.content_table, updated_at = now()",
            env.name, table.name, env.raw_schema, pg::slug(table.name), table.content_table);
    }
    tx.commit();
}

// gc drops the content tables no view points at. A staging holds this lock shared from before it loads until its
// views point at what it loaded, and gc holds it exclusively, so gc never drops a table a staging is about to use.
constexpr const char* gc_lock_name = "stage:gc";

class GcLock {
public:
    GcLock(pqxx::connection_base& conn, bool exclusive, std::chrono::milliseconds timeout = std::chrono::minutes(10))
        : conn_(conn), exclusive_(exclusive), key_(pg::AdvisoryLock::key_for(gc_lock_name)) {
        std::string attempt = exclusive ? "SELECT pg_try_advisory_lock($1)" : "SELECT pg_try_advisory_lock_shared($1)";
        auto deadline = clock::now() + timeout;
        while (!pqxx::nontransaction(conn_).exec_params1(attempt, key_)[0].as<bool>()) {
            if (clock::now() > deadline) {
                throw Error(ErrorKind::conflict, exclusive ? "a staging is in progress; run gc again when it is done"
                                                           : "ece-stage gc is running; try again when it is done");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
    ~GcLock() {
        try {
            pqxx::nontransaction(conn_).exec_params(
                exclusive_ ? "SELECT pg_advisory_unlock($1)" : "SELECT pg_advisory_unlock_shared($1)", key_);
        } catch (...) {
            // A lost connection has released it already.
        }
    }
    GcLock(const GcLock&) = delete;
    GcLock& operator=(const GcLock&) = delete;

private:
    pqxx::connection_base& conn_;
    bool exclusive_;
    std::int64_t key_;
};

// Loading tables of processes that died mid-load (kill -9, a lost machine): their names are not known ahead (a load
// may start before the file's hash is), so each staging drops the ones nobody holds before it loads.
void drop_abandoned_loading_tables(pqxx::connection_base& conn) {
    std::vector<std::string> loading;
    {
        pqxx::read_transaction tx(conn);
        for (const auto& r : tx.exec("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                     " WHERE n.nspname = 'ece_content' AND c.relkind = 'r'"
                                     " AND c.relname LIKE 'loading\\_%' AND NOT EXISTS"
                                     " (SELECT 1 FROM ece.staged_files f WHERE f.content_table = c.relname)")) {
            loading.push_back(r[0].as<std::string>());
        }
    }
    for (const auto& name : loading) {
        const auto key = loading_lock_key(name);
        if (!pqxx::nontransaction(conn).exec_params1("SELECT pg_try_advisory_lock($1)", key)[0].as<bool>()) continue;
        try {
            pqxx::work tx(conn);
            tx.exec0("DROP TABLE IF EXISTS " + qualified(name));
            tx.commit();
        } catch (const pqxx::sql_error&) {
            // Left for gc.
        }
        pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)", key);
    }
}

}  // namespace

void migrate_catalog(pqxx::connection_base& conn) { catalog::migrate(conn, "stage", stage_migrations); }

std::vector<StagedTable> stage_tables(const std::string& url, const Environment& env,
                                      const std::vector<TableDecl>& tables, const StageOptions& options) {
    std::map<std::string, int> seen;
    for (const auto& t : tables)
        if (seen[t.name]++) throw Error(ErrorKind::usage, "table \"" + t.name + "\" is given twice");
    auto conn = pg::connect(url, "stage");
    // Opened while the catalog is read and the first block scanned (after the catalog's connection, which comes
    // first); unused when every file is staged already.
    std::optional<CopyConnections> opened_ahead;
    if (std::any_of(tables.begin(), tables.end(), [](const TableDecl& t) { return !is_url(t.source); }))
        opened_ahead.emplace(url, std::max(1u, options.connections));
    try {
        migrate_catalog(conn);
        pg::AdvisoryLock env_lock(conn, "env:" + env.name);
        GcLock no_gc_meanwhile(conn, /*exclusive=*/false);
        drop_abandoned_loading_tables(conn);
        Stager stager(url, conn, options, opened_ahead ? &*opened_ahead : nullptr);
        auto for_table = [](const TableDecl& table, auto&& step) {
            try {
                return step();
            } catch (const Error&) {
                throw;
            } catch (const std::exception& e) {
                throw pg::translate(e, "staging " + table.name + " from " + table.source);
            }
        };
        std::vector<Stager::Prepared> prepared;
        std::vector<StagedTable> staged;
        try {
            for (const auto& table : tables) prepared.push_back(for_table(table, [&] { return stager.prepare(table); }));
            for (auto& p : prepared) staged.push_back(for_table(*p.table, [&] { return stager.finish(p); }));
        } catch (...) {
            for (auto& p : prepared) stager.discard(p);  // rows loaded while scanning tables not finished
            throw;
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
    GcLock no_staging_meanwhile(conn, /*exclusive=*/true);
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

Environment branch_environment(env::Environments& environments, std::string_view branch, std::optional<int> pr) {
    auto id = environments.identify(branch, pr);
    auto record = environments.find(id);
    if (!record || record->status != env::Status::ready) {
        std::string up = "ece-env up --branch " + std::string(branch) + (pr ? " --pr " + std::to_string(*pr) : "");
        throw Error(ErrorKind::conflict, "environment " + id.name + " is not up (" +
                                             (record ? env::to_string(record->status) : std::string("never created")) +
                                             "); run " + up + " first");
    }
    return Environment{.name = record->name, .raw_schema = record->base_schema + "_raw", .owner_role = record->role_name};
}

Environment production_environment(const config::Config& config) {
    return Environment{.name = "production", .raw_schema = config.production.raw_schema,
                       .owner_role = config.production.role, .production = true};
}

}  // namespace ece::stage
