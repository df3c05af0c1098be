#include "catalog/migrate.hpp"

#include "core/error.hpp"
#include "pg/connect.hpp"
#include "pg/lock.hpp"

#include <chrono>
#include <set>

namespace ece::catalog {
namespace {

constexpr const char* lock_name = "ece:catalog-migrations";

void check_list(std::string_view area, const std::vector<Migration>& migrations) {
    if (area.empty()) throw Error(ErrorKind::internal, "catalog migrations need an area name");
    int previous = 0;
    for (const auto& m : migrations) {
        if (m.version <= previous || m.name.empty() || m.sql.empty()) {
            throw Error(ErrorKind::internal, "catalog migrations of " + std::string(area) +
                                                 " must have increasing versions from 1, names and SQL (at version " +
                                                 std::to_string(m.version) + ")");
        }
        previous = m.version;
    }
}

int applied_max(pqxx::transaction_base& tx, std::string_view area) {
    if (!has_table(tx, "ece.migrations")) return 0;
    return tx.exec_params1("SELECT coalesce(max(version), 0) FROM ece.migrations WHERE area = $1",
                           std::string(area))[0]
        .as<int>();
}

void refuse_newer_database(std::string_view area, int applied, const std::vector<Migration>& migrations) {
    int known = migrations.empty() ? 0 : migrations.back().version;
    if (applied > known) {
        throw Error(ErrorKind::conflict, "the catalog holds " + std::string(area) + " migration v" +
                                             std::to_string(applied) + ", newer than this ece knows (v" +
                                             std::to_string(known) + "); use a newer ece");
    }
}

void create_catalog(pqxx::connection_base& conn) {
    pqxx::work tx(conn, "catalog setup");
    tx.exec("CREATE SCHEMA IF NOT EXISTS ece");
    tx.exec("CREATE TABLE IF NOT EXISTS ece.migrations ("
            " area text NOT NULL,"
            " version integer NOT NULL,"
            " name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (area, version))");
    tx.commit();
}

std::set<int> applied_versions(pqxx::connection_base& conn, std::string_view area) {
    pqxx::nontransaction tx(conn, "catalog versions");
    std::set<int> versions;
    for (const auto& row : tx.exec_params("SELECT version FROM ece.migrations WHERE area = $1", std::string(area))) {
        versions.insert(row[0].as<int>());
    }
    return versions;
}

void apply(pqxx::connection_base& conn, std::string_view area, const Migration& m) {
    try {
        pqxx::work tx(conn, "catalog migration");
        tx.exec(m.sql);
        tx.exec_params("INSERT INTO ece.migrations (area, version, name) VALUES ($1, $2, $3)", std::string(area),
                       m.version, m.name);
        tx.commit();
    } catch (const std::exception& e) {
        auto error = pg::translate(e, "catalog migration " + std::string(area) + " v" + std::to_string(m.version) +
                                          " (" + m.name + ") failed");
        throw Error(error.kind(), error.message(), ErrorLocation{.field = std::string(area) + " v" + std::to_string(m.version)});
    }
}

}  // namespace

bool has_table(pqxx::transaction_base& tx, std::string_view table) {
    return tx.exec_params1("SELECT pg_catalog.to_regclass($1) IS NOT NULL", std::string(table))[0].as<bool>();
}

bool has_table(pqxx::connection_base& conn, std::string_view table) {
    pqxx::read_transaction tx(conn, "catalog check");
    return has_table(tx, table);
}

int current_version(pqxx::connection_base& conn, std::string_view area) {
    try {
        pqxx::read_transaction tx(conn, "catalog version");
        return applied_max(tx, area);
    } catch (const std::exception& e) {
        throw pg::translate(e, "reading the catalog version of " + std::string(area));
    }
}

void migrate(pqxx::connection_base& conn, std::string_view area, const std::vector<Migration>& migrations) {
    check_list(area, migrations);
    const int latest = migrations.empty() ? 0 : migrations.back().version;
    int applied = current_version(conn, area);
    refuse_newer_database(area, applied, migrations);
    if (applied == latest && latest > 0) return;  // the common case: nothing to do, no lock taken

    pg::AdvisoryLock lock(conn, lock_name, std::chrono::minutes(5));
    try {
        create_catalog(conn);
    } catch (const std::exception& e) {
        throw pg::translate(e, "creating the ece catalog schema");
    }
    std::set<int> done;
    try {
        done = applied_versions(conn, area);
    } catch (const std::exception& e) {
        throw pg::translate(e, "reading the catalog migrations of " + std::string(area));
    }
    if (!done.empty()) refuse_newer_database(area, *done.rbegin(), migrations);
    for (const auto& m : migrations) {
        if (!done.count(m.version)) apply(conn, area, m);
    }
}

}  // namespace ece::catalog
