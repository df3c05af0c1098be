// bench_diff: the data diff of a model of N rows with 1 % of them changed, against the SQL a person would write
// (EXCEPT ALL both ways, plus a join counting changed values per column) and one sequential scan of both tables.
//
//   bench_diff --database-url URL --rows 1000000 [--keep]
//
// Each contender runs on a fresh connection; its time is wall time, its peak memory the server backend's VmHWM
// (/proc/<pid>/status: the server must run on this machine) and the bytes it spilled to temporary files.
#include "diff/diff.hpp"
#include "pg/connect.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

struct Measured {
    double seconds = 0;
    long peak_kib = 0;
    long long temp_bytes = 0;
};

long backend_peak_kib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return -1;
}

long long temp_bytes(pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")[0].as<long long>();
}

Measured measure(const std::string& url, const std::function<void(pqxx::connection&)>& body) {
    pqxx::connection conn(url);
    int pid = 0;
    {
        pqxx::nontransaction tx(conn);
        pid = tx.exec1("SELECT pg_backend_pid()")[0].as<int>();
        tx.exec("SELECT pg_stat_clear_snapshot()");
    }
    pqxx::connection stats(url);
    auto temp_before = temp_bytes(stats);
    auto start = Clock::now();
    body(conn);
    Measured m;
    m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    m.peak_kib = backend_peak_kib(pid);
    // Statistics reach pg_stat_database when the backend reports them: at the latest when it closes.
    conn.disconnect();
    for (int i = 0; i < 20; ++i) {
        pqxx::connection again(url);
        auto after = temp_bytes(again);
        if (after != temp_before || i == 19) {
            m.temp_bytes = after - temp_before;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return m;
}

void exec(pqxx::connection& conn, const std::string& sql) {
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
}

void report(const std::string& what, const Measured& m, double scan_seconds) {
    std::printf("%-44s %8.2f s  %5.2fx scan  peak %7.1f MiB  temp %7.1f MiB\n", what.c_str(), m.seconds,
                m.seconds / scan_seconds, m.peak_kib / 1024.0, m.temp_bytes / 1048576.0);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string url = std::getenv("ECE_DATABASE_URL") ? std::getenv("ECE_DATABASE_URL") : "";
    long rows = 1'000'000;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--database-url" && i + 1 < argc) url = argv[++i];
        else if (a == "--rows" && i + 1 < argc) rows = std::atol(argv[++i]);
        else if (a == "--keep") keep = true;
        else {
            std::cerr << "usage: bench_diff --database-url URL [--rows N] [--keep]\n";
            return 2;
        }
    }
    if (url.empty()) {
        std::cerr << "bench_diff: --database-url or ECE_DATABASE_URL is needed\n";
        return 2;
    }
    const std::string n = std::to_string(rows);
    const std::string role = "bench_diff_env";
    {
        pqxx::connection conn(url);
        auto start = Clock::now();
        exec(conn, "DROP SCHEMA IF EXISTS bench_prod CASCADE; DROP SCHEMA IF EXISTS bench_env CASCADE");
        exec(conn, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '" + role + "') THEN CREATE ROLE " +
                       role + "; END IF; END $$");
        exec(conn, "CREATE SCHEMA bench_prod; CREATE SCHEMA bench_env AUTHORIZATION " + role +
                       "; GRANT USAGE ON SCHEMA bench_prod TO " + role);
        // A typical fact table: key, foreign key, amount, status, timestamp, a nullable note.
        exec(conn, "CREATE TABLE bench_prod.orders AS SELECT i::bigint AS id, (i % 50000)::int AS customer_id, "
                   "round((i % 9973) * 1.37, 2)::numeric(12,2) AS amount, "
                   "(ARRAY['new','paid','shipped','returned'])[1 + i % 4] AS status, "
                   "timestamp '2024-01-01' + i * interval '1 second' AS created_at, "
                   "CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || (i % 1000) END AS note "
                   "FROM generate_series(1, " + n + ") i");
        exec(conn, "ALTER TABLE bench_prod.orders ADD PRIMARY KEY (id); GRANT SELECT ON bench_prod.orders TO " + role);
        // The environment: a copy with 1 % of the rows changed: 0.8 % updated (amount or note), 0.1 % deleted,
        // 0.1 % inserted.
        exec(conn, "CREATE TABLE bench_env.orders AS SELECT * FROM bench_prod.orders WHERE id % 1000 <> 7");
        exec(conn, "UPDATE bench_env.orders SET amount = amount + 1 WHERE id % 250 = 3");
        exec(conn, "UPDATE bench_env.orders SET note = coalesce(note, '') || ' changed' WHERE id % 250 = 5");
        exec(conn, "INSERT INTO bench_env.orders SELECT id + " + n + ", customer_id, amount, status, created_at, note "
                   "FROM bench_prod.orders WHERE id % 1000 = 11");
        exec(conn, "ALTER TABLE bench_env.orders ADD PRIMARY KEY (id); ALTER TABLE bench_env.orders OWNER TO " + role);
        exec(conn, "VACUUM ANALYZE bench_prod.orders");
        exec(conn, "VACUUM ANALYZE bench_env.orders");
        // Both tables in the cache before anything is timed (each contender then reads them the same way).
        exec(conn, "SELECT count(*) FROM bench_prod.orders; SELECT count(*) FROM bench_env.orders");
        pqxx::nontransaction tx(conn);
        auto sizes = tx.exec1("SELECT pg_size_pretty(pg_relation_size('bench_prod.orders')), "
                              "pg_size_pretty(pg_relation_size('bench_env.orders')), current_setting('work_mem'), "
                              "current_setting('shared_buffers'), current_setting('max_parallel_workers_per_gather')");
        std::printf("rows %s: tables %s + %s, made in %.1f s; server work_mem %s, shared_buffers %s, "
                    "parallel workers per gather %s\n",
                    n.c_str(), sizes[0].c_str(), sizes[1].c_str(),
                    std::chrono::duration<double>(Clock::now() - start).count(), sizes[2].c_str(), sizes[3].c_str(),
                    sizes[4].c_str());
    }

    // One sequential scan of both tables, reading every column (the least any exact diff must do).
    auto scan = measure(url, [&](pqxx::connection& conn) {
        pqxx::nontransaction tx(conn);
        tx.exec("SET max_parallel_workers_per_gather = 0");
        tx.exec("SELECT count(note), count(created_at) FROM bench_prod.orders");
        tx.exec("SELECT count(note), count(created_at) FROM bench_env.orders");
    });
    report("one sequential scan of both tables", scan, scan.seconds);

    // What a person would write: EXCEPT ALL both ways, and a join counting changed values per column.
    auto plain = measure(url, [&](pqxx::connection& conn) {
        pqxx::nontransaction tx(conn);
        tx.exec("SET work_mem = '256MB'");
        tx.exec("SELECT count(*) FROM (SELECT * FROM bench_prod.orders EXCEPT ALL SELECT * FROM bench_env.orders) x");
        tx.exec("SELECT count(*) FROM (SELECT * FROM bench_env.orders EXCEPT ALL SELECT * FROM bench_prod.orders) x");
        tx.exec("SELECT count(*) FILTER (WHERE p.customer_id IS DISTINCT FROM e.customer_id), "
                "count(*) FILTER (WHERE p.amount IS DISTINCT FROM e.amount), "
                "count(*) FILTER (WHERE p.status IS DISTINCT FROM e.status), "
                "count(*) FILTER (WHERE p.created_at IS DISTINCT FROM e.created_at), "
                "count(*) FILTER (WHERE p.note IS DISTINCT FROM e.note) "
                "FROM bench_prod.orders p JOIN bench_env.orders e USING (id)");
    });
    report("plain SQL (EXCEPT ALL both ways + join)", plain, scan.seconds);

    ece::diff::ModelDiff result;
    auto ece_diff = measure(url, [&](pqxx::connection& conn) {
        ece::diff::ModelSpec spec;
        spec.model = "model.bench.orders";
        spec.environment = {"bench_env", "orders"};
        spec.production = ece::diff::Relation{"bench_prod", "orders"};
        spec.key = {{"id"}, "primary_key constraint"};
        ece::diff::Settings settings;
        settings.role = role;
        settings.model_budget = settings.budget = std::chrono::hours(1);
        result = ece::diff::diff_model(conn, spec, settings, std::chrono::hours(1));
    });
    report("ece diff (exact, examples, distinct counts)", ece_diff, scan.seconds);
    std::printf("ece diff found: %lld only in production, %lld only in the environment, %lld changed, %lld unchanged "
                "(method %s)\n",
                static_cast<long long>(result.only_production), static_cast<long long>(result.only_environment),
                static_cast<long long>(result.changed), static_cast<long long>(result.unchanged),
                std::string(ece::diff::method_name(result.method)).c_str());
    for (const auto& c : result.columns) {
        if (c.changed) std::printf("  %s: %lld changed\n", c.name.c_str(), static_cast<long long>(c.changed));
    }
    const long expected_deleted = rows / 1000 + (rows % 1000 >= 7 ? 1 : 0);
    const bool right = result.only_production == expected_deleted && result.method == ece::diff::Method::by_key;
    std::printf("check: %s\n", right ? "ok" : "WRONG");
    if (!keep) {
        pqxx::connection conn(url);
        exec(conn, "DROP SCHEMA bench_prod CASCADE; DROP SCHEMA bench_env CASCADE; DROP ROLE " + role);
    }
    return right ? 0 : 1;
}
