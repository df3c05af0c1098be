// kill -9 at seeded random points: ece's real binaries (ece-stage load, ece-env up/down, ece-dbt build with real
// dbt) are SIGKILLed (their whole process group) at a time offset drawn from [0, the step's uninterrupted
// duration), then run again. Every re-run must succeed and converge to what an uninterrupted run leaves; production
// must be entirely before or entirely after at every moment; nothing may be left behind (leftovers()).
// ECE_FAULT_SEED=<n> replays other points; each test prints its seed and figures (RELIABILITY.md records them).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "harness.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "pg_support.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::IsEmpty;

TEST(KillNine, StagingIntoProductionIsAllOrNothingAndConverges) {
    const auto started = std::chrono::steady_clock::now();
    test::TempDir dir;
    const std::string url = test::fresh_database("kill_stage");
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url}};
    // Staging into production needs production's role (the owner of its raw views), named in ./ece.yml.
    const std::string production_role = create_production_role(url, "relprod", false);
    write_ece_yml(dir / "ece.yml", production_role, unique_env_prefix("rel"));
    // Two versions of the data; gc between loads makes every load a real one (not "unchanged").
    write_demo_csv(dir / "a", 60000, 0);
    write_demo_csv(dir / "b", 60000, 7);
    auto load_args = [&](const char* version) {
        std::vector<std::string> args{ece_stage_binary, "load", "--prod"};
        for (auto& f : demo_table_flags(dir / version)) args.push_back(f);
        return args;
    };
    auto conn = pg::connect(url, "reliability check");
    const std::vector<std::string> production{"raw"};
    std::map<std::string, std::string> print;
    std::map<std::string, double> duration;
    for (const char* version : {"a", "b"}) {
        run({ece_stage_binary, "gc"}, env, dir.path());
        auto r = run(load_args(version), env, dir.path());
        ASSERT_EQ(r.exit_code, 0) << r.err;
        print[version] = fingerprint(conn, production);
        duration[version] = r.seconds;
    }
    ASSERT_NE(print["a"], print["b"]);

    std::mt19937 random(fault_seed());
    KillTally tally;
    std::string current = "b";
    for (int point = 0; point < 20; ++point) {
        const std::string next = current == "a" ? "b" : "a";
        ASSERT_EQ(run({ece_stage_binary, "gc"}, env, dir.path()).exit_code, 0);
        const auto offset = kill_offset(random, duration[next]);
        auto killed = run_killed_after(load_args(next.c_str()), env, dir.path(), offset);
        tally.count(killed);
        SCOPED_TRACE("point " + std::to_string(point) + " at " + std::to_string(offset.count()) + "us");
        // Production is entirely before or entirely after, at once, while the killed sessions may still linger.
        const std::string seen = fingerprint(conn, production);
        EXPECT_TRUE(seen == print[current] || seen == print[next]) << seen;
        wait_for_other_sessions_to_end(conn);
        auto rerun = run(load_args(next.c_str()), env, dir.path());
        EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
        EXPECT_EQ(fingerprint(conn, production), print[next]);
        auto left = leftovers(conn, "");
        EXPECT_THAT(left, IsEmpty());
        if (rerun.exit_code == 0 && left.empty() && fingerprint(conn, production) == print[next]) ++tally.converged;
        current = next;
    }
    expect_every_point_converged({{"stage load --prod", tally}}, started);
}

// One pull request's life, each step killed once per cycle: ece-env up, ece-stage load --branch, ece-dbt build
// (real dbt), ece-env down. Production (analytics, raw) never changes.
TEST(KillNine, EnvironmentLifecycleConvergesAfterEveryKill) {
    const auto started = std::chrono::steady_clock::now();
    PullRequestSetup setup("kill_env");
    auto& conn = setup.conn;
    const std::string production_print = fingerprint(conn, setup.production_schemas);
    const std::string base = setup.prefix + "pr_1";
    struct Step {
        std::string name;
        std::vector<std::string> argv;
        double seconds = 0;
        KillTally tally{};
    };
    std::vector<Step> steps{
        {"ece-env up", setup.up()},
        {"ece-stage load --branch", setup.stage_branch()},
        {"ece-dbt build", setup.build("branchsha")},
        {"ece-env down", setup.down()},
    };
    // An uninterrupted cycle: each step's duration and what the environment holds after the build.
    std::string built_print;
    for (auto& step : steps) {
        auto r = run(step.argv, setup.env, setup.dir.path());
        ASSERT_EQ(r.exit_code, 0) << step.name << ": " << r.out << r.err;
        step.seconds = r.seconds;
        if (step.name == "ece-dbt build") built_print = fingerprint(conn, {base, base + "_raw"});
    }
    ASSERT_THAT(built_print, testing::HasSubstr("distinct_patients"));
    ASSERT_THAT(setup.left_behind(), IsEmpty());

    std::mt19937 random(fault_seed() + 1);
    const int cycles = 9;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        for (auto& step : steps) {
            const auto offset = kill_offset(random, step.seconds);
            SCOPED_TRACE(step.name + " cycle " + std::to_string(cycle) + " killed at " + std::to_string(offset.count()) +
                         "us");
            auto killed = run_killed_after(step.argv, setup.env, setup.dir.path(), offset);
            step.tally.count(killed);
            EXPECT_EQ(fingerprint(conn, setup.production_schemas), production_print) << "production changed";
            wait_for_other_sessions_to_end(conn);
            // The dbt that ece-dbt started must not outlive it (it would race the re-run).
            EXPECT_THAT(processes_mentioning(setup.project.string()), IsEmpty());
            auto rerun = run(step.argv, setup.env, setup.dir.path());
            EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
            bool ok = rerun.exit_code == 0;
            if (step.name == "ece-dbt build") {
                const std::string seen = fingerprint(conn, {base, base + "_raw"});
                EXPECT_EQ(seen, built_print);
                ok = ok && seen == built_print;
            }
            if (step.name == "ece-env down") {
                pqxx::work tx(conn);
                EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", base)[0].as<int>(), 0);
                EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, $1)", base)[0]
                              .as<int>(),
                          0);
            }
            EXPECT_EQ(fingerprint(conn, setup.production_schemas), production_print) << "production changed";
            // Also: the re-run removed the private directory the killed run could not.
            auto left = setup.left_behind();
            EXPECT_THAT(left, IsEmpty());
            if (ok && left.empty()) ++step.tally.converged;
        }
    }
    std::vector<std::pair<std::string, KillTally>> tallies;
    for (const auto& step : steps) tallies.emplace_back(step.name, step.tally);
    expect_every_point_converged(tallies, started);
}


// Publish and rollback, each killed once per cycle. Every cycle brings up a fresh environment with the branch's
// change built (not killed), then: ece-publish killed -> production entirely before or after -> re-run -> after
// (the environment removed); ece-publish --rollback <id> killed -> after or before -> re-run -> before.
TEST(KillNine, PublishAndRollbackAreAllOrNothingAndConverge) {
    const auto started = std::chrono::steady_clock::now();
    PullRequestSetup setup("kill_publish");
    auto& conn = setup.conn;
    const auto& env = setup.env;
    const fs::path& dir = setup.dir.path();
    const auto& production = setup.production_schemas;
    const std::string before = fingerprint(conn, production);

    // A built environment for cycle k. Each cycle ends in a rollback, which makes production's own manifest the
    // state again (it retires the published one), so the build has the branch's change to build once more.
    auto prepare = [&](int k) {
        for (const auto& argv : std::vector<std::vector<std::string>>{
                 setup.up(), setup.stage_branch(), setup.build("b" + std::to_string(k))}) {
            auto r = run(argv, env, dir);
            ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.out << r.err;
        }
    };
    auto publish_args = [&](int k) {
        return std::vector<std::string>{ece_publish_binary, "--config", setup.config, "--pr", "1", "--sha",
                                        "m" + std::to_string(k), "--manifest",
                                        (setup.project / "target/manifest.json").string()};
    };
    auto latest_publish = [&] {
        pqxx::work tx(conn);
        return tx.exec1("SELECT coalesce(max(id), 0) FROM ece.publishes WHERE kind = 'publish' AND status = 'published'"
                        " AND rolled_back_at IS NULL")[0]
            .as<long long>();
    };

    // The uninterrupted reference: durations and production after.
    prepare(0);
    auto published = run(publish_args(0), env, dir);
    ASSERT_EQ(published.exit_code, 0) << published.out << published.err;
    const std::string after = fingerprint(conn, production);
    ASSERT_NE(after, before);
    const long long first_id = latest_publish();
    auto rolled = run({ece_publish_binary, "--config", setup.config, "--rollback", std::to_string(first_id)}, env, dir);
    ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err;
    ASSERT_EQ(fingerprint(conn, production), before);
    const double publish_seconds = published.seconds, rollback_seconds = rolled.seconds;

    std::mt19937 random(fault_seed() + 2);
    KillTally publish_tally, rollback_tally;
    const int cycles = 5;
    for (int k = 1; k <= cycles; ++k) {
        prepare(k);
        {
            const auto offset = kill_offset(random, publish_seconds);
            SCOPED_TRACE("publish cycle " + std::to_string(k) + " killed at " + std::to_string(offset.count()) + "us");
            auto killed = run_killed_after(publish_args(k), env, dir, offset);
            publish_tally.count(killed);
            const std::string seen = fingerprint(conn, production);
            EXPECT_TRUE(seen == before || seen == after) << seen;
            wait_for_other_sessions_to_end(conn);
            auto rerun = run(publish_args(k), env, dir);
            EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
            const bool same = fingerprint(conn, production) == after;
            EXPECT_TRUE(same);
            auto left = setup.left_behind();
            EXPECT_THAT(left, IsEmpty());
            if (rerun.exit_code == 0 && same && left.empty()) ++publish_tally.converged;
        }
        {
            const long long id = latest_publish();
            const std::vector<std::string> rollback{ece_publish_binary, "--config", setup.config, "--rollback", std::to_string(id)};
            const auto offset = kill_offset(random, rollback_seconds);
            SCOPED_TRACE("rollback cycle " + std::to_string(k) + " killed at " + std::to_string(offset.count()) + "us");
            auto killed = run_killed_after(rollback, env, dir, offset);
            rollback_tally.count(killed);
            const std::string seen = fingerprint(conn, production);
            EXPECT_TRUE(seen == before || seen == after) << seen;
            wait_for_other_sessions_to_end(conn);
            auto rerun = run(rollback, env, dir);
            // Re-running a rollback that did commit is refused as "rolled back already", and changes nothing.
            const bool ok = rerun.exit_code == 0 || rerun.err.find("rolled back already") != std::string::npos;
            EXPECT_TRUE(ok) << rerun.out << rerun.err;
            const bool same = fingerprint(conn, production) == before;
            EXPECT_TRUE(same);
            auto left = setup.left_behind();
            EXPECT_THAT(left, IsEmpty());
            if (ok && same && left.empty()) ++rollback_tally.converged;
        }
    }
    expect_every_point_converged({{"ece-publish", publish_tally}, {"ece-publish --rollback", rollback_tally}}, started);
}

}  // namespace
}  // namespace ece::reliability
