// Publish time (one-transaction swap) against rebuilding the same tables with CREATE TABLE AS in production, on the
// embedded server in a temporary directory. Prints a Markdown table. Not part of CTest: see README.md.
//   bench_publish [--quick]    (--quick: small cases only, for trying it out)
#include "core/error.hpp"
#include "core/main.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "pg/ident.hpp"
#include "publish/publish.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Case {
    int relations;
    long rows;
};

struct Measured {
    Case c;
    double prepare_s = 0;
    long publish_swap_ms = 0;
    long publish_total_ms = 0;
    long rollback_total_ms = 0;
    double rebuild_s = 0;
    std::string size;
};

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void exec(pqxx::connection_base& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
}

std::string table(int i) { return "t_" + std::to_string(i); }

Measured run_case(const std::string& admin_url, const Case& c, int index) {
    Measured m;
    m.c = c;
    auto db = "bench_publish_" + std::to_string(index);
    {
        auto admin = ece::pg::connect(admin_url, "bench setup");
        exec(admin, "DROP DATABASE IF EXISTS " + ece::pg::quote_ident(db));
        exec(admin, "CREATE DATABASE " + ece::pg::quote_ident(db));
    }
    auto url = ece::pg::with_database(admin_url, db);
    auto owned = ece::pg::connect_owned(url, "bench");
    auto& conn = *owned;
    auto started = Clock::now();
    exec(conn, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_prod') THEN "
               "CREATE ROLE bench_prod NOLOGIN; CREATE ROLE bench_reader NOLOGIN; END IF; END $$");
    exec(conn, "CREATE SCHEMA analytics; CREATE SCHEMA ece_pr_1; GRANT USAGE ON SCHEMA analytics TO bench_reader");
    exec(conn, "CREATE TABLE public.src AS SELECT g AS id, g % 1000 AS customer_id, (g * 7) % 10000 AS amount, "
               "md5(g::text) AS note FROM generate_series(1, " + std::to_string(c.rows) + ") g");
    for (int i = 0; i < c.relations; ++i) {
        // The environment's build: c.rows rows. Production's old version: 1,000 rows (its size does not matter
        // to the swap either, and keeps the preparation affordable).
        exec(conn, "CREATE TABLE ece_pr_1." + table(i) + " AS SELECT * FROM public.src");
        exec(conn, "CREATE TABLE analytics." + table(i) + " AS SELECT * FROM public.src LIMIT 1000; "
                   "ALTER TABLE analytics." + table(i) + " OWNER TO bench_prod; "
                   "GRANT SELECT ON analytics." + table(i) + " TO bench_reader");
    }
    exec(conn, "VACUUM ANALYZE");
    m.prepare_s = seconds_since(started);
    {
        pqxx::nontransaction tx(conn);
        m.size = tx.exec1("SELECT pg_size_pretty(pg_database_size(current_database()))")[0].as<std::string>();
    }

    ece::publish::PublishInput input;
    input.environment = "bench";
    input.production_role = "bench_prod";
    for (int i = 0; i < c.relations; ++i) {
        input.relations.push_back({"ece_pr_1", table(i), ece::publish::RelationKind::table, "analytics",
                                   "model.bench." + table(i), "x"});
    }
    ece::publish::Options options;
    auto t = Clock::now();
    auto published = ece::publish::publish(conn, input, options);
    m.publish_total_ms = static_cast<long>(seconds_since(t) * 1000);
    m.publish_swap_ms = published.swap_duration.count();
    t = Clock::now();
    ece::publish::rollback(conn, published.id, options);
    m.rollback_total_ms = static_cast<long>(seconds_since(t) * 1000);

    // What publishing saves: building the same tables again in production (dbt's table materialization).
    t = Clock::now();
    for (int i = 0; i < c.relations; ++i) {
        exec(conn, "CREATE TABLE analytics." + table(i) + "_rebuilt AS SELECT * FROM public.src");
    }
    m.rebuild_s = seconds_since(t);

    owned.reset();
    auto admin = ece::pg::connect(admin_url, "bench cleanup");
    exec(admin, "DROP DATABASE " + ece::pg::quote_ident(db));
    return m;
}

}  // namespace

int main(int argc, char** argv) {
    return ece::guarded_main("bench_publish", [&] {
        bool quick = argc > 1 && std::string(argv[1]) == "--quick";
        std::vector<Case> cases = quick ? std::vector<Case>{{10, 10'000}, {100, 10'000}}
                                        : std::vector<Case>{{10, 10'000}, {10, 1'000'000}, {100, 1'000'000},
                                                            {1000, 100'000}};
        auto dir = fs::temp_directory_path() / ("ece-bench-publish-" + std::to_string(::getpid()));
        ece::pg::EmbeddedOptions server_options;
        server_options.durable = false;
        auto server = ece::pg::ensure_embedded(dir, server_options);
        std::vector<Measured> results;
        try {
            for (std::size_t i = 0; i < cases.size(); ++i) {
                std::cerr << "case " << cases[i].relations << " x " << cases[i].rows << " rows..." << std::endl;
                results.push_back(run_case(server.admin_url, cases[i], static_cast<int>(i)));
                const auto& m = results.back();
                std::cerr << "  prepared in " << m.prepare_s << " s, publish " << m.publish_total_ms << " ms" << std::endl;
            }
        } catch (...) {
            ece::pg::destroy_embedded(dir);
            throw;
        }
        ece::pg::destroy_embedded(dir);
        std::cout << "| relations | rows each | database size | publish (swap transaction) | publish (total) | "
                     "rollback (total) | rebuild with CREATE TABLE AS | preparation |\n"
                  << "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
        for (const auto& m : results) {
            std::cout << "| " << m.c.relations << " | " << m.c.rows << " | " << m.size << " | " << m.publish_swap_ms
                      << " ms | " << m.publish_total_ms << " ms | " << m.rollback_total_ms << " ms | " << std::fixed
                      << std::setprecision(1) << m.rebuild_s << " s | " << m.prepare_s << " s |\n";
        }
        return 0;
    });
}
