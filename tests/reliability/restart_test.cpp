// PostgreSQL restarted under a running command: a private cluster (pg::ensure_embedded, not the shared test
// cluster) is stopped (fast shutdown: every session is terminated) while ece-stage load is in the middle of COPY
// into production's content tables, and started again. The command must fail with a clear error, production must be
// exactly as before, and the re-run must succeed and leave nothing behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "harness.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;

class PrivateCluster : public testing::Test {
protected:
    void SetUp() override { url = pg::ensure_embedded(dir / "pg", pg::EmbeddedOptions{.durable = false}).admin_url; }
    void TearDown() override { pg::destroy_embedded(dir / "pg"); }

    // The server keeps its port across a restart while the port is free (lib/pg binds like postgres, despite
    // connections in TIME_WAIT); a parallel test could take it meanwhile, so the URL is taken anew.
    void restart() {
        pg::stop_embedded(dir / "pg");
        url = pg::ensure_embedded(dir / "pg", pg::EmbeddedOptions{.durable = false}).admin_url;
    }

    test::TempDir dir;
    std::string url;
};

// Waits until a session of this database runs a statement starting with `prefix` (e.g. COPY). False on timeout.
bool wait_for_statement(const std::string& url, const std::string& prefix, Spawned& child) {
    auto conn = pg::connect(url, "reliability watch");
    for (int i = 0; i < 5000 && !child.finished(); ++i) {
        pqxx::nontransaction tx(conn);
        if (tx.exec_params1("SELECT count(*) FROM pg_stat_activity WHERE starts_with(query, $1) AND state = 'active'"
                            " AND pid <> pg_backend_pid()",
                            prefix)[0]
                .as<int>() > 0)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
}

TEST_F(PrivateCluster, RestartDuringStagingFailsClearlyChangesNothingAndTheRerunSucceeds) {
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url}};
    {  // Staging into production needs production's role (the owner of its raw views), named in ./ece.yml.
        auto setup = pg::connect(url, "reliability setup");
        pqxx::work tx(setup);
        tx.exec("CREATE ROLE rstprod NOLOGIN");
        tx.commit();
    }
    write_ece_yml(dir / "ece.yml", "rstprod", "rst_");
    write_demo_csv(dir / "a", 300000, 0);
    write_demo_csv(dir / "b", 300000, 3);
    auto load_args = [&](const char* version) {
        std::vector<std::string> args{ece_stage_binary, "load", "--prod", "--connections", "2", "--chunk-mb", "1"};
        for (auto& f : demo_table_flags(dir / version)) args.push_back(f);
        return args;
    };
    ASSERT_EQ(run(load_args("a"), env, dir.path()).exit_code, 0);
    std::string before;
    {
        auto conn = pg::connect(url, "reliability check");
        before = fingerprint(conn, {"raw"});
    }

    const auto started = std::chrono::steady_clock::now();
    Spawned load(load_args("b"), env, dir.path());
    ASSERT_TRUE(wait_for_statement(url, "COPY", load)) << "the load never reached COPY";
    restart();
    const Outcome interrupted = load.wait();
    const double restart_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_NE(interrupted.exit_code, 0) << interrupted.out;
    // One clear line: what was being done and that the server went away; no secret in it.
    EXPECT_THAT(interrupted.err, HasSubstr("error: "));
    EXPECT_THAT(interrupted.err, HasSubstr("loading"));
    EXPECT_THAT(interrupted.err, testing::AnyOf(HasSubstr("lost the connection"), HasSubstr("terminating connection"),
                                                HasSubstr("server closed the connection"), HasSubstr("cannot connect")));
    EXPECT_THAT(test::find_secrets(interrupted.out + interrupted.err, {url, pg::parse_url(url).password}), IsEmpty());

    auto conn = pg::connect(url, "reliability check");
    EXPECT_EQ(fingerprint(conn, {"raw"}), before) << "production changed by an interrupted load";

    const Outcome rerun = run(load_args("b"), {{"ECE_DATABASE_URL", url}}, dir.path());
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    const std::string after = fingerprint(conn, {"raw"});
    EXPECT_NE(after, before);
    EXPECT_THAT(leftovers(conn, ""), IsEmpty());
    std::printf("[figures] restart during stage: failed after %.1fs with: %s", restart_seconds,
                interrupted.err.substr(interrupted.err.rfind("error: ")).c_str());
}


// Publish: production's swap transaction is held up by a reader's lock on a relation it replaces (so the restart
// lands inside it, after some of its ALTERs), then the server restarts.
TEST_F(PrivateCluster, RestartDuringPublishFailsClearlyChangesNothingAndTheRerunSucceeds) {
    const std::map<std::string, std::string> env{{"ECE_DATABASE_URL", url}};
    const std::string prefix = "rst_";
    const std::string production_role = "rstprod";
    {
        auto conn = pg::connect(url, "reliability setup");
        pqxx::work tx(conn);
        tx.exec("CREATE ROLE " + production_role + " NOLOGIN; CREATE SCHEMA analytics AUTHORIZATION " + production_role);
        tx.commit();
    }
    write_ece_yml(dir / "ece.yml", production_role, prefix);
    write_demo_csv(dir / "data", 5000, 0);
    const std::string config = (dir / "ece.yml").string();
    std::vector<std::string> stage_prod{ece_stage_binary, "load", "--prod"};
    std::vector<std::string> stage_branch{ece_stage_binary, "load", "--branch", "feature", "--pr", "1"};
    for (auto& f : demo_table_flags(dir / "data")) stage_prod.push_back(f), stage_branch.push_back(f);
    ASSERT_EQ(run(stage_prod, env, dir.path()).exit_code, 0);
    build_production(url, dir.path());
    const fs::path project = copy_demo_project(dir / "branch", true);
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {ece_env_binary, "--config", config, "up", "--branch", "feature", "--pr", "1"},
             stage_branch,
             {ece_dbt_binary, "build", "--config", config, "--branch", "feature", "--pr", "1", "--project-dir",
              project.string(), "--dbt", ece::test::real_dbt().string(), "--sha", "b1"}}) {
        auto r = run(argv, env, dir.path());
        ASSERT_EQ(r.exit_code, 0) << argv[1] << ": " << r.out << r.err;
    }
    const std::vector<std::string> production{"analytics", "raw"};
    std::string before;
    {
        auto conn = pg::connect(url, "reliability check");
        before = fingerprint(conn, production);
    }
    const std::vector<std::string> publish{ece_publish_binary, "--config", config, "--pr", "1", "--sha", "m1",
                                           "--manifest", (project / "target/manifest.json").string()};
    std::optional<Spawned> publishing;
    {
        auto reader = pg::connect(url, "reliability reader");
        pqxx::work hold(reader);
        hold.exec("SELECT count(*) FROM analytics.distinct_patients");  // ACCESS SHARE until the restart
        publishing.emplace(publish, env, dir.path());
        auto watch = pg::connect(url, "reliability watch");
        bool waiting = false;
        for (int i = 0; i < 3000 && !waiting && !publishing->finished(); ++i) {
            pqxx::nontransaction tx(watch);
            waiting = tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                               " AND application_name LIKE 'ece%' AND pid <> pg_backend_pid()")[0]
                          .as<int>() > 0;
            if (!waiting) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        ASSERT_TRUE(waiting) << "publish never waited for the reader's lock";
        restart();
    }
    const Outcome interrupted = publishing->wait();
    EXPECT_NE(interrupted.exit_code, 0) << interrupted.out;
    EXPECT_THAT(interrupted.err, HasSubstr("error: publishing environment pr-1"));
    EXPECT_THAT(interrupted.err, testing::AnyOf(HasSubstr("lost the connection"), HasSubstr("terminating connection"),
                                                HasSubstr("server closed the connection")));
    EXPECT_THAT(test::find_secrets(interrupted.out + interrupted.err, {url, pg::parse_url(url).password}), IsEmpty());
    auto conn = pg::connect(url, "reliability check");
    EXPECT_EQ(fingerprint(conn, production), before) << "production changed by an interrupted publish";
    const Outcome rerun = run(publish, {{"ECE_DATABASE_URL", url}}, dir.path());
    ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
    EXPECT_NE(fingerprint(conn, production), before);
    EXPECT_THAT(leftovers(conn, prefix), IsEmpty());
    std::printf("[figures] restart during publish: failed with: %s",
                interrupted.err.substr(interrupted.err.rfind("error: ")).c_str());
}

}  // namespace
}  // namespace ece::reliability
