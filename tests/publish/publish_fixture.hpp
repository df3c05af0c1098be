#pragma once
// A production schema and an environment schema set up with plain SQL in a fresh database, for publish tests.
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "publish/publish.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace ece::test {

// The query for the relations a view reads (pg_depend): one text, "schema.name, ..." sorted. view: a test's own name.
inline std::string view_reads_query(const std::string& view) {
    return "SELECT string_agg(DISTINCT n.nspname || '.' || c.relname, ', ') FROM pg_rewrite r "
           "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
           " AND d.refclassid = 'pg_class'::regclass "
           "JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace "
           "WHERE r.ev_class = '" + view + "'::regclass AND c.oid <> r.ev_class";
}

class PublishTest : public ::testing::Test {
protected:
    std::string url = fresh_database("publish");
    pqxx::connection conn = pg::connect(url, "publish test");
    std::string prod_role = unique_name("prod");
    std::string reader = unique_name("reader");
    std::string env_role = unique_name("env");
    std::string prod = "analytics";
    std::string env = "ece_pr_1";

    void SetUp() override {
        sql("CREATE ROLE " + q(prod_role) + " NOLOGIN; CREATE ROLE " + q(reader) + " NOLOGIN; CREATE ROLE " +
            q(env_role) + " NOLOGIN");
    }

    static std::string q(const std::string& name) { return pg::quote_ident(name); }
    std::string at(const std::string& schema, const std::string& name) const { return q(schema) + "." + q(name); }

    void sql(const std::string& text) { ece::test::execute(conn, text); }
    std::string scalar(const std::string& text) { return ece::test::scalar(conn, text); }
    long count(const std::string& schema, const std::string& name) {
        return std::stol(scalar("SELECT count(*) FROM " + at(schema, name)));
    }
    bool exists(const std::string& schema, const std::string& name) {
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname = $1 AND c.relname = $2",
                               schema, name)[0]
                   .as<int>() == 1;
    }
    bool schema_exists(const std::string& schema) {
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema)[0].as<int>() == 1;
    }
    std::string oid_of(const std::string& schema, const std::string& name) {
        pqxx::nontransaction tx(conn);
        auto rows = tx.exec_params("SELECT c.oid::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname = $1 AND c.relname = $2",
                                   schema, name);
        return rows.empty() ? "" : rows[0][0].as<std::string>();
    }
    std::string owner_of(const std::string& schema, const std::string& name) {
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                               schema, name)[0]
            .as<std::string>();
    }
    bool can_select(const std::string& role, const std::string& schema, const std::string& name) {
        pqxx::nontransaction tx(conn);
        return tx.exec_params1("SELECT has_table_privilege($1, $2::regclass, 'SELECT')", role, at(schema, name))[0]
            .as<bool>();
    }
    // Every relation in the given schemas: (schema, name, oid, owner, acl), to compare before and after.
    std::vector<std::tuple<std::string, std::string, std::string, std::string, std::string>> snapshot(
        const std::vector<std::string>& schemas) {
        std::vector<std::tuple<std::string, std::string, std::string, std::string, std::string>> out;
        pqxx::nontransaction tx(conn);
        for (const auto& schema : schemas) {
            for (const auto& row : tx.exec_params(
                     "SELECT n.nspname, c.relname, c.oid::text, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '') "
                     "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
                     "ORDER BY c.relname",
                     schema)) {
                out.emplace_back(row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                                 row[3].as<std::string>(), row[4].as<std::string>());
            }
        }
        return out;
    }
    std::string reads_of(const std::string& view) { return scalar(view_reads_query(view)); }
    int archive_schema_count() {
        return std::stoi(scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ece\\_archive\\_%'"));
    }

    // Production: orders (rows), customers (rows / 2), view order_count over orders; owned by prod_role, readable
    // by reader.
    void make_production(long rows = 100) {
        sql("CREATE SCHEMA IF NOT EXISTS " + q(prod));
        make_set(prod, rows, prod_role);
        sql("GRANT USAGE ON SCHEMA " + q(prod) + " TO " + q(reader));
        sql("GRANT SELECT ON ALL TABLES IN SCHEMA " + q(prod) + " TO " + q(reader));
    }
    // The environment's build of the same three relations, owned by env_role.
    void make_environment(long rows = 200) {
        sql("CREATE SCHEMA IF NOT EXISTS " + q(env));
        make_set(env, rows, env_role);
    }
    void make_set(const std::string& schema, long rows, const std::string& owner) {
        sql("CREATE TABLE " + at(schema, "orders") + " AS SELECT g AS id, g % 7 AS customer_id FROM generate_series(1, " +
            std::to_string(rows) + ") g");
        sql("CREATE TABLE " + at(schema, "customers") + " AS SELECT g AS id FROM generate_series(1, " +
            std::to_string(rows / 2) + ") g");
        sql("ALTER TABLE " + at(schema, "customers") + " ADD PRIMARY KEY (id)");
        sql("CREATE VIEW " + at(schema, "order_count") + " AS SELECT count(*) AS n FROM " + at(schema, "orders"));
        for (const auto* name : {"orders", "customers"}) sql("ALTER TABLE " + at(schema, name) + " OWNER TO " + q(owner));
        sql("ALTER VIEW " + at(schema, "order_count") + " OWNER TO " + q(owner));
    }

    publish::PublishInput input() {
        publish::PublishInput in;
        in.environment = "pr-1";
        in.pr = 1;
        in.sha = "abc123";
        in.production_role = prod_role;
        in.relations = {
            {env, "orders", publish::RelationKind::table, prod, "model.shop.orders", "c-orders"},
            {env, "customers", publish::RelationKind::table, prod, "model.shop.customers", "c-customers"},
            {env, "order_count", publish::RelationKind::view, prod, "model.shop.order_count", "c-order_count"},
        };
        return in;
    }
    publish::Options options() {
        publish::Options o;
        o.lock_timeout = std::chrono::milliseconds(500);
        o.lock_retries = 3;
        o.retry_pause = std::chrono::milliseconds(20);
        return o;
    }
};

}  // namespace ece::test
