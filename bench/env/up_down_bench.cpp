// ece-env up (new and existing) and down of an environment holding 100 relations, on an embedded server.
// Each measured call uses a fresh Environments (a new admin connection and the catalog check), as one ece-env
// process does. Usage: bench_env [runs=20] [server dir=/tmp/ece-bench-env]
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "pg/ident.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

using namespace ece;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int relations = 100;

double seconds_of(const std::function<void()>& body) {
    auto start = Clock::now();
    body();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void report(const char* what, std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    const auto n = samples.size();
    const double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    std::printf("%-28s median %7.1f ms   min %7.1f ms   max %7.1f ms   (n=%zu)\n", what, median * 1000,
                samples.front() * 1000, samples.back() * 1000, n);
}

void exec_as(const std::string& url, const std::string& sql) {
    auto conn = pg::connect(url, "bench");
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
}

// 100 relations: 60 tables with 100 rows and a primary key each, 40 views on them.
std::string hundred_relations(const std::string& schema) {
    std::string sql;
    const std::string s = pg::quote_ident(schema);
    for (int i = 0; i < relations * 6 / 10; ++i) {
        sql += "CREATE TABLE " + s + ".t" + std::to_string(i) +
               " (id int PRIMARY KEY, v text); INSERT INTO " + s + ".t" + std::to_string(i) +
               " SELECT g, md5(g::text) FROM generate_series(1, 100) g;";
    }
    for (int i = 0; i < relations * 4 / 10; ++i) {
        sql += "CREATE VIEW " + s + ".v" + std::to_string(i) + " AS SELECT * FROM " + s + ".t" + std::to_string(i) + ";";
    }
    return sql;
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::stoi(argv[1]) : 20;
    const std::string dir = argc > 2 ? argv[2] : "/tmp/ece-bench-env";
    auto server = pg::ensure_embedded(dir);  // durable, as ece's default embedded server
    std::printf("embedded server in %s (port %d)\n", dir.c_str(), server.port);

    env::Settings settings;
    settings.admin_url = server.admin_url;
    settings.embedded = true;
    settings.config.environments.prefix = "bench_";
    // Production as large as the environment: up checks its grants every time.
    env::Environments(settings).up({"warm-up", std::nullopt, "", std::nullopt});
    exec_as(server.admin_url, "SET ROLE ece_production; DROP SCHEMA IF EXISTS analytics CASCADE; CREATE SCHEMA analytics;" +
                                  hundred_relations("analytics"));
    env::Environments(settings).down(env::Environments(settings).identify("warm-up", std::nullopt));

    std::vector<double> up_new, up_existing, down;
    for (int i = 0; i < runs; ++i) {
        const std::string branch = "bench/run-" + std::to_string(i);
        env::UpResult result;
        up_new.push_back(seconds_of([&] { result = env::Environments(settings).up({branch, std::nullopt, "", std::nullopt}); }));
        exec_as(result.credentials.url(), hundred_relations(result.credentials.schema));
        up_existing.push_back(seconds_of([&] { env::Environments(settings).up({branch, std::nullopt, "", std::nullopt}); }));
        down.push_back(seconds_of([&] {
            env::Environments envs(settings);
            envs.down(envs.identify(branch, std::nullopt));
        }));
    }
    std::printf("environment with %d relations (60 tables x 100 rows with primary keys, 40 views); production %d\n",
                relations, relations);
    report("up (new)", up_new);
    report("up (existing, 100 rel.)", up_existing);
    report("down (100 relations)", down);
    pg::destroy_embedded(dir);
    return 0;
}
