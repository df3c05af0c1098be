// Load: pull requests at once on one server, through the real binaries. The project is the example project with 20
// leaf models (models/load/leaf_01..20, tables reading stg_patients); pull request k changes leaf k. 24 chains run
// together, each in its own thread and checkout: ece-env up, ece-stage load --branch, ece-dbt build (real
// dbt). Then the 20 are merged (main holds all 20 changes, as after a merge queue's batch) and their 20
// `ece-publish --rebuild` jobs start together, each with its own checkout of the merged main, while the other 4
// pull requests close (ece-env down) and a reader queries production without pause. Every command must succeed,
// production must end with all 20 changes, one publish record per pull request, the reader must never fail, and
// nothing may be left behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "harness.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::IsEmpty;

constexpr int merged_pull_requests = 20;
constexpr int closed_pull_requests = 4;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
    return text;
}

std::string leaf(int k) { return std::string(k < 10 ? "leaf_0" : "leaf_") + std::to_string(k); }
int pr_of(int k) { return 100 + k; }
std::string version_of(int k) { return "pr-" + std::to_string(pr_of(k)); }

// The 20 leaves as production has them, with the changes of the given pull requests (1-based leaf numbers).
ProjectEdit with_leaves(std::vector<int> changed) {
    return [changed](const fs::path& project) {
        fs::create_directories(project / "models/load");
        for (int k = 1; k <= merged_pull_requests; ++k) {
            const bool is_changed = std::find(changed.begin(), changed.end(), k) != changed.end();
            std::ofstream(project / "models/load" / (leaf(k) + ".sql"))
                << "select count(*) as patients, '" << (is_changed ? version_of(k) : std::string("base"))
                << "' as version\nfrom {{ ref('stg_patients') }}\n";
        }
    };
}

fs::path checkout(const fs::path& where, const std::vector<int>& changed) {
    copy_demo_project(where, false);
    with_leaves(changed)(where);
    return where;
}

// Runs every argv list in its own thread, all at once; returns what each run came to.
std::vector<std::vector<Outcome>> run_concurrently(const std::vector<std::vector<std::vector<std::string>>>& chains,
                                                   const std::map<std::string, std::string>& env, const fs::path& cwd) {
    std::vector<std::vector<Outcome>> outcomes(chains.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < chains.size(); ++i) {
        threads.emplace_back([&, i] {
            for (const auto& step : chains[i]) {
                outcomes[i].push_back(run(step, env, cwd, std::chrono::seconds(300)));
                if (outcomes[i].back().exit_code != 0) break;
            }
        });
    }
    for (auto& t : threads) t.join();
    return outcomes;
}

std::string failure(const std::vector<std::string>& argv, const Outcome& r) {
    return fs::path(argv[0]).filename().string() + " exited " + std::to_string(r.exit_code) + ": " +
           r.err.substr(0, 2000) + r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0);
}

// Queries every relation the publishes replace, and one they do not, until stopped; counts what failed.
struct ProductionReader {
    explicit ProductionReader(const std::string& url)
        : thread([this, url] {
              auto conn = pg::connect(url, "production reader");
              while (!stop) {
                  for (int k = 1; k <= merged_pull_requests; ++k) {
                      for (const std::string& relation : {"analytics." + leaf(k), std::string("analytics.distinct_patients")}) {
                          try {
                              pqxx::nontransaction tx(conn);
                              tx.exec1("SELECT count(*) FROM " + relation);
                              ++queries;
                          } catch (const std::exception& e) {
                              std::lock_guard lock(mutex);
                              errors.push_back(relation + ": " + e.what());
                          }
                      }
                  }
              }
          }) {}
    ~ProductionReader() { finish(); }
    void finish() {
        stop = true;
        if (thread.joinable()) thread.join();
    }

    std::atomic<bool> stop{false};
    std::atomic<long> queries{0};
    std::mutex mutex;
    std::vector<std::string> errors;
    std::thread thread;  // last: starts once the members above exist
};

TEST(Load, TwentyPullRequestsUpBuiltAndPublishedConcurrently) {
    constexpr int pull_requests = merged_pull_requests + closed_pull_requests;
    test::TempDir dir;
    const std::string url = test::fresh_database("load");
    const std::string prefix = unique_env_prefix("load");
    // 24 chains of processes connect at once on 2 cores that CI may share with builds: a new connection can wait
    // longer than ece's default 10 s connect_timeout for the postmaster's fork and SCRAM. What is under test is that
    // every step succeeds and converges, not how fast connections come.
    const std::string patient_url = url + (url.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=60";
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", patient_url}};
    set_up_production(url, dir.path(), prefix, 2000, env, with_leaves({}));
    auto conn = pg::connect(url, "reliability check");
    const std::string config = (dir / "ece.yml").string();

    // Up, staged and built: pull request k changes leaf k (the closed ones change nothing the others do not).
    std::vector<std::vector<std::vector<std::string>>> chains;
    for (int k = 1; k <= pull_requests; ++k) {
        const std::string pr = std::to_string(pr_of(k)), branch = "feature/load-" + pr;
        const fs::path project = checkout(dir / ("checkout-" + pr), {std::min(k, merged_pull_requests)});
        std::vector<std::string> stage{ece_stage_binary, "load", "--branch", branch, "--pr", pr};
        for (auto& f : demo_table_flags(dir / "data")) stage.push_back(f);
        chains.push_back({{ece_env_binary, "--config", config, "up", "--branch", branch, "--pr", pr},
                          stage,
                          {ece_dbt_binary, "build", "--config", config, "--branch", branch, "--pr", pr,
                           "--project-dir", project.string(), "--dbt", ece::test::real_dbt().string(), "--sha", "head" + pr}});
    }
    const auto started = std::chrono::steady_clock::now();
    const auto built = run_concurrently(chains, env, dir.path());
    const double up_and_build = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double slowest = 0;
    for (std::size_t i = 0; i < built.size(); ++i) {
        double chain_seconds = 0;
        for (std::size_t s = 0; s < built[i].size(); ++s) {
            EXPECT_EQ(built[i][s].exit_code, 0) << failure(chains[i][s], built[i][s]);
            chain_seconds += built[i][s].seconds;
        }
        EXPECT_EQ(built[i].size(), 3u) << "pr " << pr_of(static_cast<int>(i) + 1);
        slowest = std::max(slowest, chain_seconds);
    }
    ASSERT_FALSE(HasFailure());
    {
        pqxx::work tx(conn);
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.environments WHERE status = 'ready'")[0].as<int>(), pull_requests);
        EXPECT_EQ(tx.exec1("SELECT count(DISTINCT environment) FROM ece.builds WHERE status = 'success'")[0].as<int>(),
                  pull_requests);
    }
    // Every environment holds its own leaf and the same staged data as every other.
    std::string first;
    for (int k = 1; k <= merged_pull_requests; ++k) {
        const std::string base = prefix + "pr_" + std::to_string(pr_of(k));
        const std::string print =
            replace_all(replace_all(fingerprint(conn, {base, base + "_raw"}), base, "<env>"), leaf(k), "<leaf>");
        if (first.empty()) first = print;
        EXPECT_EQ(print, first) << "pr " << pr_of(k);
    }
    EXPECT_THAT(first, testing::HasSubstr("<env>.<leaf>"));

    // Merged: 20 publish jobs, each with its own checkout of the merged main, and 4 pull requests closed.
    std::vector<int> all_changes;
    for (int k = 1; k <= merged_pull_requests; ++k) all_changes.push_back(k);
    std::vector<std::vector<std::vector<std::string>>> jobs;
    for (int k = 1; k <= pull_requests; ++k) {
        const std::string pr = std::to_string(pr_of(k));
        if (k > merged_pull_requests) {
            jobs.push_back({{ece_env_binary, "--config", config, "down", "--pr", pr}});
            continue;
        }
        const fs::path main = checkout(dir / ("main-" + pr), all_changes);
        jobs.push_back({{ece_publish_binary, "--config", config, "--pr", pr, "--sha", "merge" + pr, "--rebuild",
                         "--project-dir", main.string(), "--dbt", ece::test::real_dbt().string()}});
    }
    const auto publish_started = std::chrono::steady_clock::now();
    ProductionReader reader(url);
    const auto published = run_concurrently(jobs, env, dir.path());
    const double publish_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - publish_started).count();
    reader.finish();
    int rebuilds = 0;
    for (std::size_t i = 0; i < published.size(); ++i) {
        ASSERT_EQ(published[i].size(), 1u);
        EXPECT_EQ(published[i][0].exit_code, 0) << failure(jobs[i][0], published[i][0]);
        if (published[i][0].out.find("rebuilt the stale nodes") != std::string::npos) ++rebuilds;
    }
    EXPECT_THAT(reader.errors, IsEmpty());
    EXPECT_GT(reader.queries.load(), 0);

    // Production holds all 20 changes, one publish per merged pull request, production's state is the merged main.
    long long swap_attempts = 0, failed_records = 0;
    {
        pqxx::work tx(conn);
        for (int k = 1; k <= merged_pull_requests; ++k) {
            EXPECT_EQ(tx.exec1("SELECT string_agg(DISTINCT version, ',') FROM analytics." + leaf(k))[0].as<std::string>(),
                      version_of(k));
            EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM ece.publishes WHERE pr = $1 AND kind = 'publish'"
                                      " AND status = 'published'",
                                      pr_of(k))[0]
                          .as<int>(),
                      1)
                << "pr " << pr_of(k);
        }
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.publishes WHERE status = 'published'")[0].as<int>(),
                  merged_pull_requests);
        swap_attempts = tx.exec1("SELECT coalesce(sum(attempts), 0) FROM ece.publishes")[0].as<long long>();
        failed_records = tx.exec1("SELECT count(*) FROM ece.publishes WHERE status <> 'published'")[0].as<long long>();
        EXPECT_THAT(tx.exec1("SELECT sha FROM ece.state_manifests ORDER BY id DESC LIMIT 1")[0].as<std::string>(),
                    testing::StartsWith("merge"));
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.environments WHERE status <> 'destroyed'")[0].as<int>(), 0);
    }
    // The stale check runs in turn under the publish lock: only the first publish is stale (main has 19 changes
    // production lacks) and rebuilds them; every later one finds production at the merged main.
    EXPECT_EQ(rebuilds, 1);
    wait_for_other_sessions_to_end(conn);
    EXPECT_THAT(leftovers(conn, prefix), IsEmpty());
    std::printf("[figures] load: %d pull requests up+staged+built concurrently in %.1fs (slowest chain %.1fs); "
                "%d published (--rebuild) and %d closed concurrently in %.1fs: %d rebuild(s), %lld swap attempts, "
                "%lld failed publish records; the reader ran %ld queries, %zu failed\n",
                pull_requests, up_and_build, slowest, merged_pull_requests, closed_pull_requests, publish_seconds,
                rebuilds, swap_attempts, failed_records, reader.queries.load(), reader.errors.size());
}

}  // namespace
}  // namespace ece::reliability
