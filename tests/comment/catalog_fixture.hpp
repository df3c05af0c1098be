#pragma once
// A real catalog for the comment's tests: a fresh database with production tables, an environment made by lib/env
// (ece-env up's code), tables built in it as dbt would, and a build recorded through lib/dbt's catalog functions
// with the base scenario's run_results.json (one model turned into an error).
#include "config/config.hpp"
#include "dbt/catalog.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace ece::comment::testing_support {

inline std::string unique_prefix() {
    std::string prefix = test::unique_name("c");
    prefix.resize(std::min(prefix.size(), env::max_prefix_bytes - 1));
    return prefix + "_";
}

// The base scenario's run results with distinct_patients failed.
inline std::string run_results_with_one_error() {
    auto value = boost::json::parse(test::read_file(test::fixture("dbt/scenarios/base/run_results.json")));
    for (auto& r : value.at("results").as_array()) {
        if (r.at("unique_id").as_string() == "model.ece_demo.distinct_patients") {
            r.as_object()["status"] = "error";
            r.as_object()["message"] = "Database Error in model distinct_patients: division by zero";
        }
    }
    return boost::json::serialize(value);
}

class CatalogTest : public ::testing::Test {
protected:
    CatalogTest() : url(test::fresh_database("comment")) {
        config.environments.prefix = unique_prefix();
        config.production.role = test::unique_name("prod");
        config.production.schemas = {"analytics"};
        config.cost.shared_server_usd_per_gb_month = 0.25;
    }

    env::Settings settings() const { return env::Settings{url, config, /*embedded=*/true, std::chrono::seconds(60)}; }

    void admin_exec(const std::string& sql) const {
        auto conn = pg::connect(url, "test admin");
        pqxx::nontransaction tx(conn);
        tx.exec(sql);
    }

    // Brings up pr-12 (branch feature/data), builds tables in it and in production, records a failed build.
    env::UpResult make_environment_with_build() {
        auto up = env::Environments(settings()).up({"feature/data", 12, "1111111111111111111111111111111111111111",
                                                    std::chrono::hours(72)});
        base = up.record.base_schema;
        auto b = pg::quote_ident(base);
        auto staging = pg::quote_ident(base + "_staging");
        admin_exec(
            "CREATE SCHEMA IF NOT EXISTS analytics; CREATE SCHEMA IF NOT EXISTS analytics_staging;"
            "CREATE TABLE analytics.distinct_patients (patid int, name text, city text);"
            "INSERT INTO analytics.distinct_patients SELECT g, 'p' || g, 'c' FROM generate_series(1, 5) g;"
            "CREATE TABLE analytics.patients_by_sex (sex text, n bigint);"
            "INSERT INTO analytics.patients_by_sex VALUES ('F', 3), ('M', 2);"
            "CREATE TABLE analytics_staging.stg_patients (patid int);"
            "INSERT INTO analytics_staging.stg_patients SELECT generate_series(1, 300);"
            "ANALYZE analytics_staging.stg_patients;");
        // Production is readable by the environment (the comment counts its rows as the environment's role), and
        // ece makes the environment's custom schemas.
        const auto role = pg::quote_ident(up.record.role_name);
        admin_exec("GRANT USAGE ON SCHEMA analytics, analytics_staging TO " + role +
                   "; GRANT SELECT ON ALL TABLES IN SCHEMA analytics, analytics_staging TO " + role +
                   "; CREATE SCHEMA " + staging + " AUTHORIZATION " + role);
        // The environment's tables are its role's, as dbt running as the environment makes them.
        auto as_env = pg::connect(up.credentials.url(), "test as environment");
        pqxx::nontransaction tx(as_env);
        tx.exec(
            "CREATE TABLE " + b + ".distinct_patients (patid int, name varchar(40), email text);"
            "INSERT INTO " + b + ".distinct_patients SELECT g, 'p' || g, 'e' FROM generate_series(1, 7) g;"
            "CREATE TABLE " + b + ".patients_by_sex (sex text, n bigint);"
            "INSERT INTO " + b + ".patients_by_sex VALUES ('F', 4), ('M', 3);"
            "CREATE TABLE " + b + ".female_patients (patid int);"
            "INSERT INTO " + b + ".female_patients SELECT generate_series(1, 2);"
            "CREATE TABLE " + staging + ".stg_patients (patid int);"
            "INSERT INTO " + staging + ".stg_patients SELECT generate_series(1, 400);"
            "ANALYZE " + staging + ".stg_patients;");
        auto conn = pg::connect(url, "test dbt catalog");
        auto node = [&](const std::string& id, const std::string& schema, const std::string& materialized) {
            return dbt::BuiltNode{"", id, id.substr(0, id.find('.')), "c", schema, id.substr(id.rfind('.') + 1),
                                  materialized, 0, ""};
        };
        build_id = dbt::record_build(
            conn, {"pr-12", "2222222222222222222222222222222222222222", "state:modified+",
                   test::read_file(std::string(ECE_SOURCE_DIR) + "/tests/comment/fixtures/dbt_plan.json")},
            {dbt::build_status::failed, 1, run_results_with_one_error(), "1 of 20 nodes failed",
             {node("model.ece_demo.distinct_patients", base, "table"),
              node("model.ece_demo.patients_by_sex", base, "table"),
              node("model.ece_demo.female_patients", base, "table"),
              node("model.ece_demo.stg_patients", base + "_staging", "table"),
              node("model.ece_demo.helper", base, "ephemeral")}});
        return up;
    }

    std::string url;
    config::Config config;
    std::string base;
    std::int64_t build_id = 0;
};

}  // namespace ece::comment::testing_support
