// Load: 20 pull requests at once on one server. Each runs the real chain in its own thread - ece-env up,
// ece-stage load --branch, ece-dbt build (the dbt stand-in) - all 20 started together; then all 20 ece-env down at
// once. Every command must succeed within its bound, every environment must hold what a lone build makes, and
// nothing may be left behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
    return text;
}

TEST(Load, TwentyEnvironmentsUpStagedAndBuiltConcurrently) {
    constexpr int environments = 20;
    test::TempDir dir;
    const std::string url = test::fresh_database("load");
    std::string prefix = test::unique_name("load");
    prefix = prefix.substr(0, 20) + "_";
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url}};
    const std::string production_role = set_up_production(url, dir.path(), prefix, 2000, env);
    auto conn = pg::connect(url, "reliability check");
    const std::string production_print = fingerprint(conn, {"analytics", "raw"});
    const std::string config = (dir / "ece.yml").string();

    struct Chain {
        int pr = 0;
        std::vector<std::string> failures;
        double seconds = 0;
    };
    std::vector<Chain> chains(environments);
    const auto started = std::chrono::steady_clock::now();
    {
        std::vector<std::thread> threads;
        for (int i = 0; i < environments; ++i) {
            threads.emplace_back([&, i] {
                Chain& chain = chains[i];
                chain.pr = 100 + i;
                const std::string pr = std::to_string(chain.pr), branch = "feature/load-" + pr;
                // Each pull request has its own checkout (dbt writes target/ into it).
                const fs::path project = copy_demo_project(dir / ("checkout-" + pr), true);
                std::vector<std::string> stage{ece_stage_binary, "load", "--branch", branch, "--pr", pr};
                for (auto& f : demo_table_flags(dir / "data")) stage.push_back(f);
                const std::vector<std::vector<std::string>> steps{
                    {ece_env_binary, "--config", config, "up", "--branch", branch, "--pr", pr},
                    stage,
                    {ece_dbt_binary, "build", "--config", config, "--branch", branch, "--pr", pr, "--project-dir",
                     project.string(), "--dbt", standin_dbt.string(), "--sha", "load" + pr}};
                const auto chain_started = std::chrono::steady_clock::now();
                for (const auto& step : steps) {
                    auto r = run(step, env, dir.path(), std::chrono::seconds(240));
                    if (r.exit_code != 0) {
                        chain.failures.push_back(fs::path(step[0]).filename().string() + " exited " +
                                                 std::to_string(r.exit_code) + ": " + r.err.substr(0, 2000) +
                                                 r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0));
                        break;
                    }
                }
                chain.seconds =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - chain_started).count();
            });
        }
        for (auto& t : threads) t.join();
    }
    const double up_and_build = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    double slowest = 0;
    for (const auto& chain : chains) {
        EXPECT_THAT(chain.failures, IsEmpty()) << "pr " << chain.pr;
        slowest = std::max(slowest, chain.seconds);
    }
    {
        pqxx::work tx(conn);
        EXPECT_EQ(tx.exec1("SELECT count(*) FROM ece.environments WHERE status = 'ready'")[0].as<int>(), environments);
        EXPECT_EQ(tx.exec1("SELECT count(DISTINCT environment) FROM ece.builds WHERE status = 'success'")[0].as<int>(),
                  environments);
    }
    // Every environment holds the same relations and rows as every other (its own schema names aside).
    std::string first;
    for (const auto& chain : chains) {
        const std::string base = prefix + "pr_" + std::to_string(chain.pr);
        const std::string print = replace_all(fingerprint(conn, {base, base + "_raw"}), base, "<env>");
        if (first.empty()) first = print;
        EXPECT_EQ(print, first) << "pr " << chain.pr;
    }
    EXPECT_THAT(first, testing::HasSubstr("<env>.distinct_patients"));
    EXPECT_EQ(fingerprint(conn, {"analytics", "raw"}), production_print);

    // And all of them down at once.
    const auto down_started = std::chrono::steady_clock::now();
    {
        std::vector<std::thread> threads;
        std::mutex failures_mutex;
        std::vector<std::string> failures;
        for (const auto& chain : chains) {
            threads.emplace_back([&, pr = chain.pr] {
                auto r = run({ece_env_binary, "--config", config, "down", "--pr", std::to_string(pr)}, env, dir.path());
                if (r.exit_code != 0) {
                    std::lock_guard lock(failures_mutex);
                    failures.push_back(std::to_string(pr) + ": " + r.err);
                }
            });
        }
        for (auto& t : threads) t.join();
        EXPECT_THAT(failures, IsEmpty());
    }
    const double down = std::chrono::duration<double>(std::chrono::steady_clock::now() - down_started).count();
    wait_for_other_sessions_to_end(conn);
    EXPECT_THAT(leftovers(conn, prefix), IsEmpty());
    std::printf("[figures] load: %d environments up+staged+built concurrently in %.1fs (slowest chain %.1fs), "
                "all down concurrently in %.1fs\n",
                environments, up_and_build, slowest, down);
}

}  // namespace
}  // namespace ece::reliability
