// kill -9 at seeded random points, continued (kill_test.cpp has the harness's story): `ece-env gc` reaping several
// expired and closed environments, and the `ece` entry point as GitHub Actions runs it (GITHUB_ACTIONS=true, an
// event payload file, FakeGitHub from tests/support_http) for a pull request opened and merged. Each run is killed
// (its whole process group) at an offset drawn from [0, its uninterrupted duration], then run again: the re-run
// must succeed and converge - the environment up / published / reaped exactly once, one sticky comment, one active
// deployment, production entirely before or after, nothing left behind, no secret printed (killed runs included).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "fake_github.hpp"
#include "harness.hpp"
#include "pg_support.hpp"
#include "support.hpp"

namespace ece::reliability {
namespace {

using testing::IsEmpty;
namespace json = boost::json;

// GitHub as ece's binaries find it in Actions: FakeGitHub's API, token, repository and CA.
std::map<std::string, std::string> with_github(std::map<std::string, std::string> env, const test::FakeGitHub& github) {
    env["GITHUB_API_URL"] = github.api_url();
    env["GITHUB_TOKEN"] = github.token();
    env["GITHUB_REPOSITORY"] = github.owner() + "/" + github.repo();
    env["SSL_CERT_FILE"] = github.ca_file().string();
    return env;
}

std::string environment_status(pqxx::connection& conn, const std::string& name) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT status FROM ece.environments WHERE name = $1", name);
    if (rows.size() != 1) return std::to_string(rows.size()) + " catalog rows";
    return rows[0][0].as<std::string>();
}

// ece-env gc reaps #21 and #22 (expired: ttl 1s) and #23 (closed: FakeGitHub lists only #20 open), each staged;
// #20 (open, not expired) must survive every kill.
TEST(KillNine, GcReapsExpiredAndClosedEnvironmentsExactlyOnce) {
    const auto started = std::chrono::steady_clock::now();
    PullRequestSetup setup("kill_gc", 2000);
    test::FakeGitHub github;
    github.add_pull({.number = 20, .head_ref = "feature/20"});
    const auto env = with_github(setup.env, github);
    const fs::path& dir = setup.dir.path();
    const std::string production_print = fingerprint(setup.conn, setup.production_schemas);
    const std::vector<std::string> gc{ece_env_binary, "--config", setup.config, "gc"};
    for (const auto& argv : {setup.up(20), setup.stage_branch(20)}) ASSERT_EQ(run(argv, env, dir).exit_code, 0);
    const std::vector<int> reaped{21, 22, 23};
    auto bring_up_the_reaped = [&] {
        for (int pr : reaped) {
            auto up = setup.up(pr);
            if (pr != 23) up.insert(up.end(), {"--ttl", "1s"});
            for (const auto& argv : {up, setup.stage_branch(pr)}) {
                auto r = run(argv, env, dir);
                ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // #21 and #22 expire
    };
    auto check_converged = [&](const std::string& outputs) {
        bool ok = true;
        for (int pr : reaped) {
            const std::string name = "pr-" + std::to_string(pr);
            EXPECT_EQ(environment_status(setup.conn, name), "destroyed") << name;
            ok = ok && environment_status(setup.conn, name) == "destroyed";
            // Reported removed at most once over the killed run and the re-run (a kill may land between the
            // removal and its line).
            std::size_t reports = 0;
            for (std::size_t at = 0; (at = outputs.find("removed " + name + " ", at)) != std::string::npos; ++at)
                ++reports;
            EXPECT_LE(reports, 1u) << name << outputs;
            ok = ok && reports <= 1;
        }
        EXPECT_EQ(environment_status(setup.conn, "pr-20"), "ready");
        ok = ok && environment_status(setup.conn, "pr-20") == "ready";
        const bool same = fingerprint(setup.conn, setup.production_schemas) == production_print;
        EXPECT_TRUE(same) << "production changed";
        auto left = setup.left_behind();
        EXPECT_THAT(left, IsEmpty());
        return ok && same && left.empty();
    };

    bring_up_the_reaped();
    const auto reference = run(gc, env, dir);
    ASSERT_EQ(reference.exit_code, 0) << reference.out << reference.err;
    ASSERT_TRUE(check_converged(reference.out));

    std::mt19937 random(fault_seed() + 3);
    KillTally tally;
    for (int point = 0; point < 5; ++point) {
        bring_up_the_reaped();
        const auto offset = kill_offset(random, reference.seconds);
        SCOPED_TRACE("gc killed at " + std::to_string(offset.count()) + "us");
        auto killed = run_killed_after(gc, env, dir, offset);
        tally.count(killed);
        EXPECT_EQ(fingerprint(setup.conn, setup.production_schemas), production_print);
        wait_for_other_sessions_to_end(setup.conn);
        auto rerun = run(gc, env, dir);
        EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
        if (check_converged(killed.out + rerun.out) && rerun.exit_code == 0) ++tally.converged;
    }
    expect_every_point_converged({{"ece-env gc", tally}}, started);
}

// The `ece` binary as the container action runs it: pull request #1 opened (env up, stage, dbt build, comment,
// deployment), then merged (publish, production state, env down, comment). Every cycle kills the opened run once
// and the merged run once; after each cycle the publish is rolled back so the next starts from the same production.
class EceEntryPoint {
public:
    explicit EceEntryPoint(PullRequestSetup& setup) : setup_(setup), workspace_(setup.dir / "workspace") {
        github_.add_pull({.number = 1, .head_ref = "feature/1", .head_sha = std::string(40, '1')});
        copy_demo_project(workspace_, true);
        std::ofstream(workspace_ / "ece.yml")
            << "project: reliability\nproduction: {schemas: [analytics], role: " << setup.production_role
            << ", raw_schema: raw}\nenvironments: {prefix: " << setup.prefix << ", ttl: 2h}\nstage:\n  tables:\n"
            << stage_table("patients") << stage_table("diagnoses") << stage_table("providers") << stage_table("icd10");
    }

    // The pull_request event, opened (head sha 1...1) or merged (merge commit merge_sha); killed after `kill`.
    Outcome run_event(bool merged, const std::string& merge_sha, std::optional<std::chrono::microseconds> kill) {
        write_event(merged, merge_sha);
        auto outcome = kill ? run_killed_after({ece_binary}, environment(), workspace_, *kill)
                            : run({ece_binary}, environment(), workspace_);
        std::istringstream lines(outcome.out + outcome.err);
        for (std::string line; std::getline(lines, line);)  // the runner is told a secret only to mask it
            if (line.rfind("::add-mask::", 0) != 0) printed_ += line + "\n";
        return outcome;
    }

    // Everything the runs printed, killed ones included, but the ::add-mask:: commands.
    const std::string& printed() const { return printed_; }

    test::FakeGitHub& github() { return github_; }

    // Deployments of ece/pr-1 whose newest status is not inactive: GitHub shows each as a live environment.
    int active_deployments() const {
        int active = 0;
        for (const auto& d : github_.deployments())
            if (d.environment == "ece/pr-1" && !d.statuses.empty() && d.statuses.back().state != "inactive") ++active;
        return active;
    }

private:
    std::string stage_table(const std::string& name) const {
        return "    - {name: " + name + ", path: " + (setup_.dir / "data" / (name + ".csv")).string() + "}\n";
    }

    void write_event(bool merged, const std::string& merge_sha) {
        const std::string head_sha(40, '1');
        json::object repo{{"full_name", "octo-org/warehouse"}, {"default_branch", "main"}};
        json::object pr{{"number", 1},
                        {"state", merged ? "closed" : "open"},
                        {"draft", false},
                        {"merged", merged},
                        {"merged_at", merged ? json::value("2026-11-21T09:00:00Z") : json::value(nullptr)},
                        {"merge_commit_sha", merged ? json::value(merge_sha) : json::value(nullptr)},
                        {"labels", json::array{}},
                        {"head", {{"ref", "feature/1"}, {"sha", head_sha}, {"repo", repo}}},
                        {"base", {{"ref", "main"}, {"sha", std::string(40, '0')}, {"repo", repo}}}};
        json::object payload{{"action", merged ? "closed" : "opened"}, {"number", 1}, {"pull_request", pr},
                             {"repository", repo}};
        event_file_ = setup_.dir / ("event-" + std::to_string(++events_) + ".json");
        std::ofstream(event_file_) << json::serialize(payload);
        sha_ = merged ? merge_sha : head_sha;
    }

    // The container action's environment: GitHub's variables, the action's inputs, real dbt on PATH.

    std::map<std::string, std::string> environment() const {
        auto env = with_github(setup_.env, github_);
        env.erase("GITHUB_TOKEN");  // the action's input carries it
        const std::map<std::string, std::string> actions{
            {"GITHUB_ACTIONS", "true"}, {"GITHUB_EVENT_NAME", "pull_request"},
            {"GITHUB_EVENT_PATH", event_file_.string()}, {"GITHUB_WORKSPACE", workspace_.string()},
            {"GITHUB_SHA", sha_}, {"GITHUB_RUN_ID", "4242"}, {"GITHUB_SERVER_URL", "https://github.com"},
            {"GITHUB_OUTPUT", (setup_.dir / "github-output").string()},
            {"GITHUB_STEP_SUMMARY", (setup_.dir / "summary.md").string()},
            {"PATH", ece::test::real_dbt().parent_path().string() + ":" + std::getenv("PATH")},
            {"INPUT_COMMAND", "auto"}, {"INPUT_GITHUB-TOKEN", github_.token()}, {"INPUT_DATABASE-URL", setup_.url},
            {"INPUT_PROJECT-DIR", "."}, {"INPUT_CONFIG", "ece.yml"}, {"INPUT_COMMENT-BEHAVIOR", "update"}};
        env.insert(actions.begin(), actions.end());
        return env;
    }

    PullRequestSetup& setup_;
    test::FakeGitHub github_;
    fs::path workspace_, event_file_;
    std::string sha_, printed_;
    int events_ = 0;
};

TEST(KillNine, EceEntryPointOpenedAndMergedConvergeAfterEveryKill) {
    const auto started = std::chrono::steady_clock::now();
    PullRequestSetup setup("kill_ece");
    EceEntryPoint ece(setup);
    auto& conn = setup.conn;
    const fs::path& dir = setup.dir.path();
    const std::string before = fingerprint(conn, setup.production_schemas);
    const std::string base = setup.prefix + "pr_1";
    auto published_count = [&] {
        pqxx::read_transaction tx(conn);
        return tx.exec1("SELECT count(*) FROM ece.publishes WHERE environment = 'pr-1' AND kind = 'publish'"
                        " AND status = 'published' AND rolled_back_at IS NULL")[0]
            .as<int>();
    };
    // Opened converged: the environment ready (one catalog row), what the reference built, one comment, one live
    // deployment, production unchanged, nothing left.
    std::string built_print;
    auto opened_converged = [&] {
        const bool ready = environment_status(conn, "pr-1") == "ready";
        EXPECT_TRUE(ready) << environment_status(conn, "pr-1");
        const std::string built = fingerprint(conn, {base, base + "_raw"});
        const bool same_build = built_print.empty() || built == built_print;
        EXPECT_TRUE(same_build) << built << "\nis not what the reference built:\n" << built_print;
        const auto comments = ece.github().comments(1).size();
        EXPECT_EQ(comments, 1u);
        EXPECT_EQ(ece.active_deployments(), 1);
        const bool production_same = fingerprint(conn, setup.production_schemas) == before;
        EXPECT_TRUE(production_same);
        auto left = setup.left_behind();
        EXPECT_THAT(left, IsEmpty());
        return ready && same_build && comments == 1 && ece.active_deployments() == 1 && production_same && left.empty();
    };
    // Merged converged: one publish of pr-1 (not rolled back), production after, the environment destroyed, one
    // comment, no live deployment (the publish's own is inactive and retires the preview's, killed runs' included),
    // nothing left.
    std::string after;
    auto merged_converged = [&] {
        const int published = published_count();
        EXPECT_EQ(published, 1);
        const bool destroyed = environment_status(conn, "pr-1") == "destroyed";
        EXPECT_TRUE(destroyed) << environment_status(conn, "pr-1");
        const std::string seen = fingerprint(conn, setup.production_schemas);
        const bool same = after.empty() || seen == after;
        EXPECT_TRUE(same) << seen << "\nis not production after the reference publish:\n" << after;
        const auto comments = ece.github().comments(1).size();
        EXPECT_EQ(comments, 1u);
        const bool deployments = ece.active_deployments() == 0;
        EXPECT_TRUE(deployments) << ece.active_deployments() << " live deployments after the merge";
        auto left = setup.left_behind();
        EXPECT_THAT(left, IsEmpty());
        return published == 1 && destroyed && same && comments == 1 && deployments && left.empty();
    };
    // Back to production as it was: the publish rolled back, production's own manifest the newest state again.
    auto roll_back = [&](int cycle) {
        const std::string manifest = (dir / "production/target/manifest.json").string();
        for (const auto& argv : std::vector<std::vector<std::string>>{
                 {ece_publish_binary, "--config", setup.config, "--rollback"},
                 {ece_dbt_binary, "store-manifest", "--manifest", manifest, "--sha", "prod" + std::to_string(cycle)}}) {
            auto r = run(argv, setup.env, dir);
            ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        }
        ASSERT_EQ(fingerprint(conn, setup.production_schemas), before);
    };
    auto merge_sha = [](int cycle) { return std::string(39, 'm') + std::to_string(cycle); };

    // The uninterrupted reference: durations, what the environment holds, production after.
    const auto opened = ece.run_event(false, "", std::nullopt);
    ASSERT_EQ(opened.exit_code, 0) << opened.out << opened.err;
    ASSERT_TRUE(opened_converged());
    built_print = fingerprint(conn, {base, base + "_raw"});
    ASSERT_THAT(built_print, testing::HasSubstr("distinct_patients"));
    const auto merged = ece.run_event(true, merge_sha(0), std::nullopt);
    ASSERT_EQ(merged.exit_code, 0) << merged.out << merged.err;
    ASSERT_TRUE(merged_converged());
    after = fingerprint(conn, setup.production_schemas);
    ASSERT_NE(after, before);
    roll_back(0);

    std::mt19937 random(fault_seed() + 4);
    KillTally opened_tally, merged_tally;
    for (int cycle = 1; cycle <= 3; ++cycle) {
        {
            const auto offset = kill_offset(random, opened.seconds);
            SCOPED_TRACE("opened, cycle " + std::to_string(cycle) + ", killed at " + std::to_string(offset.count()) + "us");
            opened_tally.count(ece.run_event(false, "", offset));
            EXPECT_EQ(fingerprint(conn, setup.production_schemas), before);
            wait_for_other_sessions_to_end(conn);
            auto rerun = ece.run_event(false, "", std::nullopt);
            EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
            if (opened_converged() && rerun.exit_code == 0) ++opened_tally.converged;
        }
        {
            const auto offset = kill_offset(random, merged.seconds);
            SCOPED_TRACE("merged, cycle " + std::to_string(cycle) + ", killed at " + std::to_string(offset.count()) + "us");
            merged_tally.count(ece.run_event(true, merge_sha(cycle), offset));
            const std::string seen = fingerprint(conn, setup.production_schemas);
            EXPECT_TRUE(seen == before || seen == after) << seen;
            wait_for_other_sessions_to_end(conn);
            auto rerun = ece.run_event(true, merge_sha(cycle), std::nullopt);
            EXPECT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
            if (merged_converged() && rerun.exit_code == 0) ++merged_tally.converged;
        }
        roll_back(cycle);
    }
    EXPECT_THAT(test::find_secrets(ece.printed(), {setup.url, ece.github().token()}), IsEmpty());
    for (const auto& comment : ece.github().comments(1))
        EXPECT_THAT(test::find_secrets(comment.body, {setup.url, ece.github().token()}), IsEmpty());
    expect_every_point_converged({{"ece (pull_request opened)", opened_tally}, {"ece (pull_request merged)", merged_tally}},
                                 started);
}

}  // namespace
}  // namespace ece::reliability
